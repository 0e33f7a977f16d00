"""POST /webhooks/stripe: signatures, storing once, and every counting rule of SPEC "Stripe"."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from tests import stripe_events as se
from tests.factories import make_campaign
from tracker import inbox, ledger
from tracker.extensions import db as sa_db
from tracker.models import Donation, PaymentAdjustment, Period, ReviewPayment, StripeEvent

NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
OCT_31_LATE = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)


def totals() -> dict[tuple[str, int, int], tuple[int, int]]:
    """(campaign slug, year, month) -> (raised_minor, donations), for periods with anything."""
    sa_db.session.expire_all()
    out = {}
    for period in sa_db.session.execute(select(Period)).scalars():
        if period.raised_minor or period.donations:
            out[(period.campaign.slug, period.year, period.month)] = (
                period.raised_minor,
                period.donations,
            )
    return out


def count(model: type) -> int:
    return sa_db.session.execute(select(func.count()).select_from(model)).scalar_one()


def paid_checkout(n: int, amount: int = 2500, created: datetime = NOV_10, **kw) -> dict:
    obj = se.checkout_session(
        session_id=f"cs_test_{n}",
        payment_intent=f"pi_{n}",
        amount=amount,
        created=created,
        **kw,
    )
    return se.event("checkout.session.completed", obj, event_id=f"evt_cs_{n}")


def pi_succeeded(n: int, amount: int = 2500, created: datetime = NOV_10, **kw) -> dict:
    obj = se.payment_intent(intent_id=f"pi_{n}", amount=amount, created=created, **kw)
    return se.event("payment_intent.succeeded", obj, event_id=f"evt_pi_{n}")


def refunded(n: int, amount: int, refunded_so_far: int, at: datetime, **kw) -> dict:
    obj = se.charge(
        charge_id=f"ch_{n}",
        payment_intent=kw.pop("payment_intent", f"pi_{n}"),
        amount=amount,
        amount_refunded=refunded_so_far,
        created=NOV_10,
        **kw,
    )
    return se.event("charge.refunded", obj, event_id=f"evt_rf_{n}_{refunded_so_far}", created=at)


def dispute_closed(n: int, amount: int, status: str, at: datetime) -> dict:
    obj = se.dispute(
        dispute_id=f"dp_{n}",
        charge_id=f"ch_{n}",
        payment_intent=f"pi_{n}",
        amount=amount,
        status=status,
        created=NOV_10,
    )
    return se.event("charge.dispute.closed", obj, event_id=f"evt_dp_{n}_{status}", created=at)


@pytest.fixture()
def campaign(db):
    return make_campaign("southfront")


def test_a_delivery_keeps_its_request_id_and_counts_the_request(client, campaign) -> None:
    from tracker.observability import REQUESTS

    before = REQUESTS.labels("/webhooks/stripe", "200")._value.get()
    payload = se.body(paid_checkout(1))
    response = client.post(
        "/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": se.sign(payload), "X-Request-ID": "abc-123"},
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "abc-123"
    assert REQUESTS.labels("/webhooks/stripe", "200")._value.get() == before + 1


def test_a_database_failure_is_503_with_retry_after(client, campaign, monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    def away(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(inbox, "receive", away)
    response = se.deliver(client, paid_checkout(1))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert b"connection refused" not in response.data
    assert response.get_json()["error"] == "unavailable"


# --- signatures and bodies -----------------------------------------------------


def test_good_signature_is_accepted_and_stored(client, campaign) -> None:
    evt = paid_checkout(1)
    response = se.deliver(client, evt)
    assert response.status_code == 200
    assert response.get_json() == {
        "received": True,
        "id": "evt_cs_1",
        "duplicate": False,
        "outcome": "counted",
    }
    stored = sa_db.session.get(StripeEvent, "evt_cs_1")
    assert stored.type == "checkout.session.completed"
    assert stored.applied_at is not None
    assert json.loads(stored.payload) == evt
    assert totals() == {("southfront", 2026, 11): (2500, 1)}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing Stripe-Signature"),
        ("t=1,v1=abc", "does not match"),
        ("garbage", "malformed"),
        ("t=notanumber,v1=abc", "malformed"),
    ],
)
def test_bad_signature_is_400_and_stores_nothing(client, campaign, header, message) -> None:
    payload = se.body(paid_checkout(1))
    headers = {"Stripe-Signature": header} if header else {}
    response = client.post("/webhooks/stripe", data=payload, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert message in response.get_json()["message"]
    assert count(StripeEvent) == 0
    assert totals() == {}


def test_signature_with_another_secret_is_refused(client, campaign) -> None:
    payload = se.body(paid_checkout(1))
    response = client.post(
        "/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": se.sign(payload, secret="whsec_other")},
    )
    assert response.status_code == 400
    assert count(StripeEvent) == 0


def test_tampered_body_is_refused(client, campaign) -> None:
    payload = se.body(paid_checkout(1))
    header = se.sign(payload)
    tampered = payload.replace(b"2500", b"9500")
    response = client.post("/webhooks/stripe", data=tampered, headers={"Stripe-Signature": header})
    assert response.status_code == 400
    assert totals() == {}


def test_stale_signature_is_refused(client, campaign) -> None:
    import time

    payload = se.body(paid_checkout(1))
    old = int(time.time()) - 301
    response = client.post(
        "/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": se.sign(payload, timestamp=old)},
    )
    assert response.status_code == 400
    assert "tolerance" in response.get_json()["message"]
    within = int(time.time()) - 290
    response = client.post(
        "/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": se.sign(payload, timestamp=within)},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"id": 5}', "'id'"),
        (b'{"id": "evt_1"}', "'type'"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_malformed_body_is_400(client, campaign, payload, message) -> None:
    response = client.post(
        "/webhooks/stripe", data=payload, headers={"Stripe-Signature": se.sign(payload)}
    )
    assert response.status_code == 400
    assert message in response.get_json()["message"]
    assert count(StripeEvent) == 0


def test_body_over_one_mebibyte_is_413(client, campaign) -> None:
    payload = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = client.post(
        "/webhooks/stripe", data=payload, headers={"Stripe-Signature": se.sign(payload)}
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"


def test_webhook_needs_no_csrf_token_but_get_is_405(client, campaign) -> None:
    assert se.deliver(client, paid_checkout(1)).status_code == 200
    response = client.get("/webhooks/stripe")
    assert response.status_code == 405
    assert response.is_json


# --- exactly once --------------------------------------------------------------


def test_repeat_is_200_and_changes_nothing(client, campaign) -> None:
    evt = paid_checkout(1)
    assert se.deliver(client, evt).get_json()["duplicate"] is False
    first = totals()
    again = se.deliver(client, evt)
    assert again.status_code == 200
    assert again.get_json()["duplicate"] is True
    assert totals() == first == {("southfront", 2026, 11): (2500, 1)}
    assert count(StripeEvent) == 1


def test_a_repeat_answers_as_the_first_delivery_did_and_is_not_applied_again(
    client, campaign
) -> None:
    """The same event id is applied once: a repeat is answered from what was stored, and
    the stored outcome and time stay those of the first delivery."""
    evt = paid_checkout(1)
    assert se.deliver(client, evt).get_json()["outcome"] == "counted"
    sa_db.session.expire_all()
    applied_at = sa_db.session.get(StripeEvent, "evt_cs_1").applied_at
    again = se.deliver(client, evt).get_json()
    assert (again["duplicate"], again["outcome"]) == (True, "counted")
    sa_db.session.expire_all()
    stored = sa_db.session.get(StripeEvent, "evt_cs_1")
    assert (stored.outcome, stored.applied_at) == ("counted", applied_at)


def test_failure_to_store_is_5xx_and_stripe_retries(client, campaign, monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    def broken_commit() -> None:
        raise OperationalError("COMMIT", {}, Exception("disk full"))

    monkeypatch.setattr(sa_db.session, "commit", broken_commit)
    response = se.deliver(client, paid_checkout(1))
    monkeypatch.undo()
    assert response.status_code == 503  # a database failure: Stripe retries
    assert response.get_json()["error"] == "unavailable"
    assert b"disk full" not in response.data
    assert count(StripeEvent) == 0
    assert totals() == {}
    # Stripe's retry then lands normally.
    assert se.deliver(client, paid_checkout(1)).status_code == 200
    assert totals() == {("southfront", 2026, 11): (2500, 1)}


def test_stored_but_unapplied_event_is_applied_on_redelivery(client, campaign, monkeypatch) -> None:
    def boom(fact, event_id, livemode):
        raise RuntimeError("bug while applying")

    monkeypatch.setattr(ledger, "apply", boom)
    response = se.deliver(client, paid_checkout(1))
    assert response.status_code == 500
    assert response.get_json()["error"] == "not_applied"
    stored = sa_db.session.get(StripeEvent, "evt_cs_1")
    assert stored is not None and stored.applied_at is None and stored.outcome == "failed"
    assert totals() == {}
    monkeypatch.undo()
    again = se.deliver(client, paid_checkout(1))
    assert again.status_code == 200
    assert again.get_json()["outcome"] == "counted"
    assert totals() == {("southfront", 2026, 11): (2500, 1)}


def test_reprocess_applies_what_is_stored_but_not_applied(client, runner, campaign, monkeypatch):
    monkeypatch.setattr(ledger, "apply", lambda fact, event_id, livemode: 1 / 0)
    se.deliver(client, paid_checkout(1))
    se.deliver(client, paid_checkout(2, amount=1000))
    monkeypatch.undo()
    assert totals() == {}
    result = runner.invoke(args=["tracker", "reprocess"])
    assert result.exit_code == 0, result.output
    assert "applied 2 of 2 stored events" in result.output
    assert totals() == {("southfront", 2026, 11): (3500, 2)}
    again = runner.invoke(args=["tracker", "reprocess"])
    assert "applied 0 of 0" in again.output
    assert totals() == {("southfront", 2026, 11): (3500, 2)}


def test_reprocess_reports_what_still_fails(client, runner, campaign, monkeypatch) -> None:
    monkeypatch.setattr(ledger, "apply", lambda fact, event_id, livemode: 1 / 0)
    se.deliver(client, paid_checkout(1))
    result = runner.invoke(args=["tracker", "reprocess"])
    assert result.exit_code == 1
    assert "evt_cs_1: not applied" in result.output
    assert "applied 0 of 1 stored events" in result.output
    assert sa_db.session.get(StripeEvent, "evt_cs_1").applied_at is None


# --- what counts ---------------------------------------------------------------


def test_checkout_and_its_payment_intent_are_one_donation(client, campaign) -> None:
    se.deliver(client, paid_checkout(1))
    response = se.deliver(client, pi_succeeded(1))
    assert response.get_json()["outcome"] == "already_counted"
    assert totals() == {("southfront", 2026, 11): (2500, 1)}
    donation = sa_db.session.execute(select(Donation)).scalar_one()
    assert donation.external_key == "pi_1"
    assert donation.payment_intent_id == "pi_1"
    assert donation.source == "stripe"
    assert donation.frequency == "once"
    assert donation.currency == "USD"


def test_payment_intent_first_then_checkout(client, campaign) -> None:
    se.deliver(client, pi_succeeded(1))
    se.deliver(client, paid_checkout(1))
    assert totals() == {("southfront", 2026, 11): (2500, 1)}


def test_unpaid_checkout_waits_for_async_success(client, campaign) -> None:
    obj = se.checkout_session(
        session_id="cs_test_9",
        payment_intent="pi_9",
        amount=4000,
        created=NOV_10,
        payment_status="unpaid",
    )
    response = se.deliver(client, se.event("checkout.session.completed", obj, event_id="evt_a"))
    assert response.get_json()["outcome"] == "ignored_unpaid"
    assert totals() == {}
    obj = dict(obj, payment_status="paid")
    se.deliver(client, se.event("checkout.session.async_payment_succeeded", obj, event_id="evt_b"))
    assert totals() == {("southfront", 2026, 11): (4000, 1)}


def test_subscription_checkout_never_counts_its_invoices_do(client, campaign) -> None:
    obj = se.checkout_session(
        session_id="cs_test_sub",
        payment_intent=None,
        amount=1500,
        created=NOV_10,
        mode="subscription",
    )
    response = se.deliver(client, se.event("checkout.session.completed", obj, event_id="evt_s"))
    assert response.get_json()["outcome"] == "ignored_subscription_checkout"
    assert totals() == {}
    inv = se.invoice(invoice_id="in_1", amount_paid=1500, created=NOV_10)
    se.deliver(client, se.event("invoice.paid", inv, event_id="evt_in_1"))
    assert totals() == {("southfront", 2026, 11): (1500, 1)}
    donation = sa_db.session.execute(select(Donation)).scalar_one()
    assert (donation.external_key, donation.frequency) == ("in_1", "monthly")


@pytest.mark.parametrize("shape", ["parent", "legacy", "own"])
def test_invoice_paid_reads_the_campaign_from_each_shape(client, campaign, shape) -> None:
    inv = se.invoice(invoice_id="in_7", amount_paid=900, created=NOV_10, shape=shape)
    assert se.deliver(client, se.event("invoice.paid", inv, event_id="evt_i")).status_code == 200
    assert totals() == {("southfront", 2026, 11): (900, 1)}


def test_invoice_with_nothing_paid_does_not_count(client, campaign) -> None:
    inv = se.invoice(invoice_id="in_0", amount_paid=0, created=NOV_10)
    response = se.deliver(client, se.event("invoice.paid", inv, event_id="evt_i0"))
    assert response.get_json()["outcome"] == "ignored_zero_amount"
    assert totals() == {}


def test_payment_intent_without_campaign_is_ignored(client, campaign) -> None:
    response = se.deliver(client, pi_succeeded(5, campaign=None))
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "ignored_no_campaign"
    assert totals() == {}
    assert count(ReviewPayment) == 0


def test_other_event_types_are_2xx_and_ignored(client, campaign) -> None:
    evt = se.example("event")  # Stripe's example: plan.created
    response = se.deliver(client, evt)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "ignored_type"
    assert totals() == {}


def test_month_comes_from_the_paid_objects_created_not_arrival(client, db) -> None:
    make_campaign("la", timezone="America/Los_Angeles")
    make_campaign("southfront")
    # 31 Oct 23:30 UTC: October in UTC, October in Los Angeles (16:30).
    se.deliver(client, pi_succeeded(1, created=OCT_31_LATE))
    # 1 Nov 06:30 UTC is still 31 October in Los Angeles.
    early_nov = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    se.deliver(client, pi_succeeded(2, created=early_nov, campaign="la"))
    se.deliver(client, pi_succeeded(3, created=early_nov))
    assert totals() == {
        ("southfront", 2026, 10): (2500, 1),
        ("southfront", 2026, 11): (2500, 1),
        ("la", 2026, 10): (2500, 1),
    }


def test_checkout_month_follows_its_payment_intent(client, campaign) -> None:
    """A session opened on 31 Oct and paid on 1 Nov: the PaymentIntent's month, any order."""
    nov_1 = datetime(2026, 11, 1, 0, 10, tzinfo=UTC)
    se.deliver(client, paid_checkout(1, created=OCT_31_LATE))
    assert totals() == {("southfront", 2026, 10): (2500, 1)}
    response = se.deliver(client, pi_succeeded(1, created=nov_1))
    assert response.get_json()["outcome"] == "already_counted_refiled"
    assert totals() == {("southfront", 2026, 11): (2500, 1)}
    se.deliver(client, paid_checkout(1, created=OCT_31_LATE) | {"id": "evt_cs_again"})
    assert totals() == {("southfront", 2026, 11): (2500, 1)}


# --- kept for review -----------------------------------------------------------


@pytest.mark.parametrize("slug", [None, "no-such-campaign", "Bad Slug!"])
def test_checkout_without_known_campaign_is_kept_unassigned(client, campaign, slug) -> None:
    response = se.deliver(client, paid_checkout(1, campaign=slug))
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "review_unassigned"
    assert totals() == {}
    row = sa_db.session.execute(select(ReviewPayment)).scalar_one()
    assert (row.reason, row.external_key, row.amount_minor, row.currency) == (
        "unassigned",
        "pi_1",
        2500,
        "USD",
    )
    assert row.campaign_slug == slug
    assert row.received_at == NOV_10
    se.deliver(client, paid_checkout(1, campaign=slug) | {"id": "evt_other"})
    assert count(ReviewPayment) == 1


def test_invoice_without_campaign_is_kept_unassigned(client, campaign) -> None:
    inv = se.invoice(invoice_id="in_x", amount_paid=700, created=NOV_10, campaign=None)
    se.deliver(client, se.event("invoice.paid", inv, event_id="evt_ix"))
    row = sa_db.session.execute(select(ReviewPayment)).scalar_one()
    assert (row.reason, row.frequency, row.amount_minor) == ("unassigned", "monthly", 700)
    assert row.payment_intent_id is None
    # The newer API's link arrives afterwards: the kept payment learns its PaymentIntent.
    link = se.invoice_payment(invoice_id="in_x", payment_intent="pi_x", amount=700, created=NOV_10)
    se.deliver(client, se.event("invoice_payment.paid", link, event_id="evt_lx"))
    sa_db.session.expire_all()
    assert sa_db.session.execute(select(ReviewPayment)).scalar_one().payment_intent_id == "pi_x"


@pytest.mark.parametrize("currency", ["eur", "jpy"])
def test_foreign_currency_is_kept_with_its_own_amount(client, campaign, currency) -> None:
    se.deliver(client, paid_checkout(1, amount=3000, currency=currency))
    se.deliver(client, pi_succeeded(1, amount=3000, currency=currency))
    assert totals() == {}
    row = sa_db.session.execute(select(ReviewPayment)).scalar_one()
    assert (row.reason, row.currency, row.amount_minor, row.campaign_slug) == (
        "currency",
        currency.upper(),
        3000,
        "southfront",
    )


def test_currency_is_compared_case_insensitively(client, campaign) -> None:
    se.deliver(client, paid_checkout(1, currency="USD"))
    assert totals() == {("southfront", 2026, 11): (2500, 1)}


def test_zero_decimal_and_isk_amounts(client, db) -> None:
    make_campaign("yen", currency="JPY", milestones=[0, 100000])
    make_campaign("iceland", currency="ISK", milestones=[0, 100000])
    se.deliver(client, pi_succeeded(1, amount=3000, currency="jpy", campaign="yen"))
    se.deliver(client, pi_succeeded(2, amount=50000, currency="isk", campaign="iceland"))
    assert totals() == {("yen", 2026, 11): (3000, 1), ("iceland", 2026, 11): (500, 1)}


def test_other_mode_event_is_recorded_and_ignored(client, campaign) -> None:
    evt = paid_checkout(1)
    evt["livemode"] = True
    response = se.deliver(client, evt)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "review_livemode"
    assert totals() == {}
    assert sa_db.session.get(StripeEvent, "evt_cs_1").livemode is True
    row = sa_db.session.execute(select(ReviewPayment)).scalar_one()
    assert (row.reason, row.livemode) == ("livemode", True)
    refund = refunded(1, 2500, 2500, NOV_10)
    refund["livemode"] = True
    assert se.deliver(client, refund).get_json()["outcome"] == "ignored_other_mode"
    assert count(PaymentAdjustment) == 0


# --- refunds and disputes ------------------------------------------------------


def test_refunds_replace_never_add(client, campaign) -> None:
    se.deliver(client, pi_succeeded(1, amount=5000))
    se.deliver(client, refunded(1, 5000, 1000, datetime(2026, 11, 12, tzinfo=UTC)))
    assert totals() == {("southfront", 2026, 11): (4000, 1)}
    se.deliver(client, refunded(1, 5000, 3000, datetime(2026, 11, 13, tzinfo=UTC)))
    assert totals() == {("southfront", 2026, 11): (2000, 1)}
    # An older figure arriving late changes nothing: the cumulative figure only grows.
    late = refunded(1, 5000, 1000, datetime(2026, 11, 12, tzinfo=UTC)) | {"id": "evt_late"}
    se.deliver(client, late)
    assert totals() == {("southfront", 2026, 11): (2000, 1)}
    donation = sa_db.session.execute(select(Donation)).scalar_one()
    assert donation.refunded_minor == 3000


def test_late_refund_lowers_its_own_month(client, campaign) -> None:
    se.deliver(client, pi_succeeded(1, amount=5000, created=datetime(2026, 10, 5, tzinfo=UTC)))
    se.deliver(client, pi_succeeded(2, amount=1000))
    se.deliver(client, refunded(1, 5000, 5000, datetime(2026, 11, 20, tzinfo=UTC)))
    assert totals() == {("southfront", 2026, 10): (0, 1), ("southfront", 2026, 11): (1000, 1)}


def test_refund_before_payment_is_kept_and_applied(client, campaign) -> None:
    response = se.deliver(client, refunded(1, 5000, 2000, NOV_10))
    assert response.get_json()["outcome"] == "refund_pending"
    assert totals() == {}
    se.deliver(client, pi_succeeded(1, amount=5000))
    assert totals() == {("southfront", 2026, 11): (3000, 1)}


def test_dispute_lost_then_won(client, campaign) -> None:
    se.deliver(client, pi_succeeded(1, amount=5000))
    lost = dispute_closed(1, 5000, "lost", datetime(2026, 11, 20, tzinfo=UTC))
    assert se.deliver(client, lost).get_json()["outcome"] == "dispute_lost"
    assert totals() == {("southfront", 2026, 11): (0, 1)}
    won = dispute_closed(1, 5000, "won", datetime(2026, 11, 25, tzinfo=UTC))
    se.deliver(client, won)
    assert totals() == {("southfront", 2026, 11): (5000, 1)}


def test_dispute_decisions_arriving_out_of_order(client, campaign) -> None:
    se.deliver(client, pi_succeeded(1, amount=5000))
    se.deliver(client, dispute_closed(1, 5000, "won", datetime(2026, 11, 25, tzinfo=UTC)))
    stale = dispute_closed(1, 5000, "lost", datetime(2026, 11, 20, tzinfo=UTC))
    assert se.deliver(client, stale).get_json()["outcome"] == "dispute_stale"
    assert totals() == {("southfront", 2026, 11): (5000, 1)}


@pytest.mark.parametrize("first", ["lost", "won"])
def test_dispute_decisions_in_one_second_the_win_stands(client, campaign, first) -> None:
    """Two decisions stamped with the same second, in either order: the win (restoring) is
    the later one, so the donation counts in full."""
    se.deliver(client, pi_succeeded(1, amount=5000))
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    second = "won" if first == "lost" else "lost"
    for status in (first, second):
        evt = dispute_closed(1, 5000, status, at) | {"id": f"evt_dp_{status}"}
        assert se.deliver(client, evt).status_code == 200
    assert totals() == {("southfront", 2026, 11): (5000, 1)}


def test_dispute_before_payment_and_refund_never_below_zero(client, campaign) -> None:
    se.deliver(client, dispute_closed(1, 5000, "lost", NOV_10))
    se.deliver(client, refunded(1, 5000, 5000, NOV_10))
    se.deliver(client, pi_succeeded(1, amount=5000))
    assert totals() == {("southfront", 2026, 11): (0, 1)}


@pytest.mark.parametrize("shape", ["old-invoice", "payments", "charge-invoice"])
def test_refund_of_a_monthly_donation(client, campaign, shape) -> None:
    kw = {"payment_intent": "pi_m"} if shape in ("old-invoice", "payments") else {}
    inv = se.invoice(
        invoice_id="in_m",
        amount_paid=2000,
        created=NOV_10,
        shape="payments" if shape == "payments" else "parent",
        **kw,
    )
    se.deliver(client, se.event("invoice.paid", inv, event_id="evt_in_m"))
    extra = {"invoice": "in_m"} if shape == "charge-invoice" else {}
    charge = refunded("m", 2000, 500, NOV_10, payment_intent="pi_m", **extra)
    assert se.deliver(client, charge).get_json()["outcome"] == "refund_applied"
    assert totals() == {("southfront", 2026, 11): (1500, 1)}


def test_refund_before_its_invoice(client, campaign) -> None:
    se.deliver(client, refunded("m", 2000, 2000, NOV_10, payment_intent="pi_m"))
    inv = se.invoice(invoice_id="in_m", amount_paid=2000, created=NOV_10, payment_intent="pi_m")
    se.deliver(client, se.event("invoice.paid", inv, event_id="evt_in_m"))
    assert totals() == {("southfront", 2026, 11): (0, 1)}


def test_replaying_every_stored_event_on_an_empty_ledger(client, runner, campaign) -> None:
    events = [
        pi_succeeded(1, amount=5000, created=datetime(2026, 10, 3, tzinfo=UTC)),
        paid_checkout(1, amount=5000, created=datetime(2026, 10, 3, tzinfo=UTC)),
        paid_checkout(2, amount=1200),
        refunded(1, 5000, 1500, NOV_10),
        refunded(1, 5000, 2500, datetime(2026, 11, 11, tzinfo=UTC)),
        se.event(
            "invoice.paid",
            se.invoice(invoice_id="in_1", amount_paid=800, created=NOV_10, payment_intent="pi_i"),
            event_id="evt_inv",
        ),
        dispute_closed(2, 1200, "lost", datetime(2026, 11, 15, tzinfo=UTC)),
        paid_checkout(3, amount=999, currency="eur"),
        paid_checkout(4, amount=111, campaign=None),
    ]
    for evt in events:
        assert se.deliver(client, evt).status_code == 200
    before = totals()
    assert before == {("southfront", 2026, 10): (2500, 1), ("southfront", 2026, 11): (800, 2)}
    reviews = count(ReviewPayment)
    assert reviews == 2
    # Empty the ledger, keep the stored events, mark them unapplied, replay.
    for model in (ReviewPayment, Donation, PaymentAdjustment, Period):
        sa_db.session.execute(model.__table__.delete())
    sa_db.session.execute(StripeEvent.__table__.update().values(applied_at=None, outcome=None))
    sa_db.session.commit()
    assert totals() == {}
    result = runner.invoke(args=["tracker", "reprocess"])
    assert result.exit_code == 0, result.output
    assert f"applied {len(events)} of {len(events)}" in result.output
    assert totals() == before
    assert count(ReviewPayment) == reviews
    assert runner.invoke(args=["tracker", "verify"]).exit_code == 0


NEW_API_MONTHLY = ["invoice", "link", "refund", "dispute"]


@pytest.mark.parametrize("order", list(itertools.permutations(NEW_API_MONTHLY)))
def test_monthly_refund_linked_by_invoice_payment_in_any_order(client, campaign, order) -> None:
    """Newer API: invoice.paid names no PaymentIntent; invoice_payment.paid links them."""
    inv = se.invoice(invoice_id="in_n", amount_paid=3000, created=NOV_10)
    link = se.invoice_payment(invoice_id="in_n", payment_intent="pi_n", amount=3000, created=NOV_10)
    events = {
        "invoice": se.event("invoice.paid", inv, event_id="evt_inv_n"),
        "link": se.event("invoice_payment.paid", link, event_id="evt_link_n"),
        "refund": refunded("n", 3000, 1000, NOV_10, payment_intent="pi_n"),
        "dispute": dispute_closed("n", 500, "lost", datetime(2026, 11, 20, tzinfo=UTC)),
    }
    for name in order:
        assert se.deliver(client, events[name]).status_code == 200
    assert totals() == {("southfront", 2026, 11): (1500, 1)}
    donation = sa_db.session.execute(select(Donation)).scalar_one()
    assert (donation.external_key, donation.payment_intent_id) == ("in_n", "pi_n")
    assert (donation.refunded_minor, donation.disputed_minor) == (1000, 500)
