"""Everything that talks to Stripe's API: the client, Checkout, refunds, webhook signatures.

This is the only module that imports `stripe`. Amounts cross into Stripe's units here,
through tracker.payments.units, with the currency of each call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import stripe
from flask import current_app

from tracker.domain import money
from tracker.payments import events, units

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_S = 300


class PaymentError(RuntimeError):
    """Stripe could not be reached or refused the request."""


class SignatureError(ValueError):
    """A webhook whose signature, timestamp or body is not acceptable."""


# --- the client ----------------------------------------------------------------


def key_is_live(api_key: str | None) -> bool:
    """True for a live-mode key (sk_live_..., rk_live_...); test mode otherwise."""
    return bool(api_key) and str(api_key).split("_", 2)[1:2] == ["live"]


def live_mode() -> bool:
    """The mode of the configured STRIPE_SECRET_KEY."""
    return key_is_live(current_app.config.get("STRIPE_SECRET_KEY"))


def configured() -> bool:
    """True when a Stripe secret key is set, so Checkout can be started."""
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def client() -> stripe.StripeClient:
    """A Stripe client for the configured key and API base (a stand-in, in tests)."""
    api_key = current_app.config.get("STRIPE_SECRET_KEY")
    if not api_key:
        raise PaymentError("STRIPE_SECRET_KEY is not set")
    base = current_app.config.get("STRIPE_API_BASE")
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": base.rstrip("/")} if base else None,
        max_network_retries=current_app.config.get("STRIPE_MAX_NETWORK_RETRIES", 2),
    )


@dataclass(frozen=True)
class CheckoutRequest:
    """What a donor asked for on the donate page."""

    campaign_slug: str
    campaign_name: str
    currency: str
    amount_minor: int
    frequency: str  # "once" | "monthly"
    success_url: str
    cancel_url: str
    idempotency_key: str


def checkout_params(req: CheckoutRequest) -> dict[str, Any]:
    """The Checkout Session parameters of SPEC.md ("Stripe")."""
    price_data: dict[str, Any] = {
        "currency": req.currency.lower(),
        "unit_amount": units.to_stripe(req.amount_minor, req.currency),
        "product_data": {"name": f"Donation to {req.campaign_name}"[:250]},
    }
    metadata = {"campaign": req.campaign_slug}
    params: dict[str, Any] = {
        "line_items": [{"price_data": price_data, "quantity": 1}],
        "adaptive_pricing": {"enabled": False},
        "metadata": metadata,
        "success_url": req.success_url,
        "cancel_url": req.cancel_url,
    }
    if req.frequency == "monthly":
        price_data["recurring"] = {"interval": "month"}
        params["mode"] = "subscription"
        params["subscription_data"] = {"metadata": dict(metadata)}
    else:
        params["mode"] = "payment"
        params["submit_type"] = "donate"
        params["payment_intent_data"] = {"metadata": dict(metadata)}
    return params


def create_checkout_session(req: CheckoutRequest) -> str:
    """Create the Checkout Session and return its URL (PaymentError when Stripe fails)."""
    try:
        session = client().v1.checkout.sessions.create(
            params=checkout_params(req),  # type: ignore[arg-type]
            options={"idempotency_key": req.idempotency_key},
        )
    except stripe.StripeError as exc:
        log.warning(
            "checkout session failed campaign=%s status=%s code=%s request_id=%s",
            req.campaign_slug,
            exc.http_status,
            exc.code,
            exc.request_id,
        )
        raise PaymentError("Stripe did not create the checkout session") from exc
    url = getattr(session, "url", None)
    if not url:
        log.warning("checkout session without url campaign=%s", req.campaign_slug)
        raise PaymentError("Stripe returned a checkout session without a URL")
    if not str(url).startswith("https://"):
        # We redirect visitors there: never to anything but an https page Stripe named.
        log.warning("checkout session url is not https campaign=%s", req.campaign_slug)
        raise PaymentError("Stripe returned a checkout session URL that is not https")
    log.info("checkout session created campaign=%s session=%s", req.campaign_slug, session.id)
    return str(url)


def create_refund(
    payment_intent_id: str, amount_minor: int | None, currency: str, idempotency_key: str
) -> str:
    """Refund a payment (all of it when `amount_minor` is None) and return the refund id.

    `amount_minor` is in our minor units of `currency`, sent in Stripe's (1,000 ISK as
    100000). The ledger changes when Stripe's `charge.refunded` webhook arrives, not here.
    """
    params: dict[str, Any] = {"payment_intent": payment_intent_id}
    if amount_minor is not None:
        if amount_minor <= 0:
            raise money.AmountError("refund amount must be greater than zero")
        params["amount"] = units.to_stripe(amount_minor, currency)
    try:
        refund = client().v1.refunds.create(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        log.warning(
            "refund failed payment_intent=%s status=%s code=%s",
            payment_intent_id,
            exc.http_status,
            exc.code,
        )
        raise PaymentError(exc.user_message or "Stripe did not create the refund") from exc
    log.info("refund created payment_intent=%s refund=%s", payment_intent_id, refund.id)
    return str(refund.id)


# --- webhooks ------------------------------------------------------------------


def verify_event(
    payload: bytes, signature: str | None, secret: str, tolerance_s: int = SIGNATURE_TOLERANCE_S
) -> dict[str, Any]:
    """Check the Stripe-Signature header against the raw body; return the event as a dict."""
    if not signature:
        raise SignatureError("missing Stripe-Signature header")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignatureError("body is not UTF-8") from exc
    try:
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance_s)
    except stripe.SignatureVerificationError as exc:
        raise SignatureError(_signature_reason(exc)) from exc
    except (ValueError, IndexError) as exc:  # a header the library cannot split
        raise SignatureError("malformed Stripe-Signature header") from exc
    try:
        return events.load(text)
    except events.EventError as exc:
        raise SignatureError(str(exc)) from exc


def _signature_reason(exc: Exception) -> str:
    text = str(exc).lower()
    if "tolerance" in text:
        return "signature timestamp is outside the tolerance (300 s)"
    if "extract timestamp" in text or "expected scheme" in text:
        return "malformed Stripe-Signature header"
    return "signature does not match the body"
