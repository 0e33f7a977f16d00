"""The Stripe inbox: every event stored once, raw, before its effect; then applied or rejected.

One path on both databases, for every way an event arrives (webhook, `tracker reprocess`;
the argument is in docs/ledger.md):

1. store the raw event: `INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id`. A second
   delivery of the same id waits for the first one's transaction (PostgreSQL: the primary
   key; SQLite: the write lock, which the INSERT takes) and inserts nothing;
2. an event this delivery did not insert is read back, row-locked: applied or rejected
   already, it is a repeat (answered 200, nothing changes); else it was stored before and
   not applied, and is applied now;
3. take the fact's locks (tracker.ledger_locks), then apply it (tracker.ledger) inside a
   savepoint, so that what fails there leaves the event stored and pending for a
   redelivery or `tracker reprocess`. A signed event that can never apply is kept as
   `rejected` with its reason, for an admin to see.

The caller commits: the event and its effect land together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tracker import ledger, ledger_locks, payments, services
from tracker.domain import money
from tracker.domain.text import visible
from tracker.errors import error_document
from tracker.extensions import db
from tracker.models import StripeEvent
from tracker.observability import WEBHOOK_EVENTS

log = logging.getLogger(__name__)

STUCK_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Receipt:
    """What happened to one delivery."""

    event_id: str
    duplicate: bool
    outcome: str
    # False: stored, but neither applied nor rejected (a redelivery or reprocess may mend it).
    settled: bool = True
    # True when this call applied or rejected it (a repeat of a settled event: False).
    changed: bool = True


# --- receiving -----------------------------------------------------------------


SOURCES = ("webhook", "api", "reconcile")


def receive(event: dict[str, Any], payload: str, source: str = "webhook") -> Receipt:
    """Store the event under its id unless stored already, then apply it if still pending.

    `source` says how it came: a signed webhook, Stripe's events API (`tracker
    sync-stripe`, authenticated by the API key), or an object `tracker reconcile --apply`
    read from Stripe. EventError when the body cannot be stored under an event id. The
    caller commits.
    """
    head = payments.envelope(event)
    fact = _parse(event)
    if not _store(head, payload, source):
        stored = _locked(head.id)
        if stored is None:  # deleted between the two statements: nothing to repeat
            raise payments.EventError(f"event {head.id} vanished while it was read")
        if _settled(stored):
            log.info("stripe event repeated event=%s", head.id)
            return Receipt(head.id, True, stored.outcome or "", changed=False)
        return _settle(head, fact, duplicate=True)
    return _settle(head, fact, duplicate=False)


def apply_pending(event_id: str) -> Receipt:
    """Apply one stored event if it is still pending (the caller commits)."""
    ledger_locks.write_lock()
    stored = _locked(event_id)
    if stored is None:
        raise LookupError(f"no stored event {event_id!r}")
    if _settled(stored):
        return Receipt(stored.id, True, stored.outcome or "", changed=False)
    try:
        event = payments.load(stored.payload)
        head = payments.envelope(event)
    except payments.EventError as exc:
        return _reject(event_id, str(exc), duplicate=True)
    return _settle(head, _parse(event), duplicate=True)


def _parse(event: dict[str, Any]) -> payments.Fact | payments.Rejected:
    try:
        return payments.parse_event(event, services.now())
    except payments.Rejected as exc:
        return exc


def _store(head: payments.Envelope, payload: str, source: str) -> bool:
    """Insert the raw event unless its id is stored; True when this call inserted it."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(StripeEvent)
        .values(
            id=head.id,
            type=head.type,
            livemode=head.livemode,
            created=head.created_at,
            payload=payload,
            received_at=services.now(),
            source=source,
        )
        .on_conflict_do_nothing(index_elements=[StripeEvent.id])
        .returning(StripeEvent.id)
    )
    return db.session.execute(statement).first() is not None


def _locked(event_id: str) -> StripeEvent | None:
    return db.session.scalar(
        select(StripeEvent)
        .where(StripeEvent.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _settled(stored: StripeEvent) -> bool:
    return stored.applied_at is not None or stored.rejected_at is not None


def _settle(
    head: payments.Envelope, fact: payments.Fact | payments.Rejected, *, duplicate: bool
) -> Receipt:
    if isinstance(fact, payments.Rejected):
        return _reject(head.id, str(fact), duplicate=duplicate)
    ledger_locks.take(fact)
    try:
        with db.session.begin_nested():
            outcome = ledger.apply(fact, head.id, head.livemode)
    except (payments.Rejected, money.AmountError) as exc:
        return _reject(head.id, str(exc), duplicate=duplicate)
    except Exception:
        log.exception("stripe event not applied event=%s type=%s", head.id, head.type)
        _mark(head.id, outcome="failed")
        return Receipt(head.id, duplicate, "failed", settled=False, changed=False)
    _mark(head.id, outcome=outcome, applied_at=services.now())
    log.info("stripe event applied event=%s type=%s outcome=%s", head.id, head.type, outcome)
    return Receipt(head.id, duplicate, outcome)


def _reject(event_id: str, reason: str, *, duplicate: bool) -> Receipt:
    _mark(event_id, outcome="rejected", rejected_at=services.now(), reason=visible(reason)[:500])
    log.warning("stripe event rejected event=%s: %s", event_id, visible(reason)[:200])
    return Receipt(event_id, duplicate, "rejected")


def _mark(event_id: str, **values: Any) -> None:
    db.session.execute(update(StripeEvent).where(StripeEvent.id == event_id).values(**values))


# --- what is left --------------------------------------------------------------


def pending_event_ids() -> list[str]:
    """Stored events neither applied nor rejected, oldest first."""
    return list(
        db.session.scalars(
            select(StripeEvent.id)
            .where(StripeEvent.applied_at.is_(None), StripeEvent.rejected_at.is_(None))
            .order_by(StripeEvent.received_at, StripeEvent.id)
        )
    )


def stuck_events(now: datetime) -> list[StripeEvent]:
    """Events stored more than an hour ago and still neither applied nor rejected."""
    return list(
        db.session.scalars(
            select(StripeEvent)
            .where(
                StripeEvent.applied_at.is_(None),
                StripeEvent.rejected_at.is_(None),
                StripeEvent.received_at < now - STUCK_AFTER,
            )
            .order_by(StripeEvent.received_at, StripeEvent.id)
        )
    )


def rejected_events(include_seen: bool = False) -> list[StripeEvent]:
    """Events that can never apply, newest first (those an admin marked seen when asked)."""
    query = select(StripeEvent).where(StripeEvent.rejected_at.is_not(None))
    if not include_seen:
        query = query.where(StripeEvent.seen_at.is_(None))
    return list(db.session.scalars(query.order_by(StripeEvent.rejected_at.desc()).limit(200)))


def count_rejected_unseen() -> int:
    """How many rejected events no admin has marked seen."""
    return int(
        db.session.scalar(
            select(func.count(StripeEvent.id)).where(
                StripeEvent.rejected_at.is_not(None), StripeEvent.seen_at.is_(None)
            )
        )
        or 0
    )


def mark_seen(event_id: str) -> StripeEvent:
    """Note that an admin has looked at a rejected event."""
    stored = db.session.get(StripeEvent, event_id)
    if stored is None or stored.rejected_at is None:
        raise services.NotFound(f"no rejected event {event_id[:80]!r}")
    if stored.seen_at is None:
        stored.seen_at = services.now()
    db.session.flush()
    return stored


# --- the webhook ---------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What to tell Stripe: the status and the JSON document."""

    status: int
    document: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def deliver(payload: bytes, signature: str | None) -> Answer:
    """Verify one webhook delivery, store and apply its event, and commit.

    Raises what the database raises (the error handler rolls back and answers 5xx, so
    Stripe retries).
    """
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        log.error("stripe webhook refused: STRIPE_WEBHOOK_SECRET is not set")
        return Answer(503, error_document(503, "webhooks are not configured on this server"))
    try:
        event = payments.verify_event(payload, signature, secret)
        receipt = receive(event, payload.decode("utf-8"))
    except (payments.SignatureError, payments.EventError) as exc:
        db.session.rollback()
        log.warning("stripe webhook refused: %s", exc)
        WEBHOOK_EVENTS.labels("?", "refused").inc()
        return Answer(400, error_document(400, str(exc)))
    db.session.commit()
    kind = str(event.get("type"))[:100]
    WEBHOOK_EVENTS.labels(kind, "repeat" if receipt.duplicate else receipt.outcome[:32]).inc()
    if not receipt.settled:
        # Stored durably, not applied: a 5xx makes Stripe deliver it again.
        message = "event stored but not applied; it will be applied on redelivery"
        return Answer(500, error_document(500, message, "not_applied"))
    return Answer(
        200,
        {
            "received": True,
            "id": receipt.event_id,
            "duplicate": receipt.duplicate,
            "outcome": receipt.outcome,
        },
    )
