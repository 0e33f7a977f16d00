"""The Stripe edge: amounts in Stripe's units, event payloads as typed values, the API.

- `units`: our ISO 4217 minor units against Stripe's integers, both ways;
- `events` (with `fields` and `subscriptions`): webhook and API events parsed into facts
  for the ledger, the only code that knows Stripe's field names;
- `client`: the only module that imports `stripe` (Checkout, refunds, signatures).
"""

from tracker.payments.client import (
    SESSION_ID_RE,
    CheckoutRequest,
    FinishedCheckout,
    PaymentError,
    SignatureError,
    checkout_params,
    client,
    configured,
    create_checkout_session,
    create_portal_session,
    create_refund,
    key_is_live,
    listed,
    live_mode,
    retrieve_checkout,
    retrieved,
    verify_event,
)
from tracker.payments.events import (
    CHECKOUT_PAID,
    COUNTED,
    HANDLED,
    Dispute,
    Envelope,
    EventError,
    Fact,
    Ignored,
    InvoiceLink,
    Payment,
    Refund,
    envelope,
    load,
    parse_event,
)
from tracker.payments.fields import Rejected
from tracker.payments.subscriptions import FailedRenewal, SubscriptionState
from tracker.payments.units import check_amount, from_stripe, stripe_exponent, to_stripe

__all__ = [
    "CHECKOUT_PAID",
    "SESSION_ID_RE",
    "COUNTED",
    "HANDLED",
    "CheckoutRequest",
    "Dispute",
    "Envelope",
    "EventError",
    "FailedRenewal",
    "FinishedCheckout",
    "Fact",
    "Ignored",
    "InvoiceLink",
    "Payment",
    "PaymentError",
    "Refund",
    "Rejected",
    "SignatureError",
    "SubscriptionState",
    "check_amount",
    "checkout_params",
    "client",
    "configured",
    "create_checkout_session",
    "create_portal_session",
    "create_refund",
    "envelope",
    "from_stripe",
    "key_is_live",
    "listed",
    "live_mode",
    "load",
    "parse_event",
    "retrieve_checkout",
    "retrieved",
    "stripe_exponent",
    "to_stripe",
    "verify_event",
]
