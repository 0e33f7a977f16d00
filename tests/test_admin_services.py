"""tracker.admin_services: listings, manual donations and refunds, the review queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from tests.factories import make_campaign, make_donation
from tracker import admin_services as ops
from tracker import ledger, services
from tracker.domain.periods import Period as Month
from tracker.extensions import db as sa_db
from tracker.models import AuditEntry, Donation, Period, ReviewPayment
from tracker.payments import Refund

NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)


@pytest.fixture()
def campaign(db):
    return make_campaign("s")


def statements_during(action) -> list[str]:
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    engine = sa_db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_a_months_first_page_counts_nothing(campaign) -> None:
    for n in range(60):
        make_donation(campaign, 100 + n, NOV_10 + timedelta(minutes=n))
    listing = None

    def first_page() -> None:
        nonlocal listing
        listing = ops.donations_page(campaign, Month(2026, 11), "", 1)

    sql = statements_during(first_page)
    assert not any("count(" in s.lower() for s in sql), sql
    assert (listing.total, listing.pages, len(listing.items)) == (60, 2, ops.PAGE_SIZE)
    assert listing.items[0].amount_minor == 159  # newest first


def test_a_page_past_the_end_shows_the_last(campaign) -> None:
    for n in range(3):
        make_donation(campaign, 100, NOV_10)
    listing = ops.donations_page(campaign, Month(2026, 11), "", 9)
    assert (listing.page, len(listing.items)) == (1, 3)


def test_a_search_counts_what_it_finds(campaign) -> None:
    make_donation(campaign, 100, NOV_10, donor_name="Ada Lovelace")
    make_donation(campaign, 200, NOV_10, donor_name="Grace")
    make_donation(campaign, 300, NOV_10, donor_name="100%_ada")
    found = ops.donations_page(campaign, Month(2026, 11), "ada", 1)
    assert found.total == 2
    assert ops.donations_page(campaign, Month(2026, 11), "%", 1).total == 1  # escaped


def test_a_month_without_a_period_is_empty(campaign) -> None:
    listing = ops.donations_page(campaign, Month(2020, 1), "", 1)
    assert (listing.total, listing.items) == (0, [])


def test_manual_donations_are_audited_and_voided_only_when_manual(campaign) -> None:
    donation = ops.add_manual_donation(campaign, 1000, NOV_10, " Ada ", "ada@example.org")
    stripe_one = make_donation(campaign, 500, NOV_10, source="stripe", external_key="pi_x")
    with pytest.raises(ops.AdminError, match="only manual"):
        ops.void_manual_donation(stripe_one, "ada@example.org")
    ops.void_manual_donation(donation, "ada@example.org")
    sa_db.session.commit()
    actions = list(sa_db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["donation_added", "donation_voided"]
    assert services.period_for(campaign, NOV_10).raised_minor == 500


def test_refund_amount_is_what_is_left_at_most(campaign) -> None:
    donation = make_donation(campaign, 1000, NOV_10)
    assert ops.refund_amount(donation, "") == 1000
    assert ops.refund_amount(donation, "2.50") == 250
    with pytest.raises(ops.AdminError, match="at most 10 USD"):
        ops.refund_amount(donation, "10.01")
    ops.refund_manual_donation(donation, 1000, "ada@example.org")
    with pytest.raises(ops.AdminError, match="already refunded in full"):
        ops.refund_amount(donation, "")


def review(**kw) -> ReviewPayment:
    values = {
        "external_key": "pi_r",
        "payment_intent_id": "pi_r",
        "reason": "unassigned",
        "amount_minor": 2500,
        "currency": "USD",
        "received_at": datetime(2026, 10, 31, 23, 30, tzinfo=UTC),
    }
    values.update(kw)
    row = ReviewPayment(**values)
    sa_db.session.add(row)
    sa_db.session.commit()
    return row


def test_assigning_counts_in_the_month_paid_with_what_was_refunded_before(db) -> None:
    campaign = make_campaign("s", timezone="Europe/Berlin")  # 31 Oct 23:30 UTC: 1 Nov here
    ledger.apply_refund(Refund("pi_r", "ch_r", None, 500, "USD"))
    donation = ops.assign_review(review(), campaign, "ada@example.org")
    sa_db.session.commit()
    assert (donation.period.year, donation.period.month) == (2026, 11)
    assert (donation.refunded_minor, services.net(donation)) == (500, 2000)
    with pytest.raises(ops.AdminError, match="already assigned"):
        ops.assign_review(sa_db.session.get(ReviewPayment, 1), campaign, "ada@example.org")


def test_assigning_refuses_another_currency_and_a_counted_payment(campaign) -> None:
    with pytest.raises(ops.AdminError, match="is in EUR"):
        ops.assign_review(review(currency="EUR"), campaign, "ada@example.org")
    sa_db.session.rollback()
    make_donation(campaign, 100, NOV_10, source="stripe", external_key="pi_taken")
    with pytest.raises(ops.AdminError, match="already counted"):
        ops.assign_review(review(external_key="pi_taken"), campaign, "ada@example.org")
    assert sa_db.session.scalar(select(Donation.id).where(Donation.external_key == "pi_r")) is None


def test_months_include_the_current_one(campaign) -> None:
    rows = ops.months(campaign)
    now = Month.containing(services.now(), services.campaign_zone(campaign))
    assert (rows[0].year, rows[0].month) == (now.year, now.month)
    assert all(isinstance(row, Period) for row in rows)


def test_parse_month(campaign) -> None:
    assert ops.parse_month("2026-02", campaign) == Month(2026, 2)
    for bad in ("2026-13", "26-02", "february"):
        with pytest.raises(ops.AdminError, match="YYYY-MM"):
            ops.parse_month(bad, campaign)
