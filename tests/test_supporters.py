"""Monthly supporters (SPEC.md): subscriptions kept as Stripe reports them, end to end.

Every event goes through the webhook (signed), the one path an event takes. The clock is
frozen on 24 November 2026, 12:00 UTC: a renewal on the 28th is still due this month, one
on 2 December is not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests import stripe_events as se
from tests.factories import make_campaign, make_donation
from tracker import services, supporters
from tracker.extensions import db as sa_db
from tracker.models import StripeEvent, Subscription

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
STARTED = datetime(2026, 10, 28, 9, tzinfo=UTC)
NOV_28 = datetime(2026, 11, 28, 9, tzinfo=UTC)
DEC_2 = datetime(2026, 12, 2, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture()
def southfront(db):
    return make_campaign("southfront")


_ids = iter(range(10**6))


def send(client, kind: str, obj: dict, created: datetime = STARTED, **kw) -> dict:
    evt = se.event(kind, obj, event_id=f"evt_s{next(_ids)}", created=created, **kw)
    response = se.deliver(client, evt)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def sub(subscription_id: str = "sub_1", amount: int = 1500, **kw) -> dict:
    values = {"created": STARTED, "period_end": NOV_28}
    values.update(kw)
    return se.subscription(subscription_id=subscription_id, amount=amount, **values)


def progress(client) -> dict:
    return client.get("/api/v1/campaigns/southfront/progress").get_json()


def row(subscription_id: str = "sub_1") -> Subscription:
    sa_db.session.expire_all()
    found = sa_db.session.scalar(
        select(Subscription).where(Subscription.subscription_id == subscription_id)
    )
    assert found is not None
    return found


# --- counted, pledged, due, expected ------------------------------------------


def test_an_active_subscription_is_a_supporter_with_its_pledge_due_this_month(
    client, southfront
) -> None:
    make_donation(southfront, 40000)
    assert send(client, "customer.subscription.created", sub())["outcome"] == (
        "subscription_active"
    )
    body = progress(client)
    assert body["monthly"] == {
        "supporters": 1,
        "pledged": {"amount_minor": 1500, "display": "15 $"},
        "due": {"amount_minor": 1500, "display": "15 $"},
    }
    assert body["expected"] == {"amount_minor": 41500, "display": "415 $"}
    assert body["raised"]["amount_minor"] == 40000  # a pledge is not money received


def test_quantity_and_interval_make_the_monthly_amount(client, southfront) -> None:
    send(client, "customer.subscription.created", sub("sub_q", 500, quantity=3))
    send(client, "customer.subscription.created", sub("sub_y", 12000, interval="year"))
    send(
        client,
        "customer.subscription.created",
        sub("sub_3m", 3000, interval="month", interval_count=3),
    )
    assert progress(client)["monthly"]["pledged"]["amount_minor"] == 1500 + 1000 + 1000


@pytest.mark.parametrize("shape", ["items", "top"])
def test_the_period_end_is_read_where_each_api_version_puts_it(client, southfront, shape) -> None:
    send(client, "customer.subscription.created", sub(shape=shape))
    assert row().current_period_end == NOV_28
    assert progress(client)["monthly"]["due"]["amount_minor"] == 1500


def test_a_renewal_after_the_month_or_already_past_is_not_due(client, southfront) -> None:
    send(client, "customer.subscription.created", sub("sub_next", 1000, period_end=DEC_2))
    send(
        client,
        "customer.subscription.created",
        sub("sub_past", 2000, period_end=NOW - timedelta(hours=1)),
    )
    send(client, "customer.subscription.created", sub("sub_due", 4000, period_end=NOV_28))
    monthly = progress(client)["monthly"]
    assert monthly["supporters"] == 3
    assert monthly["pledged"]["amount_minor"] == 7000
    assert monthly["due"]["amount_minor"] == 4000


def test_cancelling_at_the_period_end_keeps_a_supporter_but_nothing_due(client, southfront) -> None:
    send(client, "customer.subscription.created", sub())
    send(
        client,
        "customer.subscription.updated",
        sub(cancel_at_period_end=True),
        created=STARTED + timedelta(days=20),
    )
    monthly = progress(client)["monthly"]
    assert (monthly["supporters"], monthly["due"]["amount_minor"]) == (1, 0)


def test_a_deleted_subscription_leaves_with_its_reason_and_what_it_gave_stays(
    client, southfront
) -> None:
    send(client, "customer.subscription.created", sub())
    inv = se.invoice(invoice_id="in_1", amount_paid=1500, created=NOW - timedelta(days=20))
    inv["parent"]["subscription_details"]["subscription"] = "sub_1"
    send(client, "invoice.paid", inv, created=NOW - timedelta(days=20))
    raised = progress(client)["raised"]["amount_minor"]
    gone = sub(status="canceled", canceled_at=NOW - timedelta(hours=2))
    gone["cancellation_details"]["reason"] = "payment_failed"
    send(client, "customer.subscription.deleted", gone, created=NOW - timedelta(hours=2))
    body = progress(client)
    assert body["monthly"]["supporters"] == 0
    assert body["raised"]["amount_minor"] == raised == 1500
    assert row().cancellation_reason == "payment_failed"
    period = services.period_for(southfront, NOW)
    cancelled = supporters.cancelled_between(southfront, period.starts_at, period.ends_at)
    assert [s.subscription_id for s in cancelled] == ["sub_1"]


@pytest.mark.parametrize("status", ["past_due", "active"])
def test_past_due_still_counts_and_other_statuses_do_not(client, southfront, status) -> None:
    send(client, "customer.subscription.created", sub(status=status))
    assert progress(client)["monthly"]["supporters"] == 1


@pytest.mark.parametrize("status", ["incomplete", "incomplete_expired", "unpaid", "paused"])
def test_statuses_that_are_not_supporting(client, southfront, status) -> None:
    send(client, "customer.subscription.created", sub(status=status))
    assert progress(client)["monthly"]["supporters"] == 0


# --- order and repeats -----------------------------------------------------------


def test_an_older_state_never_replaces_a_newer_one(client, southfront) -> None:
    later = STARTED + timedelta(days=10)
    send(client, "customer.subscription.updated", sub(amount=3000), created=later)
    outcome = send(client, "customer.subscription.created", sub(amount=1500), created=STARTED)
    assert outcome["outcome"] == "subscription_older_state"
    assert row().monthly_minor == 3000


def test_within_one_second_deleted_wins_over_updated(client, southfront) -> None:
    at = STARTED + timedelta(days=1)
    send(
        client, "customer.subscription.deleted", sub(status="canceled", canceled_at=at), created=at
    )
    send(client, "customer.subscription.updated", sub(status="active"), created=at)
    assert row().status == "canceled"


def test_a_repeat_changes_nothing(client, southfront) -> None:
    evt = se.event("customer.subscription.created", sub(), event_id="evt_once", created=STARTED)
    assert se.deliver(client, evt).get_json()["duplicate"] is False
    assert se.deliver(client, evt).get_json()["duplicate"] is True
    assert progress(client)["monthly"]["supporters"] == 1


STATUSES = ["active", "past_due", "canceled", "active", "past_due"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_order_and_repeats_end_in_the_newest_state(client, db, data) -> None:
    if services.get_campaign("southfront") is None:
        make_campaign("southfront")
    for model in (Subscription, StripeEvent):
        sa_db.session.execute(model.__table__.delete())
    sa_db.session.commit()
    n = data.draw(st.integers(min_value=1, max_value=6), label="states")
    events = []
    for k in range(n):
        status = data.draw(st.sampled_from(STATUSES), label=f"status {k}")
        amount = data.draw(st.integers(min_value=100, max_value=10_000), label=f"amount {k}")
        # Some events share a second: the type, then the id, orders them.
        created = STARTED + timedelta(seconds=data.draw(st.integers(0, 3), label=f"t {k}"))
        kind = data.draw(st.sampled_from(["created", "updated", "deleted"]), label=f"kind {k}")
        obj = sub(amount=amount, status=status)
        events.append(
            se.event(f"customer.subscription.{kind}", obj, event_id=f"evt_p{k}", created=created)
        )
    failures = data.draw(st.integers(0, 2), label="failures")
    for k in range(failures):
        inv = se.failed_invoice(
            invoice_id=f"in_f{k}", subscription_id="sub_1", amount_due=1500, created=STARTED
        )
        at = STARTED + timedelta(days=k + 1)
        events.append(se.event("invoice.payment_failed", inv, event_id=f"evt_f{k}", created=at))

    def newest() -> tuple:
        def order(evt: dict) -> tuple:
            rank = {"created": 0, "updated": 1, "deleted": 2}[evt["type"].rsplit(".", 1)[1]]
            return (evt["created"], rank, evt["id"])

        states = [e for e in events if e["type"].startswith("customer.subscription.")]
        top = max(states, key=order)["data"]["object"]
        fails = [e["created"] for e in events if e["type"] == "invoice.payment_failed"]
        return (
            top["status"],
            top["items"]["data"][0]["price"]["unit_amount"],
            max(fails, default=None),
        )

    repeats = data.draw(st.lists(st.sampled_from(events), max_size=len(events)), label="repeats")
    for evt in data.draw(st.permutations(events + repeats), label="order"):
        response = se.deliver(client, evt)
        assert response.status_code == 200, response.get_data(as_text=True)
    kept = row()
    failed = int(kept.failed_at.timestamp()) if kept.failed_at else None
    assert (kept.status, kept.monthly_minor, failed) == newest()


# --- review -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"currency": "eur"}, "currency"),
        ({"campaign": "nope"}, "unassigned"),
        ({"campaign": None}, "unassigned"),
    ],
)
def test_a_subscription_not_ours_to_count_is_kept_for_review(
    client, southfront, changes, reason
) -> None:
    outcome = send(client, "customer.subscription.created", sub(**changes))["outcome"]
    assert outcome == f"subscription_review_{reason}"
    assert progress(client)["monthly"]["supporters"] == 0
    assert [s.review_reason for s in supporters.kept_for_review()] == [reason]


def test_the_other_mode_is_kept_for_review(client, southfront) -> None:
    outcome = send(client, "customer.subscription.created", sub(), livemode=True)["outcome"]
    assert outcome == "subscription_review_livemode"
    assert progress(client)["monthly"]["supporters"] == 0


def test_a_later_event_naming_the_campaign_counts_it(client, southfront) -> None:
    send(client, "customer.subscription.created", sub(campaign=None))
    send(
        client,
        "customer.subscription.updated",
        sub(),
        created=STARTED + timedelta(minutes=1),
    )
    assert progress(client)["monthly"]["supporters"] == 1
    assert supporters.kept_for_review() == []


# --- failed renewals -------------------------------------------------------------


def test_a_failed_renewal_before_its_subscription_is_kept_and_marked(client, southfront) -> None:
    inv = se.failed_invoice(
        invoice_id="in_f", subscription_id="sub_1", amount_due=1500, created=NOW
    )
    failed_at = NOW - timedelta(hours=3)
    assert send(client, "invoice.payment_failed", inv, created=failed_at)["outcome"] == (
        "renewal_failed"
    )
    assert row().status is None and progress(client)["monthly"]["supporters"] == 0
    send(client, "customer.subscription.updated", sub(status="past_due"), created=failed_at)
    kept = row()
    assert (kept.status, kept.failed_at, kept.failed_minor) == ("past_due", failed_at, 1500)
    assert progress(client)["monthly"]["supporters"] == 1
    period = services.period_for(southfront, NOW)
    failed = supporters.failed_between(southfront, period.starts_at, period.ends_at)
    assert [s.failed_invoice_id for s in failed] == ["in_f"]


def test_an_older_failure_never_replaces_a_newer_one(client, southfront) -> None:
    send(client, "customer.subscription.created", sub())
    for invoice_id, at in (("in_new", NOW), ("in_old", NOW - timedelta(days=3))):
        inv = se.failed_invoice(
            invoice_id=invoice_id, subscription_id="sub_1", amount_due=1500, created=at
        )
        send(client, "invoice.payment_failed", inv, created=at)
    assert row().failed_invoice_id == "in_new"


def test_a_failed_one_off_invoice_is_ignored(client, southfront) -> None:
    inv = se.failed_invoice(
        invoice_id="in_x", subscription_id="sub_1", amount_due=1500, created=NOW
    )
    del inv["parent"]
    assert send(client, "invoice.payment_failed", inv)["outcome"] == "ignored_no_subscription"


# --- what can never apply --------------------------------------------------------


@pytest.mark.parametrize(
    ("break_it", "reason"),
    [
        (lambda o: o["items"]["data"][0]["price"].update(unit_amount=12.5), "not an amount"),
        (lambda o: o["items"]["data"][0].update(quantity=-1), "not a count"),
        (lambda o: o["items"]["data"][0].update(quantity=10**13), "not a count"),
        (lambda o: o["items"]["data"][0]["price"].update(unit_amount=10**13), "past 10^12"),
        (
            lambda o: o["items"]["data"][0]["price"]["recurring"].update(interval="fortnight"),
            "interval",
        ),
        (lambda o: o.update(status=None), "status"),
        (lambda o: o["items"]["data"][0].update(current_period_end=10**20), "out of range"),
    ],
)
def test_a_subscription_that_can_never_apply_is_rejected(
    client, southfront, break_it, reason
) -> None:
    obj = sub()
    break_it(obj)
    assert send(client, "customer.subscription.created", obj)["outcome"] == "rejected"
    stored = sa_db.session.scalar(select(StripeEvent).where(StripeEvent.outcome == "rejected"))
    assert stored is not None and reason in (stored.reason or "")
    assert progress(client)["monthly"]["supporters"] == 0
