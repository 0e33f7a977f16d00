"""Many threads post the same signed events at a multi-worker gunicorn on PostgreSQL."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from tests import servers
from tests import stripe_events as se
from tests.factories import make_campaign
from tracker.extensions import db as sa_db
from tracker.models import Donation, Period, StripeEvent

ROOT = Path(__file__).resolve().parent.parent
NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture()
def server(database_url, db, tmp_path):
    """Four gunicorn workers on the test database (PostgreSQL only)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrency across processes is tested on PostgreSQL (TEST_DATABASE_URL)")
    with servers.gunicorn(servers.server_env(database_url, tmp_path), workers=4) as running:
        yield running.base


def test_concurrent_repeats_count_each_payment_once(server, db) -> None:
    make_campaign("southfront")
    events = []
    for n in range(12):
        pi = f"pi_c{n}"
        amount = 1000 + n
        cs = se.checkout_session(
            session_id=f"cs_c{n}", payment_intent=pi, amount=amount, created=NOV_10
        )
        events.append(se.event("checkout.session.completed", cs, event_id=f"evt_cs_{n}"))
        intent = se.payment_intent(intent_id=pi, amount=amount, created=NOV_10)
        events.append(se.event("payment_intent.succeeded", intent, event_id=f"evt_pi_{n}"))
        if n % 3 == 0:
            ch = se.charge(
                charge_id=f"ch_c{n}",
                payment_intent=pi,
                amount=amount,
                amount_refunded=500,
                created=NOV_10,
            )
            events.append(se.event("charge.refunded", ch, event_id=f"evt_rf_{n}"))
    deliveries = [se.body(evt) for evt in events] * 6
    random.Random(5).shuffle(deliveries)

    def post(payload: bytes) -> int:
        response = requests.post(
            f"{server}/webhooks/stripe",
            data=payload,
            headers={"Stripe-Signature": se.sign(payload), "Content-Type": "application/json"},
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=24) as pool:
        statuses = list(pool.map(post, deliveries))

    assert all(200 <= status < 300 for status in statuses), sorted(set(statuses))
    sa_db.session.expire_all()
    assert sa_db.session.execute(select(func.count(Donation.id))).scalar_one() == 12
    stored = sa_db.session.execute(select(StripeEvent)).scalars().all()
    assert len(stored) == len(events)
    assert all(row.applied_at is not None for row in stored)
    period = sa_db.session.execute(select(Period)).scalar_one()
    expected = sum(1000 + n for n in range(12)) - 500 * len([n for n in range(12) if n % 3 == 0])
    assert (period.raised_minor, period.donations) == (expected, 12)


def test_sync_while_the_same_events_arrive_by_webhook(server, db, stripe_api, tmp_path) -> None:
    """`tracker sync-stripe` in its own process receives what gunicorn's four workers are
    receiving by webhook at the same moment: each payment counts once."""
    import os
    import subprocess
    import sys

    make_campaign("southfront")
    at = datetime.now(UTC).replace(microsecond=0)
    events = []
    for n in range(40):
        intent = se.payment_intent(intent_id=f"pi_s{n}", amount=1000 + n, created=at)
        events.append(se.event("payment_intent.succeeded", intent, event_id=f"evt_s{n}"))
    stripe_api.lists["/v1/events"].extend(events)
    env = servers.server_env(
        sa_db.engine.url.render_as_string(hide_password=False),
        tmp_path,
        STRIPE_API_BASE=stripe_api.url,
        FLASK_SKIP_DOTENV="1",
    )
    sync = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "tracker", "sync-stripe"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT), "PATH": os.environ["PATH"]},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def post(payload: bytes) -> int:
        response = requests.post(
            f"{server}/webhooks/stripe",
            data=payload,
            headers={"Stripe-Signature": se.sign(payload), "Content-Type": "application/json"},
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(post, [se.body(evt) for evt in events]))
    out, err = sync.communicate(timeout=120)
    assert sync.returncode == 0, err
    assert out.startswith("fetched 40, new ")
    assert set(statuses) == {200}
    sa_db.session.expire_all()
    assert sa_db.session.execute(select(func.count(Donation.id))).scalar_one() == 40
    period = sa_db.session.execute(select(Period)).scalar_one()
    assert (period.raised_minor, period.donations) == (sum(1000 + n for n in range(40)), 40)
    assert sa_db.session.scalar(select(func.count(StripeEvent.id))) == 40


def test_concurrent_deliveries_of_the_crossing_event_make_one_notification(server, db) -> None:
    """Ten deliveries at once of the payment that passes 2,500 $, beside ten other payments,
    on four gunicorn workers: one `milestone_reached` for 2,500 $."""
    from tests.factories import make_donation
    from tracker.models import Notification

    campaign = make_campaign("southfront")
    make_donation(campaign, 240000, NOV_10)
    crossing = se.payment_intent(intent_id="pi_cross", amount=20000, created=NOV_10)
    others = [
        se.payment_intent(intent_id=f"pi_o{n}", amount=100, created=NOV_10) for n in range(10)
    ]
    deliveries = [se.body(se.event("payment_intent.succeeded", crossing, event_id="evt_cross"))]
    deliveries *= 10
    deliveries += [
        se.body(se.event("payment_intent.succeeded", obj, event_id=f"evt_o{n}"))
        for n, obj in enumerate(others)
    ]
    random.Random(7).shuffle(deliveries)

    def post(payload: bytes) -> int:
        return requests.post(
            f"{server}/webhooks/stripe",
            data=payload,
            headers={"Stripe-Signature": se.sign(payload), "Content-Type": "application/json"},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(post, deliveries))
    assert set(statuses) == {200}
    sa_db.session.expire_all()
    notes = sa_db.session.scalars(select(Notification)).all()
    assert [(n.kind, n.data["milestone"]) for n in notes] == [("milestone_reached", 250000)]
    period = sa_db.session.execute(select(Period)).scalar_one()
    assert period.raised_minor == 240000 + 20000 + 10 * 100
