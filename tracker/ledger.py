"""The counting rules: what each fact from Stripe does to the donations (SPEC.md, "Stripe").

Each rule is written here once and applied to the typed facts of tracker.payments.events,
whichever way they arrived (webhook, `tracker sync-stripe`, `tracker reprocess`):

- `count`: one payment is one donation, keyed by its PaymentIntent (one-off) or invoice
  (monthly), in the month of its own `created` time; a payment without a known campaign,
  or in another currency, is kept for review instead;
- `apply_refund`: the cumulative amount refunded replaces the figure kept before;
- `apply_dispute`: a lost dispute takes the amount out, a later decision puts it back;
- `link_invoice`: which PaymentIntent paid which invoice, so refunds find monthly payments;
- a refund or dispute that comes before its payment is kept (payment_adjustments) and
  applied when the payment is counted;
- subscriptions and failed renewals go to tracker.supporters, which never changes a
  donation.

Every effect is idempotent on its own, so a repeat, a replay or any order of delivery ends
in the same totals. The caller (tracker.inbox) holds the event's locks (docs/ledger.md) and
commits. Running totals change through tracker.services, the one place that adds to a
month.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from tracker import notifications, payments, services, supporters
from tracker.domain.text import visible
from tracker.extensions import db
from tracker.models import Campaign, Donation, PaymentAdjustment, ReviewPayment
from tracker.payments import (
    Dispute,
    Fact,
    FailedRenewal,
    Ignored,
    InvoiceLink,
    Payment,
    Refund,
    SubscriptionState,
)

log = logging.getLogger(__name__)


def apply(fact: Fact, event_id: str, livemode: bool) -> str:
    """Apply one fact to the ledger; return a short outcome for the log and the answer."""
    other_mode = livemode != payments.live_mode()
    if isinstance(fact, Payment):
        if other_mode:
            return keep_for_review(fact, "livemode", event_id, livemode)
        return count(fact, event_id, livemode)
    if isinstance(fact, Ignored):
        return fact.reason
    if isinstance(fact, SubscriptionState):
        return supporters.apply_state(fact, livemode, payments.live_mode())
    if isinstance(fact, FailedRenewal):
        return supporters.apply_failure(fact, livemode, payments.live_mode())
    if other_mode:
        return "ignored_other_mode"
    if isinstance(fact, Refund):
        return apply_refund(fact)
    if isinstance(fact, Dispute):
        return apply_dispute(fact)
    return link_invoice(fact)


# --- payments ------------------------------------------------------------------


def count(payment: Payment, event_id: str, livemode: bool) -> str:
    """Count a payment once for its campaign, or keep it for review."""
    if payment.frequency == "monthly" and not payment.payment_intent_id:
        payment = replace(payment, payment_intent_id=_linked_intent(payment.key))
    campaign = _campaign(payment.campaign)
    if campaign is None:
        return keep_for_review(payment, "unassigned", event_id, livemode)
    if payment.currency.upper() != campaign.currency.upper():
        return keep_for_review(payment, "currency", event_id, livemode)
    existing = donation_by_key(payment.key)
    if existing is not None:
        return _update_counted(existing, payment)
    donation = record_payment(campaign, payment)
    _resolve_review(payment.key, donation)
    return "counted"


def record_payment(campaign: Campaign, payment: Payment) -> Donation:
    """Record the donation with any refund or dispute that came first."""
    refunded, disputed = pending_adjustment(payment.payment_intent_id)
    # No savepoint: under the event's locks no other delivery can count this key, and if
    # something else did (an admin assigning it at that instant), Donation.external_key
    # refuses the row, the event stays stored unapplied and its redelivery finds it counted.
    return services.record_donation(
        campaign,
        amount_minor=payment.amount_minor,
        received_at=payment.paid_at,
        source="stripe",
        external_key=payment.key,
        currency=payment.currency,
        payment_intent_id=payment.payment_intent_id,
        frequency=payment.frequency,
        refunded_minor=refunded,
        disputed_minor=disputed,
        attribution=payment.attribution,
    )


def _update_counted(donation: Donation, payment: Payment) -> str:
    outcome = "already_counted"
    if payment.payment_intent_id and not donation.payment_intent_id:
        donation.payment_intent_id = payment.payment_intent_id
        _apply_adjustment(donation)
        outcome = "already_counted_linked"
    if payment.own_time and donation.received_at != payment.paid_at:
        services.move_donation(donation, payment.paid_at)
        outcome = "already_counted_refiled"
    db.session.flush()
    return outcome


def keep_for_review(payment: Payment, reason: str, event_id: str, livemode: bool) -> str:
    """Keep a payment for an admin (unassigned, foreign currency, other mode), once."""
    if reason != "livemode" and donation_by_key(payment.key) is not None:
        return "already_counted"
    existing = db.session.scalar(
        select(ReviewPayment).where(ReviewPayment.external_key == payment.key)
    )
    if existing is not None:
        return f"review_{existing.reason}_kept"
    row = ReviewPayment(
        external_key=payment.key,
        payment_intent_id=payment.payment_intent_id,
        reason=reason,
        # As an admin may read it (the payload keeps the original): no NUL reaches the row.
        campaign_slug=visible(payment.campaign)[:255] if payment.campaign else None,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        frequency=payment.frequency,
        received_at=payment.paid_at,
        livemode=livemode,
        event_id=event_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return f"review_{reason}_kept"
    log.info("payment kept for review reason=%s event=%s", reason, event_id)
    notifications.review_needed(
        services.get_campaign(payment.campaign) if payment.campaign else None,
        reason,
        payment.payment_intent_id or payment.key,
        payment.amount_minor,
        payment.currency,
        payment.paid_at,
        services.now(),
    )
    return f"review_{reason}"


def _resolve_review(external_key: str, donation: Donation) -> None:
    # A payment first kept as unassigned (say, a checkout without metadata) and then
    # counted from another event that names the campaign: the review row is settled.
    row = db.session.scalar(
        select(ReviewPayment).where(
            ReviewPayment.external_key == external_key,
            ReviewPayment.resolved_at.is_(None),
            ReviewPayment.reason != "livemode",
        )
    )
    if row is not None:
        row.resolved_at = services.now()
        row.donation_id = donation.id


# --- refunds and disputes ------------------------------------------------------


def apply_refund(refund: Refund) -> str:
    """charge.refunded: the cumulative amount refunded replaces the previous figure."""
    adjustment = adjustment_for(refund.payment_intent_id)
    adjustment.charge_id = refund.charge_id or adjustment.charge_id
    if refund.invoice_id:
        adjustment.invoice_id = refund.invoice_id
    # Cumulative: the largest figure Stripe reported is the refunded amount, in any order.
    adjustment.refunded_minor = max(adjustment.refunded_minor, refund.refunded_minor)
    adjustment.updated_at = services.now()
    db.session.flush()
    donation = donation_for_intent(refund.payment_intent_id)
    if donation is None:
        return "refund_pending"
    _apply_adjustment(donation)
    return "refund_applied"


def apply_dispute(dispute: Dispute) -> str:
    """charge.dispute.closed: `lost` takes the amount out, a later decision puts it back."""
    intent = dispute.payment_intent_id
    if not intent:
        known = (
            db.session.scalar(
                select(PaymentAdjustment).where(PaymentAdjustment.charge_id == dispute.charge_id)
            )
            if dispute.charge_id
            else None
        )
        if known is None:
            return "ignored_no_payment_intent"
        intent = known.payment_intent_id
    adjustment = adjustment_for(intent)
    if adjustment.dispute_event_at is not None and _dispute_order(
        dispute.decided_at, dispute.status
    ) < _dispute_order(adjustment.dispute_event_at, adjustment.dispute_status):
        return "dispute_stale"
    adjustment.dispute_status = dispute.status
    adjustment.dispute_event_at = dispute.decided_at
    adjustment.disputed_minor = dispute.taken_minor
    adjustment.updated_at = services.now()
    db.session.flush()
    donation = donation_for_intent(intent)
    if donation is None:
        return "dispute_pending"
    _apply_adjustment(donation)
    return f"dispute_{dispute.status}"


def link_invoice(link: InvoiceLink) -> str:
    """invoice_payment.paid: which PaymentIntent paid which invoice (counts nothing itself).

    Newer API versions name this link nowhere else; refunds and disputes arrive by
    PaymentIntent while monthly donations are keyed by invoice.
    """
    adjustment = adjustment_for(link.payment_intent_id)
    adjustment.invoice_id = link.invoice_id
    adjustment.updated_at = services.now()
    # A monthly payment kept for review: the admin who assigns it needs the link too.
    db.session.execute(
        update(ReviewPayment)
        .where(
            ReviewPayment.external_key == link.invoice_id,
            ReviewPayment.payment_intent_id.is_(None),
        )
        .values(payment_intent_id=link.payment_intent_id)
    )
    db.session.flush()
    donation = donation_for_intent(link.payment_intent_id)
    if donation is None:
        return "invoice_link_pending"
    return "invoice_linked"


def _linked_intent(invoice_id: str) -> str | None:
    return db.session.scalars(
        select(PaymentAdjustment.payment_intent_id)
        .where(PaymentAdjustment.invoice_id == invoice_id)
        .order_by(PaymentAdjustment.id)
    ).first()


def _dispute_order(at: datetime, status: str | None) -> tuple[datetime, int]:
    # The latest decision wins; two in the same second: a win (restoring) beats a loss.
    return (at, 0 if status == "lost" else 1)


def adjustment_for(payment_intent_id: str) -> PaymentAdjustment:
    """The refund/dispute row of a PaymentIntent, created when missing."""
    found = _adjustment(payment_intent_id)
    if found is not None:
        return found
    row = PaymentAdjustment(
        payment_intent_id=payment_intent_id,
        refunded_minor=0,
        disputed_minor=0,
        updated_at=services.now(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        winner = _adjustment(payment_intent_id)
        if winner is None:
            raise
        return winner
    return row


def pending_adjustment(payment_intent_id: str | None) -> tuple[int, int]:
    """(refunded, disputed) minor units already known for a PaymentIntent."""
    found = _adjustment(payment_intent_id) if payment_intent_id else None
    if found is None:
        return 0, 0
    return found.refunded_minor, found.disputed_minor


def _adjustment(payment_intent_id: str) -> PaymentAdjustment | None:
    return db.session.scalar(
        select(PaymentAdjustment).where(PaymentAdjustment.payment_intent_id == payment_intent_id)
    )


def _apply_adjustment(donation: Donation) -> None:
    refunded, disputed = pending_adjustment(donation.payment_intent_id)
    services.adjust_donation(donation, refunded_minor=refunded, disputed_minor=disputed)


# --- lookups -------------------------------------------------------------------


def donation_by_key(external_key: str) -> Donation | None:
    """The donation counted under this key, row-locked (FOR UPDATE) on PostgreSQL."""
    return db.session.scalar(
        select(Donation)
        .where(Donation.external_key == external_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def donation_for_intent(payment_intent_id: str) -> Donation | None:
    """The Stripe donation this PaymentIntent paid; links an invoice's donation when known.

    A newly linked donation gets the refund and dispute figures already kept for it. The
    row is locked (FOR UPDATE) on PostgreSQL and read fresh, so two events holding different
    keys that reach the same donation (two PaymentIntents of one invoice) take turns.
    """
    found = db.session.scalars(
        select(Donation)
        .where(
            or_(
                Donation.payment_intent_id == payment_intent_id,
                Donation.external_key == payment_intent_id,
            )
        )
        .order_by(Donation.id)
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if found is not None:
        return found
    adjustment = _adjustment(payment_intent_id)
    if adjustment is None or not adjustment.invoice_id:
        return None
    found = donation_by_key(adjustment.invoice_id)
    if found is not None and not found.payment_intent_id:
        found.payment_intent_id = payment_intent_id
        _apply_adjustment(found)
    return found


def _campaign(slug: str | None) -> Campaign | None:
    if not slug or not services.SLUG_RE.fullmatch(slug):
        return None
    return services.get_campaign(slug)
