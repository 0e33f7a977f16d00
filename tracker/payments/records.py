"""Stripe's own objects as records to compare with the ledger (`tracker reconcile`).

A PaymentIntent (with its `latest_charge` expanded) or a paid invoice (with its `payments`
expanded) becomes a `StripeRecord`: the key the ledger files it under, its campaign, amount
and refunded amount in our minor units. Both are read by the same field readers as the
webhook's events (tracker.payments.events), so an object and the event that carries it say
the same thing. `as_event` wraps an object as the event Stripe sends about it, so that
`reconcile --apply` records what is missing through the one ledger path (tracker.inbox),
under an id of its own (`evt_reconcile_…`) that says where it came from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracker.payments import events
from tracker.payments.fields import Reader, Rejected, campaign_of


@dataclass(frozen=True)
class StripeRecord:
    """One payment as Stripe holds it: a one-off PaymentIntent or a paid invoice."""

    key: str  # the PaymentIntent id (one-off) or the invoice id (monthly), as the ledger's
    payment_intent_id: str | None
    campaign: str | None
    frequency: str  # "once" | "monthly" | "intent" (a PaymentIntent of no campaign)
    amount_minor: int
    currency: str
    created_at: datetime
    refunded_minor: int
    charge_id: str | None
    disputed: bool  # the charge has a dispute (its status is read apart)


def intent_record(obj: dict[str, Any], now: datetime) -> StripeRecord | None:
    """A succeeded PaymentIntent as a record; None for any other status."""
    read = Reader(obj, now)
    if read.token("status") != "succeeded":
        return None
    intent = read.required_id("id")
    currency = read.currency("currency")
    campaign = campaign_of(read.metadata("metadata"))
    charge = read.child("latest_charge")
    refund = events.parse_object("charge.refunded", charge.obj, now) if charge else None
    return StripeRecord(
        key=intent,
        payment_intent_id=intent,
        campaign=campaign,
        frequency="once" if campaign else "intent",
        amount_minor=read.amount("amount_received", currency) or read.amount("amount", currency),
        currency=currency,
        created_at=read.instant("created"),
        refunded_minor=refund.refunded_minor if isinstance(refund, events.Refund) else 0,
        charge_id=charge.id("id") if charge else None,
        disputed=charge.flag("disputed") if charge else False,
    )


def invoice_record(obj: dict[str, Any], now: datetime) -> StripeRecord | None:
    """A paid invoice as a record (its refunds are its PaymentIntent's); None if unpaid."""
    payment = events.parse_object("invoice.paid", obj, now)
    if not isinstance(payment, events.Payment):
        return None
    return StripeRecord(
        key=payment.key,
        payment_intent_id=payment.payment_intent_id,
        campaign=payment.campaign,
        frequency="monthly",
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        created_at=payment.paid_at,
        refunded_minor=0,
        charge_id=None,
        disputed=False,
    )


def lost_amount(obj: dict[str, Any], now: datetime) -> int:
    """What a dispute took (its amount when lost, else 0)."""
    dispute = events.parse_object("charge.dispute.closed", obj, now)
    return dispute.taken_minor if isinstance(dispute, events.Dispute) else 0


def as_event(kind: str, obj: dict[str, Any], livemode: bool) -> dict[str, Any]:
    """The event Stripe sends about `obj`, under an id made from the object's state (the
    same state gives the same id, so recording it twice changes nothing)."""
    if kind not in events.HANDLED:
        raise Rejected(f"not an event type tracker handles: {kind}")
    state = json.dumps(obj, sort_keys=True, default=str).encode()
    digest = hashlib.blake2b(state, digest_size=10).hexdigest()
    created = obj.get("created")
    return {
        "id": f"evt_reconcile_{digest}",
        "object": "event",
        "type": kind,
        "created": created,
        "livemode": livemode,
        "data": {"object": obj},
    }


# --- following one payment (reconcile --apply) -----------------------------------


def invoice_intent_id(invoice: dict[str, Any]) -> str | None:
    """The PaymentIntent that paid an invoice, wherever this API version names it."""
    found = invoice.get("payment_intent")
    if isinstance(found, str) and found:
        return found
    payments = invoice.get("payments")
    for item in payments.get("data", []) if isinstance(payments, dict) else []:
        payment = item.get("payment") if isinstance(item, dict) else None
        if isinstance(payment, dict) and isinstance(payment.get("payment_intent"), str):
            return str(payment["payment_intent"])
    return None


def invoice_link(invoice: dict[str, Any], intent_id: str) -> dict[str, Any]:
    """The invoice_payment object of newer API versions that links an invoice to its
    PaymentIntent (older ones name it on the invoice)."""
    invoice_id = str(invoice.get("id"))
    return {
        "object": "invoice_payment",
        "id": f"inpay_{invoice_id[3:]}",
        "invoice": invoice_id,
        "status": "paid",
        "created": invoice.get("created"),
        "payment": {"type": "payment_intent", "payment_intent": intent_id},
    }


def charge_of(intent: dict[str, Any]) -> dict[str, Any] | None:
    """A PaymentIntent's latest charge, when it was expanded."""
    charge = intent.get("latest_charge")
    return charge if isinstance(charge, dict) else None


def refunded(charge: dict[str, Any]) -> bool:
    return bool(charge.get("amount_refunded"))


def disputed_charge(charge: dict[str, Any]) -> str | None:
    """The charge's id when it has a dispute."""
    charge_id = charge.get("id")
    return str(charge_id) if charge.get("disputed") and charge_id else None
