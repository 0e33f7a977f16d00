"""Everything that talks to Stripe's API: the client, Checkout, refunds, the customer portal,
webhook signatures.

This is the only module that imports `stripe`. Amounts cross into Stripe's units here,
through tracker.payments.units, with the currency of each call.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import stripe
from flask import current_app

from tracker.domain import money
from tracker.payments import events, units
from tracker.payments.fields import unix

SESSION_ID_RE = re.compile(r"cs_(?:test|live)_[A-Za-z0-9]{1,250}")

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
    # Where it comes from (ref, utm_...): Checkout metadata, then the donation's.
    attribution: dict[str, str] = field(default_factory=dict)


def checkout_params(req: CheckoutRequest) -> dict[str, Any]:
    """The Checkout Session parameters of SPEC.md ("Stripe")."""
    price_data: dict[str, Any] = {
        "currency": req.currency.lower(),
        "unit_amount": units.to_stripe(req.amount_minor, req.currency),
        "product_data": {"name": f"Donation to {req.campaign_name}"[:250]},
    }
    metadata = {"campaign": req.campaign_slug, **req.attribution}
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


# --- the customer portal -------------------------------------------------------


@dataclass(frozen=True)
class FinishedCheckout:
    """What the thanks page needs to know of a Checkout Session."""

    session_id: str
    complete: bool
    mode: str | None
    campaign: str | None
    customer_id: str | None
    created_at: datetime | None


def retrieve_checkout(session_id: str) -> FinishedCheckout:
    """The Checkout Session as Stripe has it (LookupError if Stripe knows no such session)."""
    if not SESSION_ID_RE.fullmatch(session_id):
        raise LookupError("not a Checkout Session id")
    try:
        session = client().v1.checkout.sessions.retrieve(session_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            raise LookupError("Stripe knows no such Checkout Session") from exc
        raise PaymentError("Stripe refused to read the Checkout Session") from exc
    except stripe.StripeError as exc:
        log.warning("checkout session not read status=%s code=%s", exc.http_status, exc.code)
        raise PaymentError("Stripe did not answer") from exc
    found = session.to_dict()
    metadata = found.get("metadata") or {}
    customer = found.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    created = found.get("created")
    return FinishedCheckout(
        session_id=session_id,
        complete=found.get("status") == "complete",
        mode=found.get("mode"),
        campaign=metadata.get("campaign") if isinstance(metadata, dict) else None,
        customer_id=customer if isinstance(customer, str) and customer else None,
        created_at=unix(created) if isinstance(created, int) else None,
    )


def create_portal_session(customer_id: str, return_url: str) -> str:
    """A billing portal session for the customer; its https URL (PaymentError otherwise)."""
    try:
        portal = client().v1.billing_portal.sessions.create(
            params={"customer": customer_id, "return_url": return_url}
        )
    except stripe.StripeError as exc:
        log.warning("portal session failed status=%s code=%s", exc.http_status, exc.code)
        raise PaymentError("Stripe did not create the portal session") from exc
    url = str(getattr(portal, "url", "") or "")
    if not url.startswith("https://"):
        log.warning("portal session url is not https")
        raise PaymentError("Stripe returned a portal URL that is not https")
    return url


# --- lists and objects (sync and reconcile) ----------------------------------------

# How often a list is resumed after Stripe's 429 (the library retries 5xx and network
# errors itself, max_network_retries times, with its own backoff).
RATE_LIMIT_RETRIES = 5
LISTS = ("events", "payment_intents", "invoices", "charges", "disputes")


def listed(kind: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every object of one of Stripe's lists, page by page (the library's
    auto_paging_iter: one page in memory at a time), as plain dicts.

    A 429 resumes the list after the last object given, waiting longer each time; what
    still fails is PaymentError.
    """
    if kind not in LISTS:
        raise ValueError(f"not a list tracker reads: {kind}")
    after: str | None = None
    waited = 0
    while True:
        page_params = {"limit": 100, **params, **({"starting_after": after} if after else {})}
        try:
            service = getattr(client().v1, kind)
            for item in service.list(params=page_params).auto_paging_iter():
                found = item.to_dict(for_json=True)
                after = str(found.get("id") or "") or after
                waited = 0
                yield found
            return
        except stripe.RateLimitError as exc:
            waited += 1
            if waited > RATE_LIMIT_RETRIES:
                raise PaymentError(f"Stripe kept answering 429 to /v1/{kind}") from exc
            _pause(waited)
        except stripe.StripeError as exc:
            log.warning("list failed kind=%s status=%s code=%s", kind, exc.http_status, exc.code)
            raise PaymentError(
                f"Stripe answered {exc.http_status or 'nothing'} to /v1/{kind}"
            ) from exc


def retrieved(kind: str, object_id: str, expand: list[str]) -> dict[str, Any] | None:
    """One object by id (payment_intents, invoices, charges), or None when Stripe has none."""
    if kind not in ("payment_intents", "invoices", "charges"):
        raise ValueError(f"not an object tracker reads: {kind}")
    fetch: Callable[..., Any] = getattr(client().v1, kind).retrieve
    for attempt in range(1, RATE_LIMIT_RETRIES + 2):
        try:
            found: dict[str, Any] = fetch(object_id, params={"expand": expand}).to_dict(
                for_json=True
            )
            return found
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise PaymentError(f"Stripe refused to read {object_id}") from exc
        except stripe.RateLimitError as exc:
            if attempt > RATE_LIMIT_RETRIES:
                raise PaymentError(f"Stripe kept answering 429 for {object_id}") from exc
            _pause(attempt)
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe answered {exc.http_status or 'nothing'}") from exc
    raise PaymentError(f"Stripe kept answering 429 for {object_id}")  # pragma: no cover


def _pause(attempt: int) -> None:
    """Wait before trying again: STRIPE_RETRY_DELAY_S, doubled each time, at most 30 s."""
    base: float = current_app.config.get("STRIPE_RETRY_DELAY_S", 1.0)  # seconds
    time.sleep(min(base * 2 ** (attempt - 1), 30.0))


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
