"""Many threads post the same signed events at a multi-worker gunicorn on PostgreSQL."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from tests import stripe_events as se
from tests.conftest import WEBHOOK_SECRET
from tests.factories import make_campaign
from tracker.extensions import db as sa_db
from tracker.models import Donation, Period, StripeEvent

ROOT = Path(__file__).resolve().parent.parent
NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def server(database_url, db, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrency across processes is tested on PostgreSQL (TEST_DATABASE_URL)")
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        SECRET_KEY="concurrency-test",
        STRIPE_SECRET_KEY="sk_test_123",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        TRACKER_ENV="test",
        TRACKER_INSTANCE_PATH=str(tmp_path),
    )
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [
            str(gunicorn),
            "-w",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--graceful-timeout",
            "2",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None:
                pytest.fail("gunicorn exited: " + proc.stderr.read().decode()[-2000:])
            time.sleep(0.05)
        else:
            pytest.fail("gunicorn did not answer /healthz")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
