"""Stripe at the edge: the only module that imports stripe."""

from __future__ import annotations

from typing import Any

import stripe
from flask import current_app


def create_refund(payment_intent_id: str, amount_minor: int | None, idempotency_key: str) -> str:
    """Ask Stripe to refund a payment (all of it when `amount_minor` is None); return the id."""
    base = current_app.config.get("STRIPE_API_BASE")
    client = stripe.StripeClient(
        current_app.config["STRIPE_SECRET_KEY"],
        base_addresses={"api": base} if base else {},
    )
    params: dict[str, Any] = {"payment_intent": payment_intent_id}
    if amount_minor is not None:
        params["amount"] = amount_minor
    refund = client.v1.refunds.create(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": idempotency_key},
    )
    return str(refund.id)
