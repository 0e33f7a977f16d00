"""Admin use cases: the audit log, donations by month, manual donations, refunds, review.

Accounts and logins are in tracker.accounts, the chart and the CSV export in
tracker.reports.

Like tracker.services, these add and flush; the caller (view or command) commits once.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, or_, select, update

from tracker import ledger, payments, services
from tracker.domain import money
from tracker.domain.periods import Period as Month
from tracker.domain.text import Message, Refusal, message
from tracker.extensions import db
from tracker.models import AuditEntry, Campaign, Donation, Period, ReviewPayment

log = logging.getLogger(__name__)

PAGE_SIZE = 50


class AdminError(Refusal):
    """An admin action was refused; the message says why."""


# --- audit ---------------------------------------------------------------------


def _bad_month(text: str) -> Message:
    return message("invalid month '%(given)s': use YYYY-MM, like 2026-11", given=text[:20])


def _already_assigned(review: ReviewPayment) -> Message:
    return message("payment %(key)s was already assigned", key=review.external_key)


def audit(actor: str, action: str, **detail: Any) -> AuditEntry:
    """Add one line to the audit log (who, what, when)."""
    entry = AuditEntry(at=services.now(), actor=actor[:254], action=action[:64], detail=detail)
    db.session.add(entry)
    db.session.flush()
    log.info("audit entry_id=%s action=%s", entry.id, action)
    return entry


def audit_page(page: int) -> Pagination:
    """The audit log, newest first."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return paginate(query, page)


# --- listing -------------------------------------------------------------------


def paginate(query: Select[Any], page: int, total: int | None = None) -> Pagination:
    """One page of `query` (a page past the end shows the last); `total` when it is known
    without counting (a month's running count), else it is counted."""
    listing = db.paginate(
        query, page=max(1, page), per_page=PAGE_SIZE, error_out=False, count=total is None
    )
    if total is not None:
        listing.total = total
    if listing.page > listing.pages > 0:
        return paginate(query, listing.pages, total)
    return listing


def campaigns() -> list[Campaign]:
    """Every campaign, by slug."""
    return list(db.session.scalars(select(Campaign).order_by(Campaign.slug)))


def parse_month(text: str | None, campaign: Campaign) -> Month:
    """A month written YYYY-MM; empty means the campaign's current month."""
    if not text:
        return Month.containing(services.now(), services.campaign_zone(campaign))
    match = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text.strip())
    if not match:
        raise AdminError(_bad_month(text))
    try:
        return Month(int(match.group(1)), int(match.group(2)))
    except ValueError as err:
        raise AdminError(_bad_month(text)) from err


def donations_page(campaign: Campaign, month: Month, search: str, page: int) -> Pagination:
    """One month's donations of a campaign, newest first, filtered by a search text.

    Without a search its size is the month's running count: no count over the donations.
    """
    period = services.find_period(campaign, month)
    period_id = period.id if period else -1
    where = [Donation.campaign_id == campaign.id, Donation.period_id == period_id]
    text = search.strip()[:100]
    if text:
        where.append(
            or_(
                Donation.donor_name.icontains(text, autoescape=True),
                Donation.external_key.icontains(text, autoescape=True),
                Donation.payment_intent_id.icontains(text, autoescape=True),
                Donation.note.icontains(text, autoescape=True),
            )
        )
    query = select(Donation).where(*where).order_by(Donation.received_at.desc(), Donation.id.desc())
    known = None if text else (period.donations if period else 0)
    return paginate(query, page, known)


def latest_donations(limit: int = 10) -> list[Donation]:
    """The last donations recorded, any campaign: by id, the primary key's index, in the
    order rows were written (ordering by created_at scanned every donation)."""
    query = select(Donation).order_by(Donation.id.desc()).limit(limit)
    return list(db.session.scalars(query))


def months(campaign: Campaign) -> list[Period]:
    """Every month of a campaign, newest first (the current one always included)."""
    services.period_for(campaign, services.now())
    query = (
        select(Period)
        .where(Period.campaign_id == campaign.id)
        .order_by(Period.year.desc(), Period.month.desc())
    )
    return list(db.session.scalars(query))


# --- donations -----------------------------------------------------------------


def require_donation(donation_id: int) -> Donation:
    donation = db.session.get(Donation, donation_id)
    if donation is None:
        raise services.NotFound(message("no donation %(id)s", id=str(donation_id)))
    return donation


def add_manual_donation(
    campaign: Campaign, amount_minor: int, received_at: datetime, donor: str | None, actor: str
) -> Donation:
    """Record an offline donation and log who did it."""
    donation = services.record_manual_donation(campaign, amount_minor, received_at, donor)
    audit(
        actor,
        "donation_added",
        campaign=campaign.slug,
        donation_id=donation.id,
        amount_minor=amount_minor,
        received_at=received_at.isoformat(),
    )
    return donation


def void_manual_donation(donation: Donation, actor: str) -> None:
    """Delete a manual donation (entered by mistake); Stripe ones are refunded instead."""
    if donation.source != "manual":
        raise AdminError(
            message("only manual donations can be voided; refund a Stripe payment instead")
        )
    detail = {
        "campaign": donation.campaign.slug,
        "donation_id": donation.id,
        "amount_minor": donation.amount_minor,
    }
    services.remove_donation(donation)
    audit(actor, "donation_voided", **detail)


def refundable_minor(donation: Donation) -> int:
    """What can still be refunded of a donation."""
    return max(0, donation.amount_minor - donation.refunded_minor)


def refund_amount(donation: Donation, text: str) -> int:
    """The refund a person typed (empty: all that is left), checked against what is left."""
    left = refundable_minor(donation)
    if left == 0:
        raise AdminError(
            message("donation %(id)s is already refunded in full", id=str(donation.id))
        )
    if not text.strip():
        return left
    amount = money.parse_amount(text, donation.currency)
    if amount > left:
        raise AdminError(
            message(
                "at most %(amount)s %(code)s is left to refund",
                amount=money.format_major(left, donation.currency),
                code=donation.currency,
            )
        )
    return amount


def refund_manual_donation(donation: Donation, amount_minor: int, actor: str) -> None:
    """Record a refund of a manual donation; its own month's total follows."""
    if donation.source != "manual":
        raise AdminError(message("a Stripe donation is refunded through Stripe"))
    services.adjust_donation(donation, refunded_minor=donation.refunded_minor + amount_minor)
    audit(
        actor,
        "donation_refunded",
        campaign=donation.campaign.slug,
        donation_id=donation.id,
        amount_minor=amount_minor,
    )


def start_stripe_refund(donation: Donation, amount_minor: int, actor: str) -> str:
    """Ask Stripe to refund; the charge.refunded webhook then records it. Returns the id."""
    if donation.source != "stripe" or not donation.payment_intent_id:
        raise AdminError(message("this donation has no Stripe payment to refund"))
    whole = amount_minor == refundable_minor(donation) and donation.refunded_minor == 0
    # Same donation and same target figure: a double click cannot refund twice.
    key = f"admin-refund-{donation.id}-{donation.refunded_minor + amount_minor}"
    try:
        refund_id = payments.create_refund(
            donation.payment_intent_id, None if whole else amount_minor, donation.currency, key
        )
    except Exception as err:  # stripe's errors; stripe is imported in payments.py only
        log.warning("stripe refund failed donation_id=%s: %s", donation.id, type(err).__name__)
        reason = getattr(err, "user_message", None) or str(err) or type(err).__name__
        raise AdminError(
            message("Stripe did not accept the refund: %(reason)s", reason=reason)
        ) from err
    audit(
        actor,
        "stripe_refund_started",
        campaign=donation.campaign.slug,
        donation_id=donation.id,
        payment_intent_id=donation.payment_intent_id,
        amount_minor=amount_minor,
        refund_id=refund_id,
    )
    return refund_id


# --- review queue --------------------------------------------------------------


def review_queue(include_resolved: bool = False) -> list[ReviewPayment]:
    """Payments kept for review, oldest first (resolved ones too when asked)."""
    query = select(ReviewPayment).order_by(ReviewPayment.received_at, ReviewPayment.id)
    if not include_resolved:
        query = query.where(ReviewPayment.resolved_at.is_(None))
    return list(db.session.scalars(query))


def require_review(review_id: int) -> ReviewPayment:
    review = db.session.get(ReviewPayment, review_id)
    if review is None:
        raise services.NotFound(message("no payment under review %(id)s", id=str(review_id)))
    return review


def assign_review(review: ReviewPayment, campaign: Campaign, actor: str) -> Donation:
    """Count a payment kept for review in a campaign, in the month it was paid."""
    if review.resolved_at is not None:
        raise AdminError(_already_assigned(review))
    if review.currency.upper() != campaign.currency.upper():
        raise AdminError(
            message(
                "payment %(key)s is in %(currency)s, campaign '%(slug)s' counts "
                "%(campaign_currency)s: assign it to a %(currency)s campaign",
                key=review.external_key,
                currency=review.currency.upper(),
                slug=campaign.slug,
                campaign_currency=campaign.currency,
            )
        )
    taken = db.session.scalar(
        select(Donation.id).where(Donation.external_key == review.external_key)
    )
    if taken is not None:
        raise AdminError(
            message(
                "payment %(key)s is already counted (donation %(id)s)",
                key=review.external_key,
                id=str(taken),
            )
        )
    # Claim the row in one UPDATE, so two admins assigning at once cannot both count it.
    claimed = db.session.execute(
        update(ReviewPayment)
        .where(ReviewPayment.id == review.id, ReviewPayment.resolved_at.is_(None))
        .values(resolved_at=services.now())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise AdminError(_already_assigned(review))
    # Counted as the ledger counts a payment: with any refund or lost dispute before it.
    payment = payments.Payment(
        key=review.external_key,
        payment_intent_id=review.payment_intent_id,
        amount_minor=review.amount_minor,
        currency=review.currency.upper(),
        campaign=campaign.slug,
        frequency=review.frequency,
        paid_at=review.received_at,
        own_time=True,
    )
    donation = ledger.record_payment(campaign, payment)
    db.session.execute(
        update(ReviewPayment).where(ReviewPayment.id == review.id).values(donation_id=donation.id)
    )
    db.session.expire(review)
    audit(
        actor,
        "review_assigned",
        review_id=review.id,
        external_key=review.external_key,
        campaign=campaign.slug,
        donation_id=donation.id,
        amount_minor=review.amount_minor,
    )
    return donation
