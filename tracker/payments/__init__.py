"""The Stripe edge: amounts in Stripe's units, event payloads as typed values, the API.

- `units`: our ISO 4217 minor units against Stripe's integers, both ways;
- `events`: webhook and API events parsed into facts for the ledger, the only code that
  knows Stripe's field names;
- `client`: the only module that imports `stripe` (Checkout, refunds, signatures).
"""

from tracker.payments.client import (
    CheckoutRequest,
    PaymentError,
    SignatureError,
    checkout_params,
    client,
    configured,
    create_checkout_session,
    create_refund,
    key_is_live,
    live_mode,
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
from tracker.payments.units import check_amount, from_stripe, stripe_exponent, to_stripe

__all__ = [
    "CHECKOUT_PAID",
    "COUNTED",
    "HANDLED",
    "CheckoutRequest",
    "Dispute",
    "Envelope",
    "EventError",
    "Fact",
    "Ignored",
    "InvoiceLink",
    "Payment",
    "PaymentError",
    "Refund",
    "Rejected",
    "SignatureError",
    "check_amount",
    "checkout_params",
    "client",
    "configured",
    "create_checkout_session",
    "create_refund",
    "envelope",
    "from_stripe",
    "key_is_live",
    "live_mode",
    "load",
    "parse_event",
    "stripe_exponent",
    "to_stripe",
    "verify_event",
]
