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
