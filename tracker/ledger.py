"""The Stripe ledger: store every webhook event once, then apply it (SPEC.md, "Stripe").

`receive` stores the raw event under its id and applies it in the caller's transaction, so
the event and its effect commit together. Every effect is idempotent on its own (a payment is
keyed by its PaymentIntent or invoice id, refunds keep the largest cumulative figure, disputes
the latest decision), so a repeat, a replay or any delivery order ends in the same totals.

Locking. SQLite has one writer: each delivery takes the write lock first (`serialize`).
On PostgreSQL events about different payments run side by side:

- The event row itself: `INSERT ... ON CONFLICT DO NOTHING` on the primary key. A second
  delivery of the same id waits for the first transaction, then finds the row (applied, so
  it answers 200 and changes nothing; or unapplied, so it locks the row FOR UPDATE and
  applies it). Every path takes this row lock before any advisory lock (`apply_pending`
  too), so the two kinds of lock never wait on each other in a cycle.
- Then `lock_payments`: the ledger lock (`LOCK_KEY`) shared, plus an exclusive advisory
  lock on each payment key the payload names, in sorted order (`payment_keys`): the
  PaymentIntent of a checkout, payment_intent, charge, dispute, invoice (`payment_intent` or
  `payments.data[].payment.payment_intent`) or invoice_payment; the invoice id of an invoice,
  an invoice_payment, or a charge that names its invoice. An event that may change a payment
  without naming its PaymentIntent (a checkout without one, counted by session id; an
  invoice.paid of newer API versions; a refund or dispute without one) takes the ledger lock
  exclusive instead (`serialize`). Events that change no payment take the shared lock
  only.

Why that is enough: every pair of events that touch the same row shares a key, or one of
them holds the ledger exclusively:
- a one-off donation (keyed by PaymentIntent P) is written by its checkout, its
  payment_intent.succeeded, refunds and disputes of P: all hold P (or a checkout without P
  is exclusive);
- a monthly donation (keyed by invoice I) is written by invoice.paid (I and P, or
  exclusive), invoice_payment.paid (P and I), and by refunds/disputes of P once
  invoice_payment.paid linked P to I (they hold P, which both of the others hold too);
- the refund/dispute row of P (payment_adjustments) is written by refunds, disputes and
  invoice_payment.paid of P and read when counting P: all hold P; it is found by invoice id
  (`_linked_intent`) only by an exclusive invoice.paid; by charge id only by an exclusive
  dispute;
- a payment kept for review is keyed like its donation (P, I, or a session id under the
  exclusive lock), and invoice_payment.paid updates it by I, which it holds.
The common case on PostgreSQL (tracker.pgledger): storing the event and taking its locks
is one statement, and a plainly new payment is then counted by one more, under those
locks; anything less plain is applied the ordinary way below, under the same locks.

Periods and the campaign's revision change by arithmetic in SQL (`UPDATE ... SET x = x + d`)
under row locks, and a period is created by an insert that the loser of a race reads back,
so those need no advisory key. As a second line, donation reads are `FOR UPDATE` (fresh),
so two events that reach one donation through different PaymentIntents (two payments of one
invoice) still take turns; and the unique keys (event id, Donation.external_key,
payment_adjustments.payment_intent_id) refuse a second row whatever happens. A deadlock
between row locks (possible only when a donation moves between months while another event
adjusts it) fails that event's effect, which stays stored unapplied; the 5xx makes Stripe
deliver it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from tracker import hotcache, payments, pgledger, services
from tracker.domain import money, periods
from tracker.domain.periods import Period as Month
from tracker.extensions import db
from tracker.models import Campaign, Donation, PaymentAdjustment, ReviewPayment, StripeEvent

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key for applying Stripe events ("strp").
LOCK_KEY = 0x73747270

CHECKOUT_PAID = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
COUNTED = CHECKOUT_PAID | {"payment_intent.succeeded", "invoice.paid"}


class EventError(ValueError):
    """A signed body that is not a Stripe event we can store."""


@dataclass(frozen=True)
class Receipt:
    """What happened to one delivery."""

    event_id: str
    duplicate: bool
    applied: bool
    outcome: str


@dataclass(frozen=True)
class Payment:
    """A paid object as a webhook reports it (amount in Stripe's units)."""

    external_key: str
    payment_intent_id: str | None
    amount: int
    currency: str
    campaign_slug: str | None
    frequency: str
    created_at: datetime
    # True when `created_at` is the PaymentIntent's or invoice's own (a Checkout Session's
    # is not: its PaymentIntent may be made later, even in the next month).
    own_time: bool
    livemode: bool


# --- receiving -----------------------------------------------------------------


def check_event(event: dict[str, Any]) -> None:
    """Refuse a body that lacks what every Stripe event has (EventError)."""
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
        raise EventError("not a Stripe event: 'id' must be an evt_... string")
    kind = event.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > 100:
        raise EventError("not a Stripe event: 'type' is missing")
    created = event.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or created < 0:
        raise EventError("not a Stripe event: 'created' must be a Unix time")
    if not isinstance(event.get("livemode"), bool):
        raise EventError("not a Stripe event: 'livemode' must be true or false")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise EventError("not a Stripe event: 'data.object' is missing")


def receive(event: dict[str, Any], payload: str) -> Receipt:
    """Store the event under its id unless stored already, then apply it if not yet applied.

    Everything that changes the ledger runs under the event's locks (see the module
    docstring); the caller commits. Application errors are caught: the stored event stays
    unapplied (Receipt.applied False) for a redelivery or `tracker reprocess`.
    """
    check_event(event)
    if _dialect() == "postgresql":
        return _receive_postgresql(event, payload)
    seen = db.session.execute(
        select(StripeEvent.applied_at, StripeEvent.outcome).where(StripeEvent.id == event["id"])
    ).first()
    if seen is not None and seen.applied_at is not None:  # the usual repeat: no lock needed
        log.info("stripe event repeated event=%s", event["id"])
        return Receipt(event["id"], True, True, seen.outcome or "")
    serialize()
    stored = _locked_event(event["id"])
    if stored is None:
        row = StripeEvent(**_event_row(event, payload))
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            # Only a writer that skips the ledger lock could get here first.
            stored = _locked_event(event["id"])
            if stored is None:
                raise
        else:
            return _apply_stored(row.id, event, duplicate=False)
    if stored.applied_at is not None:
        log.info("stripe event repeated event=%s", stored.id)
        return Receipt(stored.id, True, True, stored.outcome or "")
    return _apply_stored(stored.id, event, duplicate=True)


# slug -> timezone of campaigns seen by this process, for the month of a payment before
# the one-shot count; the statement checks it against the campaign row (see below).
_TIMEZONES: dict[str, str] = {}


def _receive_postgresql(event: dict[str, Any], payload: str, *, plain: bool = True) -> Receipt:
    payment = plain_payment(event) if plain else None
    new = _new_payment(payment) if payment is not None else None
    if new is not None:
        receipt = _receive_in_one_shot(event, payload, new)
        if receipt is not None:
            return receipt
    # The primary key is the event's own lock: a concurrent insert of the same id waits for
    # the first transaction and then does nothing; the row lock is held until commit.
    # One round trip (tracker.pgledger): the INSERT, the row as it stood before it (a
    # data-modifying CTE is invisible to its own statement), so a repeat is answered from
    # the same statement, and for a new event its locks.
    stored = pgledger.store_and_lock(
        db.session.connection(),
        _event_row(event, payload),
        LOCK_KEY,
        _key_hashes(payment_keys(event)),
        payment.campaign_slug if payment else None,
    )
    if payment is not None:
        _learn_timezone(payment.campaign_slug or "", stored.timezone)
    if stored.inserted:
        new = _new_payment(payment) if payment is not None else None
        if new is not None:
            try:
                counted = pgledger.count_new(
                    db.session.connection(), new, event["id"], services.now()
                )
            except DBAPIError:
                # The transaction is lost (a deadlock, say): once more, the ordinary way.
                log.warning("stripe event counted the ordinary way event=%s", event["id"])
                db.session.rollback()
                return _receive_postgresql(event, payload, plain=False)
            if counted is not None:
                hotcache.mark_changed(db.session)
                return _counted(event, counted)
        return _apply_stored(event["id"], event, duplicate=False)
    here = StripeEvent.id == event["id"]
    applied_at, outcome = stored.applied_at, stored.outcome
    if applied_at is None:
        # Stored unapplied, or committed by another delivery while this INSERT waited (after
        # this statement's snapshot): read it again, locked, one redelivery at a time.
        applied_at, outcome = db.session.execute(
            select(StripeEvent.applied_at, StripeEvent.outcome).where(here).with_for_update()
        ).one()
    if applied_at is not None:
        log.info("stripe event repeated event=%s", event["id"])
        return Receipt(event["id"], True, True, outcome or "")
    lock_payments(event)
    return _apply_stored(event["id"], event, duplicate=True)


def _receive_in_one_shot(
    event: dict[str, Any], payload: str, new: pgledger.NewPayment
) -> Receipt | None:
    """Store and count a plainly new payment in one round trip, committed at once.

    None when the caller's ordinary way must answer: the statement failed (and changed
    nothing), or the event was stored before, unapplied.
    """
    # A database away raises here (OperationalError: 503, and Stripe retries).
    with db.engine.connect() as conn:
        try:
            stored, counted = pgledger.store_and_count(
                conn.connection.driver_connection,  # type: ignore[arg-type]
                _event_row(event, payload),
                LOCK_KEY,
                _key_hashes(payment_keys(event)),
                new,
                services.now(),
            )
        except pgledger.StatementFailed as exc:
            log.warning("stripe event stored the ordinary way event=%s: %s", event["id"], exc)
            return None
    if counted is not None:
        hotcache.changed()
        return _counted(event, counted)
    _learn_timezone(new.campaign_slug, stored.timezone)  # it may have changed
    if stored.inserted:
        # Stored and committed, but not plain after all: apply it now, the ordinary way.
        return replace(apply_pending(event["id"]), duplicate=False)
    if stored.applied_at is not None:
        log.info("stripe event repeated event=%s", event["id"])
        return Receipt(event["id"], True, True, stored.outcome or "")
    return None


def plain_payment(event: dict[str, Any]) -> Payment | None:
    """The payment of a counted event that `pgledger.count_new` may count, else None.

    Not plain (the ordinary way applies them): other-mode events, monthly payments whose
    PaymentIntent is not in the payload, campaign slugs that cannot name a campaign.
    """
    kind = event["type"]
    if kind not in COUNTED or bool(event["livemode"]) != payments.live_mode():
        return None
    payment, _ = payment_from(kind, event["data"]["object"], livemode=bool(event["livemode"]))
    if payment is None or (payment.frequency == "monthly" and not payment.payment_intent_id):
        return None
    if not payment.campaign_slug or not services.SLUG_RE.fullmatch(payment.campaign_slug):
        return None
    return payment


def _learn_timezone(slug: str, timezone: str | None) -> None:
    if timezone is None:
        _TIMEZONES.pop(slug, None)
    elif len(_TIMEZONES) < 4096 or slug in _TIMEZONES:
        _TIMEZONES[slug] = timezone


def _new_payment(payment: Payment) -> pgledger.NewPayment | None:
    """The donation `count` would record for this payment, in the month of the campaign's
    last seen timezone; None when that is unknown or the amount is out of bounds."""
    timezone = _TIMEZONES.get(payment.campaign_slug or "")
    if timezone is None:
        return None
    try:
        month = Month.containing(payment.created_at, periods.parse_timezone(timezone))
    except periods.TimezoneError:
        return None
    amount = payments.from_stripe_amount(payment.amount, payment.currency)
    if not 0 < amount <= money.MAX_MINOR:
        return None
    return pgledger.NewPayment(
        campaign_slug=payment.campaign_slug or "",
        timezone=timezone,
        year=month.year,
        month=month.month,
        key=payment.external_key,
        intent=payment.payment_intent_id,
        amount_minor=amount,
        currency=payment.currency,
        received_at=payment.created_at,
        frequency=payment.frequency,
    )


def _counted(event: dict[str, Any], counted: tuple[int, int]) -> Receipt:
    donation_id, campaign_id = counted
    services.donation_recorded(campaign_id, donation_id, "stripe")
    log.info("stripe event applied event=%s type=%s outcome=counted", event["id"], event["type"])
    return Receipt(event["id"], False, True, "counted")


def _event_row(event: dict[str, Any], payload: str) -> dict[str, Any]:
    return {
        "id": event["id"],
        "type": event["type"],
        "livemode": event["livemode"],
        "created": _instant(event["created"]),
        "payload": payload,
        "received_at": services.now(),
    }


def pending_event_ids() -> list[str]:
    """Stored events not yet applied, oldest first."""
    return list(
        db.session.execute(
            select(StripeEvent.id)
            .where(StripeEvent.applied_at.is_(None))
            .order_by(StripeEvent.created, StripeEvent.id)
        ).scalars()
    )


def apply_pending(event_id: str) -> Receipt:
    """Apply one stored event if it is still unapplied (the caller commits)."""
    postgresql = _dialect() == "postgresql"
    if not postgresql:
        serialize()
    stored = _locked_event(event_id)  # on PostgreSQL the row lock comes first, as in receive
    if stored is None:
        raise LookupError(f"no stored event {event_id!r}")
    if stored.applied_at is not None:
        return Receipt(stored.id, True, True, stored.outcome or "")
    event = json.loads(stored.payload)
    if postgresql:
        lock_payments(event)
    return _apply_stored(stored.id, event, duplicate=True)


def _locked_event(event_id: str) -> StripeEvent | None:
    result: StripeEvent | None = db.session.execute(
        select(StripeEvent)
        .where(StripeEvent.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    return result


def _apply_stored(event_id: str, event: dict[str, Any], *, duplicate: bool) -> Receipt:
    try:
        with db.session.begin_nested():
            outcome = apply_event(event)
    except Exception:
        log.exception("stripe event not applied event=%s type=%s", event_id, event["type"])
        _mark(event_id, applied_at=None, outcome="failed")
        return Receipt(event_id, duplicate, False, "failed")
    _mark(event_id, applied_at=services.now(), outcome=outcome[:64])
    log.info("stripe event applied event=%s type=%s outcome=%s", event_id, event["type"], outcome)
    return Receipt(event_id, duplicate, True, outcome)


def _mark(event_id: str, *, applied_at: datetime | None, outcome: str) -> None:
    db.session.execute(
        update(StripeEvent)
        .where(StripeEvent.id == event_id)
        .values(applied_at=applied_at, outcome=outcome)
    )


def serialize() -> None:
    """Take the whole ledger until the transaction ends; call it first in the transaction."""
    dialect = _dialect()
    if dialect == "postgresql":
        pgledger.lock(db.session.connection(), LOCK_KEY, None)  # the ledger, exclusive
    elif dialect == "sqlite":
        # SQLite has one writer: an UPDATE (of nothing) takes the write lock now, waiting up
        # to busy_timeout. It also makes pysqlite open the transaction here; otherwise a
        # SAVEPOINT would open it and its RELEASE would commit on its own.
        db.session.execute(text("UPDATE stripe_events SET type = type WHERE 1 = 0"))


def payment_keys(event: dict[str, Any]) -> list[str] | None:
    """The PaymentIntent and invoice ids an event may change; None when they cannot be known.

    None makes the event take the whole ledger (`serialize`); an empty list means it
    changes no payment (ignored types, unpaid or subscription checkouts).
    """
    kind = event["type"]
    obj: dict[str, Any] = event["data"]["object"]
    keys: list[str | None]
    if kind in CHECKOUT_PAID:
        if obj.get("mode") != "payment" or obj.get("payment_status") != "paid":
            return []
        keys = [_id(obj.get("payment_intent")) or None]
        if keys[0] is None:
            return None  # counted under its session id: no key another event would take
    elif kind == "payment_intent.succeeded":
        keys = [_id(obj)]
    elif kind == "invoice.paid":
        intent = invoice_payment_intent(obj)
        if intent is None:
            return None  # newer API: the PaymentIntent is linked from elsewhere
        keys = [_id(obj), intent]
    elif kind == "invoice_payment.paid":
        payment = obj.get("payment")
        intent = _id(payment.get("payment_intent")) if isinstance(payment, dict) else None
        keys = [intent, _id(obj.get("invoice"))]
    elif kind in {"charge.refunded", "charge.dispute.closed"}:
        intent = _id(obj.get("payment_intent"))
        if intent is None:
            return None  # a dispute is then found by its charge id
        keys = [intent, _id(obj.get("invoice"))]
    else:
        return []
    return sorted({key[:255] for key in keys if key})


def lock_payments(event: dict[str, Any]) -> None:
    """PostgreSQL: lock the ledger shared plus the event's payment keys, or all of it."""
    pgledger.lock(db.session.connection(), LOCK_KEY, _key_hashes(payment_keys(event)))


def _key_hashes(keys: list[str] | None) -> list[int] | None:
    """The advisory lock ids of payment keys, sorted (the order every event takes them)."""
    return None if keys is None else sorted({_lock_hash(key) for key in keys})


def _lock_hash(key: str) -> int:
    value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), signed=True)
    return value ^ 1 if value == LOCK_KEY else value


def _dialect() -> str:
    return db.session.get_bind().dialect.name


# --- applying ------------------------------------------------------------------


def apply_event(event: dict[str, Any]) -> str:
    """Apply one Stripe event to the ledger; return a short outcome for the log."""
    kind: str = event["type"]
    obj: dict[str, Any] = event["data"]["object"]
    other_mode = bool(event["livemode"]) != payments.live_mode()
    if kind in COUNTED:
        payment, reason = payment_from(kind, obj, livemode=bool(event["livemode"]))
        if payment is None:
            return reason
        if other_mode:
            return keep_for_review(payment, "livemode", event["id"])
        return count(payment, event["id"])
    if other_mode:
        return "ignored_other_mode"
    if kind == "charge.refunded":
        return apply_refund(obj)
    if kind == "charge.dispute.closed":
        return apply_dispute(obj, _instant(event["created"]))
    if kind == "invoice_payment.paid":
        return apply_invoice_payment(obj)
    return "ignored_type"


def payment_from(kind: str, obj: dict[str, Any], *, livemode: bool) -> tuple[Payment | None, str]:
    """The payment a counted event reports, or None and why it does not count."""
    if kind in CHECKOUT_PAID:
        if obj.get("mode") != "payment":
            return None, "ignored_subscription_checkout"
        if obj.get("payment_status") != "paid":
            return None, "ignored_unpaid"
        intent = _id(obj.get("payment_intent"))
        key, amount, frequency, own_time = (
            intent or _id(obj),
            obj.get("amount_total"),
            "once",
            False,
        )
        campaign = _metadata_campaign(obj.get("metadata"))
    elif kind == "payment_intent.succeeded":
        campaign = _metadata_campaign(obj.get("metadata"))
        if campaign is None:
            return None, "ignored_no_campaign"
        intent = _id(obj)
        amount = obj.get("amount_received") or obj.get("amount")
        key, frequency, own_time = intent, "once", True
    else:  # invoice.paid
        intent = invoice_payment_intent(obj)
        key, amount, frequency, own_time = _id(obj), obj.get("amount_paid"), "monthly", True
        campaign = invoice_campaign(obj)
    if not key:
        return None, "ignored_no_id"
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return None, "ignored_zero_amount"
    created = obj.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        return None, "ignored_no_created"
    currency = obj.get("currency")
    if not isinstance(currency, str) or not currency:
        return None, "ignored_no_currency"
    return (
        Payment(
            external_key=key[:255],
            payment_intent_id=intent[:255] if intent else None,
            amount=amount,
            currency=currency.upper()[:3],
            campaign_slug=campaign,
            frequency=frequency,
            created_at=_instant(created),
            own_time=own_time,
            livemode=livemode,
        ),
        "",
    )


def invoice_campaign(invoice: dict[str, Any]) -> str | None:
    """The campaign of a subscription invoice, from wherever this API version puts it."""
    parent = invoice.get("parent")
    if isinstance(parent, dict):
        details = parent.get("subscription_details")
        if isinstance(details, dict):
            found = _metadata_campaign(details.get("metadata"))
            if found:
                return found
    details = invoice.get("subscription_details")
    if isinstance(details, dict):
        found = _metadata_campaign(details.get("metadata"))
        if found:
            return found
    return _metadata_campaign(invoice.get("metadata"))


def invoice_payment_intent(invoice: dict[str, Any]) -> str | None:
    """The PaymentIntent that paid an invoice, when the payload names it."""
    intent = _id(invoice.get("payment_intent"))  # API versions before 2025-03-31
    if intent:
        return intent
    payments_list = invoice.get("payments")
    if isinstance(payments_list, dict):
        for item in payments_list.get("data") or []:
            payment = item.get("payment") if isinstance(item, dict) else None
            if isinstance(payment, dict):
                intent = _id(payment.get("payment_intent"))
                if intent and item.get("status", "paid") == "paid":
                    return intent
    return None


def count(payment: Payment, event_id: str) -> str:
    """Count a payment once for its campaign, or keep it for review."""
    if payment.frequency == "monthly" and not payment.payment_intent_id:
        payment = replace(payment, payment_intent_id=_linked_intent(payment.external_key))
    campaign = _campaign(payment.campaign_slug)
    if campaign is None:
        return keep_for_review(payment, "unassigned", event_id)
    if payment.currency.upper() != campaign.currency.upper():
        return keep_for_review(payment, "currency", event_id)
    existing = donation_by_key(payment.external_key)
    if existing is not None:
        return _update_counted(existing, payment)
    donation = record_payment(campaign, payment)
    _resolve_review(payment.external_key, donation)
    return "counted"


def record_payment(campaign: Campaign, payment: Payment) -> Donation:
    """Record the donation with any refund or dispute that came first."""
    refunded, disputed = pending_adjustment(payment.payment_intent_id)
    # No savepoint: under the event's locks no other delivery can count this key, and if
    # something else did (an admin assigning it at that instant), Donation.external_key
    # refuses the row, the event stays stored unapplied and its redelivery finds it counted.
    donation = services.record_donation(
        campaign,
        amount_minor=payments.from_stripe_amount(payment.amount, payment.currency),
        received_at=payment.created_at,
        source="stripe",
        external_key=payment.external_key,
        currency=payment.currency,
        payment_intent_id=payment.payment_intent_id,
        frequency=payment.frequency,
        refunded_minor=refunded,
        disputed_minor=disputed,
    )
    return donation


def _update_counted(donation: Donation, payment: Payment) -> str:
    outcome = "already_counted"
    if payment.payment_intent_id and not donation.payment_intent_id:
        donation.payment_intent_id = payment.payment_intent_id
        _apply_adjustment(donation)
        outcome = "already_counted_linked"
    if payment.own_time and donation.received_at != payment.created_at:
        services.move_donation(donation, payment.created_at)
        outcome = "already_counted_refiled"
    db.session.flush()
    return outcome


def keep_for_review(payment: Payment, reason: str, event_id: str) -> str:
    """Keep a payment for an admin (unassigned, foreign currency, other mode), once."""
    if reason != "livemode" and donation_by_key(payment.external_key) is not None:
        return "already_counted"
    existing = db.session.execute(
        select(ReviewPayment).where(ReviewPayment.external_key == payment.external_key)
    ).scalar_one_or_none()
    if existing is not None:
        return f"review_{existing.reason}_kept"
    row = ReviewPayment(
        external_key=payment.external_key,
        payment_intent_id=payment.payment_intent_id,
        reason=reason,
        campaign_slug=(payment.campaign_slug or None) and payment.campaign_slug[:255],
        amount_minor=payments.from_stripe_amount(payment.amount, payment.currency),
        currency=payment.currency,
        frequency=payment.frequency,
        received_at=payment.created_at,
        livemode=payment.livemode,
        event_id=event_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return f"review_{reason}_kept"
    log.info("payment kept for review reason=%s event=%s", reason, event_id)
    return f"review_{reason}"


def _resolve_review(external_key: str, donation: Donation) -> None:
    # A payment first kept as unassigned (say, a checkout without metadata) and then
    # counted from another event that names the campaign: the review row is settled.
    row = db.session.execute(
        select(ReviewPayment).where(
            ReviewPayment.external_key == external_key,
            ReviewPayment.resolved_at.is_(None),
            ReviewPayment.reason != "livemode",
        )
    ).scalar_one_or_none()
    if row is not None:
        row.resolved_at = services.now()
        row.donation_id = donation.id


# --- refunds and disputes ------------------------------------------------------


def apply_refund(charge: dict[str, Any]) -> str:
    """charge.refunded: the cumulative amount refunded replaces the previous figure."""
    intent = _id(charge.get("payment_intent"))
    if not intent:
        return "ignored_no_payment_intent"
    refunded = charge.get("amount_refunded")
    currency = charge.get("currency")
    if not isinstance(refunded, int) or isinstance(refunded, bool) or refunded < 0:
        return "ignored_no_amount"
    if not isinstance(currency, str):
        return "ignored_no_currency"
    adjustment = adjustment_for(intent)
    adjustment.charge_id = (_id(charge) or adjustment.charge_id or "")[:255] or None
    invoice_id = _id(charge.get("invoice"))  # API versions before 2025-03-31
    if invoice_id:
        adjustment.invoice_id = invoice_id[:255]
    adjustment.refunded_minor = max(
        adjustment.refunded_minor, payments.from_stripe_amount(refunded, currency)
    )
    adjustment.updated_at = services.now()
    db.session.flush()
    donation = donation_for_intent(intent)
    if donation is None:
        return "refund_pending"
    _apply_adjustment(donation)
    return "refund_applied"


def apply_dispute(dispute: dict[str, Any], event_at: datetime) -> str:
    """charge.dispute.closed: `lost` takes the amount out, a later decision puts it back."""
    status = dispute.get("status")
    if not isinstance(status, str):
        return "ignored_no_status"
    intent = _id(dispute.get("payment_intent"))
    if not intent:
        charge_id = _id(dispute.get("charge"))
        known = (
            db.session.execute(
                select(PaymentAdjustment).where(PaymentAdjustment.charge_id == charge_id)
            ).scalar_one_or_none()
            if charge_id
            else None
        )
        if known is None:
            return "ignored_no_payment_intent"
        intent = known.payment_intent_id
    amount = dispute.get("amount")
    currency = dispute.get("currency")
    if status == "lost" and (not isinstance(amount, int) or not isinstance(currency, str)):
        return "ignored_no_amount"
    adjustment = adjustment_for(intent)
    if adjustment.dispute_event_at is not None and _dispute_order(
        event_at, status
    ) < _dispute_order(adjustment.dispute_event_at, adjustment.dispute_status):
        return "dispute_stale"
    adjustment.dispute_status = status[:32]
    adjustment.dispute_event_at = event_at
    adjustment.disputed_minor = (
        payments.from_stripe_amount(amount, currency) if status == "lost" else 0  # type: ignore[arg-type]
    )
    adjustment.updated_at = services.now()
    db.session.flush()
    donation = donation_for_intent(intent)
    if donation is None:
        return "dispute_pending"
    _apply_adjustment(donation)
    return f"dispute_{status}"[:64]


def apply_invoice_payment(obj: dict[str, Any]) -> str:
    """invoice_payment.paid: which PaymentIntent paid which invoice (counts nothing itself).

    Newer API versions name this link nowhere else; refunds and disputes arrive by
    PaymentIntent while monthly donations are keyed by invoice.
    """
    if obj.get("status", "paid") != "paid":
        return "ignored_unpaid"
    payment = obj.get("payment")
    intent = _id(payment.get("payment_intent")) if isinstance(payment, dict) else None
    invoice_id = _id(obj.get("invoice"))
    if not intent or not invoice_id:
        return "ignored_no_payment_intent"
    adjustment = adjustment_for(intent)
    adjustment.invoice_id = invoice_id[:255]
    adjustment.updated_at = services.now()
    # A monthly payment kept for review: the admin who assigns it needs the link too.
    db.session.execute(
        update(ReviewPayment)
        .where(ReviewPayment.external_key == invoice_id, ReviewPayment.payment_intent_id.is_(None))
        .values(payment_intent_id=intent[:255])
    )
    db.session.flush()
    donation = donation_for_intent(intent)
    if donation is None:
        return "invoice_link_pending"
    return "invoice_linked"


def _linked_intent(invoice_id: str) -> str | None:
    result: str | None = (
        db.session.execute(
            select(PaymentAdjustment.payment_intent_id)
            .where(PaymentAdjustment.invoice_id == invoice_id)
            .order_by(PaymentAdjustment.id)
        )
        .scalars()
        .first()
    )
    return result


def _dispute_order(at: datetime, status: str | None) -> tuple[datetime, int]:
    # The latest decision wins; two in the same second: a win (restoring) beats a loss.
    return (at, 0 if status == "lost" else 1)


def adjustment_for(payment_intent_id: str) -> PaymentAdjustment:
    """The refund/dispute row of a PaymentIntent, created when missing."""
    found = _adjustment(payment_intent_id)
    if found is not None:
        return found
    row = PaymentAdjustment(
        payment_intent_id=payment_intent_id[:255],
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
    # Only a lost dispute takes money out (SPEC); a won or open one does not.
    disputed = found.disputed_minor if found.dispute_status in (None, "lost") else 0
    return found.refunded_minor, disputed


def _adjustment(payment_intent_id: str) -> PaymentAdjustment | None:
    result: PaymentAdjustment | None = db.session.execute(
        select(PaymentAdjustment).where(PaymentAdjustment.payment_intent_id == payment_intent_id)
    ).scalar_one_or_none()
    return result


def _apply_adjustment(donation: Donation) -> None:
    refunded, disputed = pending_adjustment(donation.payment_intent_id)
    services.adjust_donation(donation, refunded_minor=refunded, disputed_minor=disputed)


# --- lookups -------------------------------------------------------------------


def donation_by_key(external_key: str) -> Donation | None:
    """The donation counted under this key, row-locked (FOR UPDATE) on PostgreSQL."""
    result: Donation | None = db.session.execute(
        select(Donation)
        .where(Donation.external_key == external_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    return result


def donation_for_intent(payment_intent_id: str) -> Donation | None:
    """The Stripe donation this PaymentIntent paid; links an invoice's donation when known.

    A newly linked donation gets the refund and dispute figures already kept for it. The
    row is locked (FOR UPDATE) on PostgreSQL and read fresh, so two events holding different
    keys that reach the same donation (two PaymentIntents of one invoice) take turns.
    """
    found: Donation | None = (
        db.session.execute(
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
        )
        .scalars()
        .first()
    )
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


def _metadata_campaign(metadata: Any) -> str | None:
    if not isinstance(metadata, dict):
        return None
    value = metadata.get("campaign")
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _id(value: Any) -> str | None:
    """An object's id, whether the payload holds the id or the expanded object."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"]) or None
    return None


def _instant(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)
