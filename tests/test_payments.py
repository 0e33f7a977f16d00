"""tracker.payments: Stripe's units, webhook signatures, refunds through the stand-in API."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests import stripe_events as se
from tests.conftest import WEBHOOK_SECRET
from tracker import payments
from tracker.domain import money
from tracker.domain.money import AmountError
from tracker.extensions import db as sa_db
from tracker.models import ReviewPayment


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


def test_stripe_digits_that_our_units_cannot_hold_are_refused() -> None:
    with pytest.raises(AmountError, match="whole"):
        payments.from_stripe(550, "ISK")  # Stripe sends ISK in hundreds
    with pytest.raises(AmountError, match="whole"):
        payments.to_stripe(1234, "MGA")  # ISO gives MGA 2 digits, Stripe none


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    currency=st.sampled_from(sorted(money.currencies())),
    minor=st.integers(min_value=1, max_value=money.MAX_MINOR),
)
def test_every_iso_currency_round_trips_typed_stored_and_at_stripe(db, currency, minor) -> None:
    """Typed by a person -> minor units -> the database -> Stripe's units -> back."""
    text = money.format_major(minor, currency)
    assert money.parse_amount(text, currency) == minor
    row = ReviewPayment(
        external_key=f"pi_{currency}_{minor}",
        reason="currency",
        amount_minor=minor,
        currency=currency,
        received_at=datetime(2026, 11, 10, tzinfo=UTC),
    )
    sa_db.session.add(row)
    sa_db.session.commit()
    sa_db.session.expire_all()
    stored = sa_db.session.scalar(
        select(ReviewPayment.amount_minor).where(ReviewPayment.id == row.id)
    )
    sa_db.session.delete(row)
    sa_db.session.commit()
    assert stored == minor
    shift = payments.stripe_exponent(currency) - money.exponent(currency)
    try:
        sent = payments.to_stripe(stored, currency)
    except AmountError:
        # Only where Stripe has fewer digits than ISO 4217, for amounts it cannot carry;
        # the donate form refuses those with this message.
        assert shift < 0 and stored % 10**-shift
        with pytest.raises(AmountError, match="whole"):
            payments.check_amount(stored, currency)
        return
    assert sent == stored * 10 ** max(shift, 0) // 10 ** max(-shift, 0)
    assert payments.from_stripe(sent, currency) == stored


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
