"""tracker.payments: Stripe's units, webhook signatures, refunds through the HTTP stub."""

from __future__ import annotations

import time

import pytest

from tests import stripe_events as se
from tests.conftest import WEBHOOK_SECRET
from tracker import payments
from tracker.domain.money import AmountError


@pytest.mark.parametrize(
    ("currency", "minor", "stripe_amount"),
    [
        ("USD", 1250, 1250),
        ("usd", 1, 1),
        ("JPY", 1500, 1500),
        ("KRW", 1000, 1000),
        ("ISK", 5, 500),
        ("KWD", 5250, 5250),
        ("HUF", 17500, 17500),
        ("UGX", 3000, 3000),
    ],
)
def test_stripe_units_round_trip(currency, minor, stripe_amount) -> None:
    assert payments.to_stripe(minor, currency) == stripe_amount
    assert payments.from_stripe(stripe_amount, currency) == minor


def test_unknown_currency_keeps_stripes_figure() -> None:
    assert payments.from_stripe(1234, "zzz") == 1234


@pytest.mark.parametrize(
    ("minor", "currency", "message"),
    [
        (49, "USD", r"smallest donation is 0\.50 \$"),
        (29, "GBP", r"smallest donation is 0\.30 £"),
        (49, "JPY", "smallest donation is 50"),
        (5255, "KWD", "must end in 0"),
        (100_000_000, "USD", "largest donation"),
    ],
)
def test_check_amount_refuses_what_stripe_refuses(minor, currency, message) -> None:
    with pytest.raises(AmountError, match=message):
        payments.check_amount(minor, currency)


def test_check_amount_accepts_the_limits() -> None:
    payments.check_amount(50, "USD")
    payments.check_amount(99_999_999, "USD")
    payments.check_amount(1, "XAF")  # no known minimum: Stripe decides


@pytest.mark.parametrize(
    ("key", "live"),
    [
        ("sk_live_abc", True),
        ("rk_live_abc", True),
        ("sk_test_123", False),
        (None, False),
        ("", False),
    ],
)
def test_key_mode(key, live) -> None:
    assert payments.key_is_live(key) is live


def test_verify_event_accepts_what_stripe_signs() -> None:
    payload = b'{"id": "evt_1", "object": "event"}'
    event = payments.verify_event(payload, se.sign(payload), WEBHOOK_SECRET)
    assert event == {"id": "evt_1", "object": "event"}


def test_verify_event_accepts_any_of_several_signatures() -> None:
    # During a secret roll Stripe signs with both secrets.
    payload = b'{"id": "evt_1"}'
    t = int(time.time())
    old = se.sign(payload, "whsec_old", t).split(",")[1]
    header = f"t={t},{old},{se.sign(payload, WEBHOOK_SECRET, t).split(',')[1]}"
    assert payments.verify_event(payload, header, WEBHOOK_SECRET)["id"] == "evt_1"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing"),
        ("", "missing"),
        ("t=1", "malformed"),
        ("v1=abc", "malformed"),
    ],
)
def test_verify_event_refuses(header, message) -> None:
    with pytest.raises(payments.SignatureError, match=message):
        payments.verify_event(b"{}", header, WEBHOOK_SECRET)


def test_verify_event_tolerance_is_300_seconds() -> None:
    payload = b"{}"
    now = int(time.time())
    assert (
        payments.verify_event(payload, se.sign(payload, timestamp=now - 299), WEBHOOK_SECRET) == {}
    )
    with pytest.raises(payments.SignatureError, match="tolerance"):
        payments.verify_event(payload, se.sign(payload, timestamp=now - 301), WEBHOOK_SECRET)


def test_create_refund_full(app, stripe_api) -> None:
    with app.test_request_context():
        refund_id = payments.create_refund("pi_123", None, "USD", "refund-donation-7")
    [call] = stripe_api.calls
    assert refund_id.startswith("re_test_")
    assert (call.method, call.path) == ("POST", "/v1/refunds")
    assert call.form == {"payment_intent": "pi_123"}
    assert call.headers["Idempotency-Key"] == "refund-donation-7"
    assert call.headers["Authorization"] == "Bearer sk_test_123"


@pytest.mark.parametrize(
    ("currency", "minor", "sent"),
    [("USD", 250, "250"), ("JPY", 1000, "1000"), ("ISK", 5, "500"), ("KWD", 1250, "1250")],
)
def test_create_refund_partial_in_stripe_units(app, stripe_api, currency, minor, sent) -> None:
    with app.test_request_context():
        payments.create_refund("pi_1", minor, currency, "k1")
    [call] = stripe_api.calls
    assert call.form == {"payment_intent": "pi_1", "amount": sent}


def test_create_refund_errors(app, stripe_api) -> None:
    refused = {
        "error": {
            "type": "invalid_request_error",
            "code": "charge_already_refunded",
            "message": "Charge ch_1 has already been refunded.",
        }
    }
    stripe_api.on("POST", "/v1/refunds", lambda call: (400, refused))
    with app.test_request_context(), pytest.raises(payments.PaymentError, match="ch_1"):
        payments.create_refund("pi_1", None, "USD", "k")
    with app.test_request_context(), pytest.raises(AmountError):
        payments.create_refund("pi_1", 0, "USD", "k")
    assert len(stripe_api.calls) == 1
