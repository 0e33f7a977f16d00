"""Stripe's event payloads turned into typed values: the only code that knows their fields.

`load` parses a body (400 for what cannot be parsed), `envelope` reads what every event has
(400 when it cannot be stored under its id), and `parse_event` turns the object of a
handled type into one fact for the ledger (tracker.ledger): a Payment, Refund, Dispute,
InvoiceLink, SubscriptionState or FailedRenewal (tracker.payments.subscriptions), or
Ignored with the reason. Amounts come out in our
minor units (units.from_stripe, with the payload's own currency); times as aware UTC
datetimes.

A signed event that can never apply, whatever the retries, raises Rejected with its
reason: an amount past 10^12 minor units, a time out of range, text that is not valid
Unicode, or any shape that contradicts Stripe's (a float where Stripe sends an integer, an
id that is not an id). Fields that Stripe may leave empty are optional here too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracker.payments import subscriptions
from tracker.payments.fields import (
    Reader,
    Rejected,
    attribution,
    campaign_of,
    in_range,
    invoice_metadata,
    invoice_subscription,
    is_int,
    shown,
    unix,
)
from tracker.payments.subscriptions import FailedRenewal, SubscriptionState

CHECKOUT_PAID = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)
COUNTED = CHECKOUT_PAID | {"payment_intent.succeeded", "invoice.paid"}
HANDLED = (
    COUNTED
    | {"invoice_payment.paid", "charge.refunded", "charge.dispute.closed"}
    | subscriptions.HANDLED
)

MAX_DEPTH = 100
_EVENT_ID_RE = re.compile(r"evt_[A-Za-z0-9_]{1,251}")
_TYPE_RE = re.compile(r"[a-z0-9_.]{1,100}")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[^\[\]{}]+")


class EventError(ValueError):
    """A body that is not a Stripe event we can store (answered 400)."""


# --- the facts -------------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    """A paid object: one donation, keyed by its PaymentIntent (one-off) or invoice (monthly)."""

    key: str  # pi_..., in_..., or the Checkout Session's id while it names no PaymentIntent
    payment_intent_id: str | None
    amount_minor: int
    currency: str  # upper-case, as Stripe sent it (maybe not the campaign's)
    campaign: str | None  # metadata.campaign, as given
    frequency: str  # "once" | "monthly"
    paid_at: datetime
    # True when `paid_at` is the PaymentIntent's or invoice's own (a Checkout Session's is
    # not: its PaymentIntent may be made later, even in the next month).
    own_time: bool
    subscription_id: str | None = None
    attribution: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Refund:
    """charge.refunded: the cumulative amount refunded of a PaymentIntent's charge."""

    payment_intent_id: str
    charge_id: str | None
    invoice_id: str | None
    refunded_minor: int
    currency: str


@dataclass(frozen=True)
class Dispute:
    """charge.dispute.closed: won, lost or another final status, decided at `decided_at`."""

    payment_intent_id: str | None
    charge_id: str | None
    status: str
    amount_minor: int
    currency: str
    decided_at: datetime

    @property
    def taken_minor(self) -> int:
        """What the dispute takes from the donation: its amount when lost (SPEC), else 0 (a
        won or other decision puts it back). The one place this rule lives."""
        return self.amount_minor if self.status == "lost" else 0


@dataclass(frozen=True)
class InvoiceLink:
    """invoice_payment.paid: this PaymentIntent paid this invoice (newer API versions)."""

    invoice_id: str
    payment_intent_id: str


@dataclass(frozen=True)
class Ignored:
    """An event that changes nothing here, and why."""

    reason: str


Fact = Payment | Refund | Dispute | InvoiceLink | SubscriptionState | FailedRenewal | Ignored


@dataclass(frozen=True)
class Envelope:
    """What every Stripe event carries; `created_at` None when it is out of range."""

    id: str
    type: str
    created_at: datetime | None
    livemode: bool


# --- bodies and envelopes --------------------------------------------------------


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when JSON text nests arrays and objects more than `limit` levels deep."""
    depth = 0
    for char in _BRACKETS.sub("", _STRINGS.sub("", text)):
        depth += 1 if char in "[{" else -1
        if depth > limit:
            return True
    return False


def load(text: str) -> dict[str, Any]:
    """Parse a webhook body into a dict (EventError when it is not a JSON object)."""
    if too_deep(text):
        raise EventError(f"body is nested more than {MAX_DEPTH} levels deep")
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise EventError("body is not JSON") from exc
    if not isinstance(event, dict):
        raise EventError("body is not a JSON object")
    return event


def envelope(event: dict[str, Any]) -> Envelope:
    """The event's id, type, time and mode; EventError when it cannot be stored under its id."""
    event_id = event.get("id")
    if not isinstance(event_id, str) or not _EVENT_ID_RE.fullmatch(event_id):
        raise EventError("not a Stripe event: 'id' must be an evt_... id")
    kind = event.get("type")
    if not isinstance(kind, str) or not _TYPE_RE.fullmatch(kind):
        raise EventError("not a Stripe event: 'type' must be an event type like invoice.paid")
    created = event.get("created")
    created_at = unix(created) if is_int(created) else None
    livemode = event.get("livemode")
    return Envelope(event_id, kind, created_at, livemode if isinstance(livemode, bool) else False)


def parse_event(event: dict[str, Any], now: datetime) -> Fact:
    """The fact a Stripe event reports (Rejected when it can never apply)."""
    head = envelope(event)
    if not isinstance(event.get("livemode"), bool):
        raise Rejected("'livemode' is not true or false")
    if head.created_at is None or not in_range(head.created_at, now):
        raise Rejected(f"the event's 'created' is out of range: {shown(event.get('created'))}")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise Rejected("'data.object' is not an object")
    if head.type not in HANDLED:
        return Ignored("ignored_type")
    return _fact(head.type, Reader(obj, now), head.id, head.created_at)


def parse_object(kind: str, obj: dict[str, Any], now: datetime) -> Fact:
    """The fact an event of type `kind` carrying `obj` would report (Rejected if none can),
    for objects read from Stripe's API rather than delivered (tracker.payments.records)."""
    if kind not in HANDLED:
        return Ignored("ignored_type")
    read = Reader(obj, now)
    return _fact(kind, read, "", read.instant("created"))


def _fact(kind: str, read: Reader, event_id: str, created: datetime) -> Fact:
    if kind in CHECKOUT_PAID:
        return _checkout(read)
    if kind == "payment_intent.succeeded":
        return _payment_intent(read)
    if kind == "invoice.paid":
        return _invoice(read)
    if kind == "invoice_payment.paid":
        return _invoice_link(read)
    if kind == "charge.refunded":
        return _refund(read)
    if kind in subscriptions.STATES:
        return subscriptions.state(read, kind, event_id, created)
    if kind == subscriptions.FAILED:
        failed = subscriptions.failed_renewal(read, created)
        return failed or Ignored("ignored_no_subscription")
    return _dispute(read, created)


# --- each type -------------------------------------------------------------------


def _checkout(read: Reader) -> Fact:
    if read.token("mode") != "payment":
        return Ignored("ignored_subscription_checkout")  # its invoices count, not it
    if read.token("payment_status") != "paid":
        return Ignored("ignored_unpaid")
    intent = read.id("payment_intent")
    currency = read.currency("currency")
    amount = read.amount("amount_total", currency)
    if amount == 0:
        return Ignored("ignored_zero_amount")
    metadata = read.metadata("metadata")
    return Payment(
        key=intent or read.required_id("id"),
        payment_intent_id=intent,
        amount_minor=amount,
        currency=currency,
        campaign=campaign_of(metadata),
        frequency="once",
        paid_at=read.instant("created"),
        own_time=False,
        attribution=attribution(metadata),
    )


def _payment_intent(read: Reader) -> Fact:
    metadata = read.metadata("metadata")
    campaign = campaign_of(metadata)
    if campaign is None:  # an invoice's, or another product's: not ours to count
        return Ignored("ignored_no_campaign")
    intent = read.required_id("id")
    currency = read.currency("currency")
    amount = read.amount("amount_received", currency) or read.amount("amount", currency)
    if amount == 0:
        return Ignored("ignored_zero_amount")
    return Payment(
        key=intent,
        payment_intent_id=intent,
        amount_minor=amount,
        currency=currency,
        campaign=campaign,
        frequency="once",
        paid_at=read.instant("created"),
        own_time=True,
        attribution=attribution(metadata),
    )


def _invoice(read: Reader) -> Fact:
    invoice_id = read.required_id("id")
    currency = read.currency("currency")
    amount = read.amount("amount_paid", currency)
    if amount == 0:  # a free trial's, say
        return Ignored("ignored_zero_amount")
    metadata = invoice_metadata(read)
    return Payment(
        key=invoice_id,
        payment_intent_id=_invoice_intent(read),
        amount_minor=amount,
        currency=currency,
        campaign=campaign_of(metadata),
        frequency="monthly",
        paid_at=read.instant("created"),
        own_time=True,
        subscription_id=invoice_subscription(read),
        attribution=attribution(metadata),
    )


def _invoice_link(read: Reader) -> Fact:
    if read.token("status") not in (None, "paid"):
        return Ignored("ignored_unpaid")
    payment = read.child("payment")
    intent = payment.id("payment_intent") if payment else None
    invoice_id = read.id("invoice")
    if not intent or not invoice_id:
        return Ignored("ignored_no_payment_intent")
    return InvoiceLink(invoice_id=invoice_id, payment_intent_id=intent)


def _refund(read: Reader) -> Fact:
    intent = read.id("payment_intent")
    if not intent:
        return Ignored("ignored_no_payment_intent")
    currency = read.currency("currency")
    return Refund(
        payment_intent_id=intent,
        charge_id=read.id("id"),
        invoice_id=read.id("invoice"),  # API versions before 2025-03-31
        refunded_minor=read.amount("amount_refunded", currency),
        currency=currency,
    )


def _dispute(read: Reader, decided_at: datetime) -> Fact:
    status = read.token("status")
    if not status:
        raise Rejected("a dispute without a 'status'")
    currency = read.currency("currency")
    return Dispute(
        payment_intent_id=read.id("payment_intent"),
        charge_id=read.id("charge"),
        status=status,
        amount_minor=read.amount("amount", currency),
        currency=currency,
        decided_at=decided_at,
    )


def _invoice_intent(read: Reader) -> str | None:
    """The PaymentIntent that paid an invoice, when the payload names it."""
    intent = read.id("payment_intent")  # API versions before 2025-03-31
    if intent:
        return intent
    payments = read.child("payments")
    for item in payments.list_of("data") if payments else []:
        payment = item.child("payment")
        intent = payment.id("payment_intent") if payment else None
        if intent and item.token("status") in (None, "paid"):
            return intent
    return None
