"""Stripe webhook events built from Stripe's own example objects, signed like Stripe signs.

What the app sends to Stripe is answered by the stand-in API of tests/stripe_api.py.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from tests.conftest import WEBHOOK_SECRET

OBJECTS = Path(__file__).parent / "fixtures" / "stripe" / "objects.json"


@cache
def _resources() -> dict[str, Any]:
    return json.loads(OBJECTS.read_text())["resources"]


def example(kind: str) -> dict[str, Any]:
    """A fresh deep copy of Stripe's example object of this kind."""
    return copy.deepcopy(_resources()[kind])


def unix(at: datetime | int) -> int:
    return at if isinstance(at, int) else int(at.timestamp())


def event(
    kind: str,
    obj: dict[str, Any],
    *,
    event_id: str,
    created: datetime | int | None = None,
    livemode: bool = False,
) -> dict[str, Any]:
    """A webhook event wrapping `obj` (created defaults to the object's own)."""
    evt = example("event")
    evt.update(
        id=event_id,
        type=kind,
        created=unix(created) if created is not None else obj.get("created", 0),
        livemode=livemode,
        api_version="2025-03-31.basil",
        data={"object": obj},
    )
    obj["livemode"] = livemode
    return evt


def checkout_session(
    *,
    session_id: str,
    payment_intent: str | None,
    amount: int,
    created: datetime | int,
    currency: str = "usd",
    campaign: str | None = "southfront",
    mode: str = "payment",
    payment_status: str = "paid",
) -> dict[str, Any]:
    obj = example("checkout.session")
    obj.update(
        id=session_id,
        payment_intent=payment_intent,
        amount_total=amount,
        amount_subtotal=amount,
        currency=currency,
        created=unix(created),
        mode=mode,
        payment_status=payment_status,
        status="complete",
        metadata={"campaign": campaign} if campaign else {},
        adaptive_pricing={"enabled": False},
        subscription=None if mode == "payment" else "sub_" + session_id[3:],
    )
    return obj


def payment_intent(
    *,
    intent_id: str,
    amount: int,
    created: datetime | int,
    currency: str = "usd",
    campaign: str | None = "southfront",
) -> dict[str, Any]:
    obj = example("payment_intent")
    obj.update(
        id=intent_id,
        amount=amount,
        amount_received=amount,
        currency=currency,
        created=unix(created),
        status="succeeded",
        canceled_at=None,
        last_payment_error=None,
        next_action=None,
        metadata={"campaign": campaign} if campaign else {},
    )
    return obj


def invoice(
    *,
    invoice_id: str,
    amount_paid: int,
    created: datetime | int,
    currency: str = "usd",
    campaign: str | None = "southfront",
    shape: str = "parent",
    payment_intent: str | None = None,
) -> dict[str, Any]:
    """A paid subscription invoice; `shape` puts the campaign where an API version does:
    "parent" (parent.subscription_details, 2025+), "legacy" (subscription_details),
    "own" (the invoice's metadata), or "payments" (parent, and the PaymentIntent under
    payments.data[]); `payment_intent` alone puts it at invoice.payment_intent (older API)."""
    obj = example("invoice")
    meta = {"campaign": campaign} if campaign else {}
    obj.update(
        id=invoice_id,
        amount_paid=amount_paid,
        amount_due=amount_paid,
        amount_remaining=0,
        total=amount_paid,
        subtotal=amount_paid,
        currency=currency,
        created=unix(created),
        status="paid",
        billing_reason="subscription_cycle",
        metadata={},
    )
    obj["parent"] = {
        "quote_details": None,
        "subscription_details": {"metadata": {}, "subscription": "sub_" + invoice_id[3:]},
        "type": "subscription_details",
    }
    if shape in ("parent", "payments"):
        obj["parent"]["subscription_details"]["metadata"] = meta
    elif shape == "legacy":
        del obj["parent"]
        obj["subscription_details"] = {"metadata": meta}
    elif shape == "own":
        obj["metadata"] = meta
    if payment_intent and shape == "payments":
        obj["payments"] = {
            "object": "list",
            "data": [
                {
                    "object": "invoice_payment",
                    "status": "paid",
                    "payment": {"type": "payment_intent", "payment_intent": payment_intent},
                }
            ],
            "has_more": False,
        }
    elif payment_intent:
        obj["payment_intent"] = payment_intent
    return obj


def invoice_payment(
    *,
    invoice_id: str,
    payment_intent: str,
    amount: int,
    created: datetime | int,
    currency: str = "usd",
) -> dict[str, Any]:
    """The link newer API versions send (invoice_payment.paid): this PaymentIntent paid it."""
    obj = example("invoice_payment")
    obj.update(
        id="inpay_" + invoice_id[3:],
        invoice=invoice_id,
        amount_paid=amount,
        amount_requested=amount,
        currency=currency,
        created=unix(created),
        status="paid",
        payment={"type": "payment_intent", "payment_intent": payment_intent},
    )
    return obj


def charge(
    *,
    charge_id: str,
    payment_intent: str | None,
    amount: int,
    amount_refunded: int,
    created: datetime | int,
    currency: str = "usd",
    invoice: str | None = None,
) -> dict[str, Any]:
    obj = example("charge")
    obj.update(
        id=charge_id,
        payment_intent=payment_intent,
        amount=amount,
        amount_captured=amount,
        amount_refunded=amount_refunded,
        refunded=amount_refunded >= amount,
        currency=currency,
        created=unix(created),
        captured=True,
    )
    if invoice:
        obj["invoice"] = invoice
    return obj


def dispute(
    *,
    dispute_id: str,
    charge_id: str,
    payment_intent: str | None,
    amount: int,
    status: str,
    created: datetime | int,
    currency: str = "usd",
) -> dict[str, Any]:
    obj = example("dispute")
    obj.update(
        id=dispute_id,
        charge=charge_id,
        payment_intent=payment_intent,
        amount=amount,
        currency=currency,
        status=status,
        created=unix(created),
    )
    return obj


# --- signing and posting -------------------------------------------------------


def subscription(
    *,
    subscription_id: str,
    amount: int,
    created: datetime | int,
    currency: str = "usd",
    campaign: str | None = "southfront",
    status: str = "active",
    period_end: datetime | int | None = None,
    shape: str = "items",
    quantity: int = 1,
    interval: str = "month",
    interval_count: int = 1,
    cancel_at_period_end: bool = False,
    canceled_at: datetime | int | None = None,
    cancellation_reason: str | None = None,
    customer: str = "cus_test_1",
) -> dict[str, Any]:
    """A subscription from Stripe's example; `shape` puts `current_period_end` where an API
    version does: "items" (on each item, 2025-03-31 and later) or "top" (on the
    subscription, before)."""
    obj = example("subscription")
    item = obj["items"]["data"][0]
    item["price"].update(unit_amount=amount, unit_amount_decimal=str(amount), currency=currency)
    item["price"]["recurring"].update(interval=interval, interval_count=interval_count)
    item["quantity"] = quantity
    item["subscription"] = subscription_id
    end = unix(period_end) if period_end is not None else None
    item["current_period_start"] = unix(created)
    item["current_period_end"] = end
    obj.update(
        id=subscription_id,
        currency=currency,
        customer=customer,
        status=status,
        created=unix(created),
        start_date=unix(created),
        metadata={"campaign": campaign} if campaign else {},
        cancel_at_period_end=cancel_at_period_end,
        cancel_at=None,
        canceled_at=unix(canceled_at) if canceled_at is not None else None,
        ended_at=unix(canceled_at) if canceled_at is not None else None,
        cancellation_details={"comment": None, "feedback": None, "reason": cancellation_reason},
        billing_cycle_anchor=unix(created),
        trial_end=None,
        trial_start=None,
    )
    for key in ("current_period_end", "current_period_start"):
        obj.pop(key, None)
    if shape == "top":
        obj["current_period_end"] = end
        obj["current_period_start"] = unix(created)
        del item["current_period_end"]
        del item["current_period_start"]
    return obj


def failed_invoice(
    *,
    invoice_id: str,
    subscription_id: str,
    amount_due: int,
    created: datetime | int,
    currency: str = "usd",
    campaign: str | None = "southfront",
) -> dict[str, Any]:
    """An invoice whose payment failed (invoice.payment_failed), of a subscription."""
    obj = invoice(
        invoice_id=invoice_id, amount_paid=0, created=created, currency=currency, campaign=campaign
    )
    obj["parent"]["subscription_details"]["subscription"] = subscription_id
    obj.update(amount_due=amount_due, amount_remaining=amount_due, status="open", attempted=True)
    return obj


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send: t=...,v1=HMAC-SHA256(f"{t}.{body}")."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def body(evt: dict[str, Any]) -> bytes:
    return json.dumps(evt, indent=2).encode()


def deliver(client: Any, evt: dict[str, Any], **kw: Any) -> Any:
    """POST the event to /webhooks/stripe, signed now with the test secret."""
    payload = body(evt)
    return client.post(
        "/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": sign(payload, **kw), "Content-Type": "application/json"},
    )
