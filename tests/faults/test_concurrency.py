"""Many threads post distinct and repeated events at a multi-worker server while the
rollover runs: no 5xx, every payment counted once in its own month, verify finds nothing."""

from __future__ import annotations

import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests import stripe_events as se
from tests.factories import make_campaign
from tests.faults.test_crashes import post
from tests.servers import ROOT, Gunicorn, server_env
from tracker import services
from tracker.extensions import db as sa_db
from tracker.models import Period

pytestmark = pytest.mark.slow

OCT_30 = datetime(2026, 10, 30, 12, tzinfo=UTC)
NOV_02 = datetime(2026, 11, 2, 12, tzinfo=UTC)


def test_events_and_rollover_at_once(database_url, db, tmp_path) -> None:
    make_campaign("southfront")
    rng = random.Random(11)
    events: list[dict] = []
    expected = {10: 0, 11: 0}
    for i in range(80):
        month_at = OCT_30 if i % 2 else NOV_02
        amount = rng.randrange(100, 20_000)
        pi = f"pi_conc_{i}"
        kind = rng.choice(["checkout", "intent", "both"])
        if kind in ("checkout", "both"):
            session = se.checkout_session(
                session_id=f"cs_conc_{i}", payment_intent=pi, amount=amount, created=month_at
            )
            events.append(se.event("checkout.session.completed", session, event_id=f"evt_c{i}"))
        if kind in ("intent", "both"):
            intent = se.payment_intent(intent_id=pi, amount=amount, created=month_at)
            events.append(se.event("payment_intent.succeeded", intent, event_id=f"evt_p{i}"))
        refunded = rng.choice([0, 0, amount // 2])
        if refunded:  # a late refund of an October payment lowers October
            charge = se.charge(
                charge_id=f"ch_conc_{i}", payment_intent=pi, amount=amount,
                amount_refunded=refunded, created=NOV_02,
            )  # fmt: skip
            events.append(se.event("charge.refunded", charge, event_id=f"evt_r{i}"))
        expected[month_at.month] += amount - refunded
    deliveries = events + rng.sample(events, len(events) // 2)  # half again: repeats
    rng.shuffle(deliveries)

    env = server_env(database_url, tmp_path)
    rollover = [
        str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "tracker", "rollover",
        "--now", "2026-11-02T00:00:00+00:00",
    ]  # fmt: skip
    server = Gunicorn(env, workers=3)
    try:
        server.start()
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(post, server.base, evt) for evt in deliveries]
            jobs = [
                subprocess.run(rollover, cwd=ROOT, env=env, capture_output=True, text=True)
                for _ in range(2)
            ]
            answers = [f.result() for f in futures]
        # Once more after the burst: a month that a late payment opened gets closed too.
        jobs.append(subprocess.run(rollover, cwd=ROOT, env=env, capture_output=True, text=True))
    finally:
        server.close()
    assert all(job.returncode == 0 for job in jobs), [job.stderr for job in jobs]
    assert answers.count(200) == len(deliveries), sorted(set(map(str, answers)))

    sa_db.session.expire_all()
    rows = {p.month: p for p in sa_db.session.execute(select(Period)).scalars()}
    assert rows[10].raised_minor == expected[10]
    assert rows[11].raised_minor == expected[11]
    assert rows[10].closed and not rows[11].closed
    assert services.verify() == []
