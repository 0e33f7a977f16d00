"""tracker.ledger: each counting rule, applied to typed facts as payments.parse_event makes them.

The webhook tests (tests/views/test_webhooks.py) hold the same rules end to end; these
call the rules directly, one at a time, so a broken rule points at itself.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.factories import make_campaign
from tracker import ledger
from tracker.extensions import db as sa_db
from tracker.models import Donation, PaymentAdjustment, Period, ReviewPayment
from tracker.payments import Dispute, Ignored, InvoiceLink, Payment, Refund

NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)


def pay(key: str = "pi_1", amount: int = 2500, **kw) -> Payment:
    values = {
        "key": key,
        "payment_intent_id": key if key.startswith("pi_") else None,
        "amount_minor": amount,
        "currency": "USD",
        "campaign": "southfront",
        "frequency": "once",
        "paid_at": NOV_10,
        "own_time": True,
    }
    values.update(kw)
    return Payment(**values)


def refund(intent: str = "pi_1", refunded: int = 500, **kw) -> Refund:
    values = {"payment_intent_id": intent, "charge_id": "ch_1", "invoice_id": None}
    values.update(kw)
    return Refund(refunded_minor=refunded, currency="USD", **values)


def dispute(status: str, at: datetime = NOV_10, intent: str | None = "pi_1", amount=2500):
    return Dispute(intent, "ch_1", status, amount, "USD", at)


def apply(fact, event_id: str = "evt_1", livemode: bool = False) -> str:
    outcome = ledger.apply(fact, event_id, livemode)
    sa_db.session.commit()
    return outcome


def month_total(year: int = 2026, month: int = 11) -> tuple[int, int]:
    sa_db.session.expire_all()
    period = sa_db.session.scalar(select(Period).where(Period.year == year, Period.month == month))
    return (period.raised_minor, period.donations) if period else (0, 0)


@pytest.fixture()
def campaign(db):
    return make_campaign("southfront")


# --- one payment, one donation -------------------------------------------------


def test_a_payment_is_counted_once(campaign) -> None:
    assert apply(pay()) == "counted"
    assert apply(pay(), "evt_2") == "already_counted"
    assert month_total() == (2500, 1)


def test_a_payment_counts_in_the_month_of_its_own_time_in_the_campaigns_zone(db) -> None:
    make_campaign("southfront", timezone="America/Los_Angeles")
    # 1 Nov 03:00 UTC is still 31 Oct in Los Angeles.
    apply(pay(paid_at=datetime(2026, 11, 1, 3, tzinfo=UTC)))
    assert month_total(2026, 10) == (2500, 1)
    assert month_total(2026, 11) == (0, 0)


def test_the_payments_own_time_refiles_a_checkouts(campaign) -> None:
    # A Checkout Session's time stands in until the PaymentIntent's own comes.
    apply(pay(paid_at=datetime(2026, 10, 31, 23, 59, tzinfo=UTC), own_time=False))
    assert month_total(2026, 10) == (2500, 1)
    assert apply(pay(), "evt_2") == "already_counted_refiled"
    assert month_total(2026, 10) == (0, 0)
    assert month_total(2026, 11) == (2500, 1)


def test_an_unknown_campaign_is_kept_for_review(campaign) -> None:
    assert apply(pay(campaign="elsewhere")) == "review_unassigned"
    assert apply(pay(campaign=None, key="pi_2")) == "review_unassigned"
    assert month_total() == (0, 0)
    assert (
        sa_db.session.scalar(
            select(ReviewPayment.reason).where(ReviewPayment.external_key == "pi_2")
        )
        == "unassigned"
    )


def test_another_currency_is_kept_for_review_with_its_own_amount(campaign) -> None:
    assert apply(pay(currency="EUR", amount=900)) == "review_currency"
    row = sa_db.session.scalar(select(ReviewPayment))
    assert (row.reason, row.currency, row.amount_minor) == ("currency", "EUR", 900)
    assert month_total() == (0, 0)


def test_the_currency_matches_whatever_its_case(campaign) -> None:
    assert apply(pay(currency="usd")) == "counted"


def test_the_other_stripe_mode_is_kept_for_review(campaign) -> None:
    assert apply(pay(), livemode=True) == "review_livemode"
    assert apply(refund(), "evt_r", livemode=True) == "ignored_other_mode"
    assert month_total() == (0, 0)


def test_a_payment_first_kept_then_named_is_counted_and_settled(campaign) -> None:
    apply(pay(campaign=None))
    assert apply(pay(), "evt_2") == "counted"
    row = sa_db.session.scalar(select(ReviewPayment))
    assert row.resolved_at is not None and row.donation_id is not None


def test_ignored_facts_change_nothing(campaign) -> None:
    assert apply(Ignored("ignored_unpaid")) == "ignored_unpaid"
    assert month_total() == (0, 0)


# --- refunds and disputes ------------------------------------------------------


def test_a_refund_replaces_the_figure_never_adds(campaign) -> None:
    apply(pay())
    assert apply(refund(refunded=500), "evt_r1") == "refund_applied"
    assert apply(refund(refunded=800), "evt_r2") == "refund_applied"
    assert month_total() == (1700, 1)
    assert apply(refund(refunded=500), "evt_r1b") == "refund_applied"  # older figure, late
    assert month_total() == (1700, 1)


def test_a_refund_before_its_payment_is_kept_and_applied_on_arrival(campaign) -> None:
    assert apply(refund(refunded=700), "evt_r") == "refund_pending"
    assert apply(pay()) == "counted"
    assert month_total() == (1800, 1)


def test_a_late_refund_lowers_its_own_month_only(campaign) -> None:
    apply(pay(paid_at=datetime(2026, 10, 5, tzinfo=UTC)))
    apply(pay("pi_2", 700), "evt_2")  # November's
    apply(refund(refunded=1000), "evt_r")  # of October's payment, in November
    assert month_total(2026, 10) == (1500, 1)
    assert month_total(2026, 11) == (700, 1)


def test_never_below_zero(campaign) -> None:
    apply(pay())
    apply(refund(refunded=2500), "evt_r")
    apply(dispute("lost"), "evt_d")
    assert month_total() == (0, 1)


def test_a_lost_dispute_takes_out_and_a_later_win_restores(campaign) -> None:
    apply(pay())
    assert apply(dispute("lost"), "evt_d1") == "dispute_lost"
    assert month_total() == (0, 1)
    later = datetime(2026, 11, 20, tzinfo=UTC)
    assert apply(dispute("won", later), "evt_d2") == "dispute_won"
    assert month_total() == (2500, 1)
    assert apply(dispute("lost", NOV_10), "evt_d1b") == "dispute_stale"  # older news
    assert month_total() == (2500, 1)


def test_a_dispute_without_a_payment_intent_is_found_by_its_charge(campaign) -> None:
    apply(pay())
    apply(refund(refunded=0), "evt_r")  # names the charge ch_1 of pi_1
    assert apply(dispute("lost", intent=None), "evt_d") == "dispute_lost"
    assert month_total() == (0, 1)
    assert apply(Dispute(None, "ch_unknown", "lost", 10, "USD", NOV_10), "evt_x") == (
        "ignored_no_payment_intent"
    )


# --- monthly payments ----------------------------------------------------------


def test_a_monthly_payment_is_keyed_by_invoice_and_linked_for_its_refunds(campaign) -> None:
    monthly = pay("in_1", frequency="monthly", payment_intent_id=None)
    assert apply(monthly) == "counted"
    assert apply(refund("pi_9", refunded=500), "evt_r") == "refund_pending"
    assert apply(InvoiceLink("in_1", "pi_9"), "evt_l") == "invoice_linked"
    donation = sa_db.session.scalar(select(Donation))
    assert donation.payment_intent_id == "pi_9"
    assert month_total() == (2000, 1)


def test_a_link_before_the_invoice_gives_it_its_payment_intent(campaign) -> None:
    assert apply(InvoiceLink("in_1", "pi_9"), "evt_l") == "invoice_link_pending"
    apply(pay("in_1", frequency="monthly", payment_intent_id=None))
    assert sa_db.session.scalar(select(Donation.payment_intent_id)) == "pi_9"
    assert sa_db.session.scalar(select(PaymentAdjustment.invoice_id)) == "in_1"


def test_pending_adjustment_counts_only_a_lost_dispute(campaign) -> None:
    apply(refund(refunded=300), "evt_r")
    apply(dispute("won"), "evt_d")
    assert ledger.pending_adjustment("pi_1") == (300, 0)
    apply(dispute("lost", datetime(2026, 11, 11, tzinfo=UTC)), "evt_d2")
    assert ledger.pending_adjustment("pi_1") == (300, 2500)
    assert ledger.pending_adjustment(None) == (0, 0)


def test_a_replay_in_any_order_ends_in_the_same_totals(campaign) -> None:
    facts = [pay(), refund(refunded=400), dispute("lost"), pay("pi_2", 1000)]
    for n, fact in enumerate(reversed(facts)):
        apply(fact, f"evt_{n}")
    first = month_total()
    for n, fact in enumerate(facts):
        apply(fact, f"evt_again_{n}")
    assert month_total() == first == (1000, 2)
