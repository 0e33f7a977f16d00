"""`tracker sync-stripe`: events the webhook missed, received from Stripe's events API.

Stripe's API is the stand-in of tests/stripe_api.py, serving /v1/events as Stripe pages it
(newest first, `limit`, `starting_after`, `has_more`), and 429s or 500s when told to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from tests import stripe_events as se
from tests.factories import make_campaign
from tracker import payments, sync
from tracker.extensions import db as sa_db
from tracker.models import Donation, Period, StripeEvent
from tracker.observability import EVENTS_MISSED

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture()
def southfront(db):
    return make_campaign("southfront")


def paid(n: int, at: datetime, amount: int = 1000) -> dict:
    """A payment_intent.succeeded event as /v1/events lists it."""
    intent = se.payment_intent(intent_id=f"pi_sync{n}", amount=amount, created=at)
    return se.event("payment_intent.succeeded", intent, event_id=f"evt_sync{n}", created=at)


def listed(stripe_api, *events: dict) -> None:
    stripe_api.lists["/v1/events"].extend(events)


def totals() -> tuple[int, int]:
    sa_db.session.expire_all()
    period = sa_db.session.scalar(select(Period).where(Period.year == 2026, Period.month == 11))
    return (period.raised_minor, period.donations) if period else (0, 0)


def test_missed_events_over_several_pages_are_counted_once(southfront, stripe_api) -> None:
    listed(stripe_api, *(paid(n, NOW - timedelta(minutes=10 * (n + 1))) for n in range(250)))
    before = EVENTS_MISSED._value.get()
    result = sync.sync_stripe()
    assert (result.fetched, result.new, result.applied) == (250, 250, 250)
    assert totals() == (250 * 1000, 250)
    pages = stripe_api.calls_to("GET", "/v1/events")
    assert len(pages) == 3  # 100 a page
    assert dict(pages[0].query)["limit"] == "100"
    assert "starting_after" in dict(pages[1].query)
    types = {v for k, v in pages[0].query if k.startswith("types[")}
    assert types == set(payments.HANDLED)
    assert int(dict(pages[0].query)["created[gte]"]) == int((NOW - timedelta(days=3)).timestamp())
    assert EVENTS_MISSED._value.get() - before == 250
    sources = set(sa_db.session.scalars(select(StripeEvent.source)))
    assert sources == {"api"}


def test_a_second_run_changes_nothing(southfront, stripe_api) -> None:
    listed(stripe_api, *(paid(n, NOW - timedelta(minutes=10 * (n + 1))) for n in range(30)))
    sync.sync_stripe()
    first = totals()
    again = sync.sync_stripe()
    assert (again.fetched, again.new, again.applied) == (30, 0, 0)
    assert totals() == first
    assert sa_db.session.scalar(select(func.count(Donation.id))) == 30


def test_events_the_webhook_delivered_are_not_counted_again(client, southfront, stripe_api):
    events = [paid(n, NOW - timedelta(minutes=10 * (n + 1))) for n in range(5)]
    for evt in events[:3]:
        assert se.deliver(client, evt).status_code == 200
    listed(stripe_api, *events)
    result = sync.sync_stripe()
    assert (result.fetched, result.new, result.applied, result.missed) == (5, 2, 2, 2)
    assert totals() == (5000, 5)


def test_a_recent_event_is_received_but_not_called_missed(southfront, stripe_api) -> None:
    listed(stripe_api, paid(1, NOW - timedelta(minutes=1)))
    result = sync.sync_stripe()
    assert (result.new, result.missed) == (1, 0)


def test_429_and_500_are_retried_then_it_goes_on(southfront, stripe_api) -> None:
    listed(stripe_api, *(paid(n, NOW - timedelta(minutes=10 * (n + 1))) for n in range(120)))
    stripe_api.fail("GET", "/v1/events", 429, 500, 429)
    result = sync.sync_stripe()
    assert result.new == 120
    assert totals() == (120_000, 120)


def test_stripe_failing_for_good_is_one_error_and_nothing_half_done(southfront, stripe_api):
    listed(stripe_api, paid(1, NOW - timedelta(hours=1)))
    stripe_api.fail("GET", "/v1/events", *([500] * 10))
    with pytest.raises(payments.PaymentError, match="Stripe answered 500"):
        sync.sync_stripe()
    assert totals() == (0, 0)


def test_since_is_checked(southfront, stripe_api) -> None:
    with pytest.raises(sync.SyncError, match="at most 30 days ago"):
        sync.sync_stripe(NOW - timedelta(days=31))
    with pytest.raises(sync.SyncError, match="future"):
        sync.sync_stripe(NOW + timedelta(hours=1))
    assert stripe_api.calls == []
    listed(stripe_api, paid(1, NOW - timedelta(days=10)), paid(2, NOW - timedelta(days=1)))
    assert sync.sync_stripe(NOW - timedelta(days=20)).new == 2


def test_any_order_ends_in_the_same_totals(southfront, stripe_api) -> None:
    intent = se.payment_intent(intent_id="pi_r", amount=3000, created=NOW - timedelta(days=2))
    charge = se.charge(
        charge_id="ch_r",
        payment_intent="pi_r",
        amount=3000,
        amount_refunded=1000,
        created=NOW - timedelta(days=2),
    )
    # The refund is listed first (Stripe lists newest first): it waits for its payment.
    listed(
        stripe_api,
        se.event("charge.refunded", charge, event_id="evt_rf", created=NOW - timedelta(days=1)),
        se.event(
            "payment_intent.succeeded", intent, event_id="evt_pr", created=NOW - timedelta(days=2)
        ),
    )
    sync.sync_stripe()
    assert totals() == (2000, 1)


def test_cli_prints_one_line_and_fails_in_one_line(runner, southfront, stripe_api) -> None:
    listed(stripe_api, paid(1, NOW - timedelta(hours=1)))
    result = runner.invoke(args=["tracker", "sync-stripe"])
    assert result.exit_code == 0, result.output
    assert result.output == "fetched 1, new 1, applied 1\n"
    stripe_api.fail("GET", "/v1/events", *([500] * 10))
    result = runner.invoke(args=["tracker", "sync-stripe", "--since", "2026-11-20T00:00"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: Stripe: Stripe answered 500 to /v1/events"
    ]
    result = runner.invoke(args=["tracker", "sync-stripe", "--since", "2026-10-01"])
    assert result.exit_code == 1
    assert "at most 30 days ago" in result.output and "Traceback" not in result.output
