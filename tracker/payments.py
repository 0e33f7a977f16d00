"""Everything that talks to Stripe: the client, amounts in Stripe's units, webhook signatures.

This is the only module that imports `stripe`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import stripe
from flask import current_app

from tracker.domain import money

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_S = 300
HTTP_CLIENT_KEY = "tracker.stripe_http_client"

# Stripe's units differ from ISO 4217 for a few currencies (docs.stripe.com/currencies).
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# Stripe's smallest charge in major units for the usual settlement currencies;
# other currencies fall back to one minor unit and Stripe's own check.
MINIMUM_MAJOR = {
    "USD": "0.50",
    "AED": "2",
    "AUD": "0.50",
    "BGN": "1",
    "BRL": "0.50",
    "CAD": "0.50",
    "CHF": "0.50",
    "CZK": "15",
    "DKK": "2.50",
    "EUR": "0.50",
    "GBP": "0.30",
    "HKD": "4",
    "HUF": "175",
    "INR": "0.50",
    "JPY": "50",
    "MXN": "10",
    "MYR": "2",
    "NOK": "3",
    "NZD": "0.50",
    "PLN": "2",
    "RON": "2",
    "SEK": "3",
    "SGD": "0.50",
    "THB": "10",
}
# Stripe amounts have at most eight digits in Stripe's units.
MAX_STRIPE_AMOUNT = 99_999_999


class PaymentError(RuntimeError):
    """Stripe could not be reached or refused the request."""


class SignatureError(ValueError):
    """A webhook whose signature, timestamp or body is not acceptable."""


# --- amounts -------------------------------------------------------------------


def stripe_exponent(currency: str) -> int:
    """Digits after the point in Stripe's integer amounts for this currency."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    # Everything else has two, including ISK: zero-decimal in ISO 4217 but sent to
    # Stripe with two decimals that are always 00.
    return 2


def to_stripe_amount(minor: int, currency: str) -> int:
    """Our minor units to Stripe's integer amount (ISK 5 -> 500)."""
    shift = stripe_exponent(currency) - money.exponent(currency)
    if shift >= 0:
        return minor * 10**shift
    factor = 10**-shift
    if minor % factor:
        raise money.AmountError(
            f"{currency.upper()} amounts must be whole {money.format_major(factor, currency)}"
        )
    return minor // factor


def from_stripe_amount(amount: int, currency: str) -> int:
    """Stripe's integer amount to our minor units (ISK 500 -> 5).

    A currency unknown to us (only possible for payments kept for review) keeps Stripe's figure.
    """
    try:
        ours = money.exponent(currency)
    except money.CurrencyError:
        return int(amount)
    shift = stripe_exponent(currency) - ours
    if shift >= 0:
        return int(amount) // 10**shift
    return int(amount) * 10**-shift


def check_amount(minor: int, currency: str) -> None:
    """Refuse an amount Stripe would refuse for a Checkout Session (AmountError)."""
    code = currency.upper()
    minimum = MINIMUM_MAJOR.get(code)
    if minimum is not None and minor < money.parse_amount(minimum, code):
        shown = money.format_money(money.parse_amount(minimum, code), code)
        raise money.AmountError(f"the smallest donation is {shown}")
    stripe_amount = to_stripe_amount(minor, code)
    if code in THREE_DECIMAL and stripe_amount % 10:
        raise money.AmountError(f"{code} amounts must end in 0 (like 12.340)")
    if stripe_amount > MAX_STRIPE_AMOUNT:
        largest = from_stripe_amount(MAX_STRIPE_AMOUNT, code)
        raise money.AmountError(f"the largest donation is {money.format_money(largest, code)}")


# --- the client ----------------------------------------------------------------


def key_is_live(api_key: str | None) -> bool:
    """True for a live-mode key (sk_live_..., rk_live_...); test mode otherwise."""
    return bool(api_key) and str(api_key).split("_", 2)[1:2] == ["live"]


def live_mode() -> bool:
    """The mode of the configured STRIPE_SECRET_KEY."""
    return key_is_live(current_app.config.get("STRIPE_SECRET_KEY"))


def client() -> stripe.StripeClient:
    """A Stripe client for the configured key, API base and (in tests) HTTP client."""
    api_key = current_app.config.get("STRIPE_SECRET_KEY")
    if not api_key:
        raise PaymentError("STRIPE_SECRET_KEY is not set")
    base = current_app.config.get("STRIPE_API_BASE")
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": base.rstrip("/")} if base else None,
        http_client=current_app.extensions.get(HTTP_CLIENT_KEY),
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
        "unit_amount": to_stripe_amount(req.amount_minor, req.currency),
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
    payment_intent_id: str,
    amount_minor: int | None,
    idempotency_key: str,
    *,
    currency: str | None = None,
) -> str:
    """Refund a payment (all of it when `amount_minor` is None) and return the refund id.

    Give `currency` with a partial amount so it is converted to Stripe's units (ISK).
    The ledger changes when Stripe's `charge.refunded` webhook arrives, not here.
    """
    params: dict[str, Any] = {"payment_intent": payment_intent_id}
    if amount_minor is not None:
        if amount_minor <= 0:
            raise money.AmountError("refund amount must be greater than zero")
        params["amount"] = (
            to_stripe_amount(amount_minor, currency) if currency is not None else amount_minor
        )
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
        event = json.loads(text)
    except ValueError as exc:
        raise SignatureError("body is not JSON") from exc
    if not isinstance(event, dict):
        raise SignatureError("body is not a JSON object")
    return event


def _signature_reason(exc: Exception) -> str:
    text = str(exc).lower()
    if "tolerance" in text:
        return "signature timestamp is outside the tolerance (300 s)"
    if "extract timestamp" in text or "expected scheme" in text:
        return "malformed Stripe-Signature header"
    return "signature does not match the body"
