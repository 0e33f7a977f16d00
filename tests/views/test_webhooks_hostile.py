"""Signed events that can never apply: 200 and kept as rejected, or 4xx; never 5xx.

Stripe retries a 5xx for three days and then disables the endpoint, so a 5xx is only for
what a retry can mend (the database away). Everything here is signed with the real secret:
it is what a bug, a future API change or someone holding the secret could send.
"""

from __future__ import annotations

import http.client
import io
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests import browsers
from tests import stripe_events as se
from tests.factories import make_campaign
from tracker.extensions import db as sa_db
from tracker.models import Donation, PaymentAdjustment, Period, ReviewPayment, StripeEvent

NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


@pytest.fixture()
def campaign(db):
    return make_campaign("southfront")


def totals() -> dict[tuple[int, int], tuple[int, int]]:
    sa_db.session.expire_all()
    return {
        (p.year, p.month): (p.raised_minor, p.donations)
        for p in sa_db.session.scalars(select(Period))
        if p.raised_minor or p.donations
    }


def rows(model: type) -> int:
    return sa_db.session.scalar(select(func.count()).select_from(model))


def post_raw(client, payload: bytes):
    return client.post(
        "/webhooks/stripe", data=payload, headers={"Stripe-Signature": se.sign(payload)}
    )


def checkout(**obj: Any) -> dict:
    session = se.checkout_session(
        session_id="cs_test_h", payment_intent="pi_h", amount=2500, created=NOV_10
    )
    session.update(obj)
    return se.event("checkout.session.completed", session, event_id="evt_h")


def intent(**obj: Any) -> dict:
    found = se.payment_intent(intent_id="pi_h", amount=2500, created=NOV_10)
    found.update(obj)
    return se.event("payment_intent.succeeded", found, event_id="evt_h")


def refund(**obj: Any) -> dict:
    charge = se.charge(
        charge_id="ch_h", payment_intent="pi_h", amount=2500, amount_refunded=500, created=NOV_10
    )
    charge.update(obj)
    return se.event("charge.refunded", charge, event_id="evt_h", created=NOV_10)


def dispute(**obj: Any) -> dict:
    found = se.dispute(
        dispute_id="dp_h",
        charge_id="ch_h",
        payment_intent="pi_h",
        amount=2500,
        status="lost",
        created=NOV_10,
    )
    found.update(obj)
    return se.event("charge.dispute.closed", found, event_id="evt_h", created=NOV_10)


def invoice(**obj: Any) -> dict:
    found = se.invoice(invoice_id="in_h", amount_paid=900, created=NOV_10)
    found.update(obj)
    return se.event("invoice.paid", found, event_id="evt_h")


def envelope(event: dict, **fields: Any) -> dict:
    event.update(fields)
    return event


SURROGATE = "\ud800"

# Each: a signed event that no retry can make apply, and a word its reason contains.
NEVER_APPLY = {
    # The cases the outside review found.
    "amount 2^62": (intent(amount=2**62, amount_received=2**62), "10^12"),
    "object created 10^12": (intent(created=10**12), "created"),
    "object created 10^20": (intent(created=10**20), "created"),
    "event created 10^12": (envelope(intent(), created=10**12), "created"),
    "event created 10^20": (envelope(intent(), created=10**20), "created"),
    "lone surrogate in the campaign": (intent(metadata={"campaign": SURROGATE}), "Unicode"),
    "dispute created 1e20": (envelope(dispute(), created=1e20), "created"),
    # Found while testing those.
    "amount as a float": (intent(amount=25.0, amount_received=25.0), "amount"),
    "amount as text": (checkout(amount_total="2500"), "amount"),
    "negative amount": (intent(amount=-5, amount_received=-5), "amount"),
    "amount true": (checkout(amount_total=True), "amount"),
    "refund past 10^12": (refund(amount_refunded=2**64), "10^12"),
    "lost dispute past 10^12": (dispute(amount=2**70), "10^12"),
    "ISK with digits Stripe never sends": (
        intent(currency="isk", amount=550, amount_received=550),
        "whole",
    ),
    "currency not a code": (intent(currency="us dollars"), "currency"),
    "currency with a NUL": (checkout(currency="us\u0000"), "currency"),
    "payment created before 1970": (intent(created=-86400), "created"),
    "payment created a year ahead": (intent(created=2**31 + 10**7), "created"),
    "id far past Stripe's length": (intent(id="pi_" + "a" * 300), "id"),
    "id with a NUL": (checkout(payment_intent="pi_\u0000"), "id"),
    "livemode as text": (envelope(intent(), livemode="yes"), "livemode"),
    "data.object a list": (envelope(intent(), data={"object": [1]}), "data.object"),
    "data missing": (envelope(intent(), data=None), "data.object"),
    "event created missing": (envelope(intent(), created=None), "created"),
    "metadata a list": (intent(metadata=["campaign"]), "metadata"),
    "campaign longer than Stripe allows": (intent(metadata={"campaign": "x" * 501}), "500"),
    "campaign a number": (intent(metadata={"campaign": 7}), "text"),
    "dispute status with a NUL": (dispute(status="lost\u0000"), "status"),
    "invoice parent a list": (invoice(parent=[1]), "parent"),
}


@pytest.mark.parametrize("name", sorted(NEVER_APPLY))
def test_an_event_that_can_never_apply_is_200_and_kept_as_rejected(
    client, runner, campaign, name
) -> None:
    event, word = NEVER_APPLY[name]
    payload = json.dumps(event).encode()
    first = post_raw(client, payload)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json()["outcome"] == "rejected"
    stored = sa_db.session.get(StripeEvent, "evt_h")
    assert stored.rejected_at is not None and stored.applied_at is None
    assert word in stored.reason
    assert "\x00" not in stored.reason and SURROGATE not in stored.reason
    assert stored.payload == payload.decode()  # kept raw, as it came
    assert totals() == {}
    assert rows(Donation) == rows(ReviewPayment) == rows(PaymentAdjustment) == 0
    again = post_raw(client, payload)
    assert (again.status_code, again.get_json()["duplicate"]) == (200, True)
    assert rows(StripeEvent) == 1
    assert runner.invoke(args=["tracker", "reprocess"]).exit_code == 0
    verified = runner.invoke(args=["tracker", "verify"])
    assert verified.exit_code == 0, verified.output
    assert totals() == {}


def test_a_nul_in_the_campaign_is_kept_for_review_without_the_nul(client, campaign) -> None:
    response = se.deliver(client, intent(metadata={"campaign": "south\u0000front"}))
    assert response.get_json()["outcome"] == "review_unassigned"
    review = sa_db.session.scalar(select(ReviewPayment))
    assert review.campaign_slug == "south\\x00front"  # as an admin reads it


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[" * 1000 + b"]" * 1000, "nested more than 100"),
        (b'{"a":' * 101 + b"1" + b"}" * 101, "nested more than 100"),
        (b'{"id": "evt_\\u0000x", "type": "invoice.paid"}', "'id'"),
        (b'{"id": "evt_x", "type": "invoice.p\\u00e4id"}', "'type'"),
        (b'{"id": "evt_x", "type": "invoice.paid", "created": 1' + b"0" * 5000 + b"}", "JSON"),
    ],
)
def test_a_body_that_cannot_be_stored_is_400(client, campaign, payload, message) -> None:
    response = post_raw(client, payload)
    assert response.status_code == 400
    assert message in response.get_json()["message"]
    assert rows(StripeEvent) == 0


def test_nesting_up_to_100_levels_is_parsed(client, campaign) -> None:
    event = intent()
    deep: Any = "end"
    for _ in range(95):
        deep = {"next": deep}
    event["data"]["object"]["metadata"]["deep"] = json.dumps(deep)  # a string: not nested
    event["data"]["object"]["unused"] = deep  # nested: 95 + 3 levels
    response = post_raw(client, json.dumps(event).encode())
    assert (response.status_code, response.get_json()["outcome"]) == (200, "counted")


def test_a_chunked_body_over_one_mebibyte_is_413(client, campaign) -> None:
    payload = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = client.post(
        "/webhooks/stripe",
        input_stream=io.BytesIO(payload),  # no Content-Length: as a chunked body arrives
        headers={"Stripe-Signature": se.sign(payload)},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"
    assert rows(StripeEvent) == 0


def test_a_chunked_body_over_one_mebibyte_is_413_from_a_real_server(app, campaign) -> None:
    payload = b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    with browsers.serving(app) as base:
        where = urlsplit(base)
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        chunks = (payload[i : i + 65536] for i in range(0, len(payload), 65536))
        conn.request(
            "POST",
            "/webhooks/stripe",
            body=chunks,
            headers={"Stripe-Signature": se.sign(payload), "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        status = conn.getresponse().status
        conn.close()
    assert status == 413
    assert rows(StripeEvent) == 0


def test_a_small_chunked_body_is_read_whole(app, campaign) -> None:
    payload = json.dumps(intent()).encode()
    with browsers.serving(app) as base:
        where = urlsplit(base)
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        conn.request(
            "POST",
            "/webhooks/stripe",
            body=iter([payload[:100], payload[100:]]),
            headers={"Stripe-Signature": se.sign(payload), "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        answer = conn.getresponse()
        body = json.loads(answer.read())
        conn.close()
    assert (answer.status, body["outcome"]) == (200, "counted")


# --- any mutation of a real event: never a 5xx ----------------------------------

BASES = {"checkout": checkout, "intent": intent, "refund": refund, "dispute": dispute}
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["\x00", SURROGATE, "usd", "pi_x", "lost", "paid", "payment", "\u202e"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["id", "campaign", "data"]), st.text(max_size=5), max_size=2),
)
FIELDS = st.sampled_from(
    [
        "id",
        "amount",
        "amount_total",
        "amount_received",
        "amount_refunded",
        "currency",
        "created",
        "metadata",
        "payment_intent",
        "status",
        "mode",
        "payment_status",
        "charge",
    ]
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    base=st.sampled_from(sorted(BASES)),
    changes=st.lists(st.tuples(FIELDS, ODD_VALUES), min_size=1, max_size=3),
    on_envelope=st.booleans(),
)
def test_no_mutation_of_a_signed_event_is_ever_5xx(
    client, campaign, base, changes, on_envelope
) -> None:
    event = BASES[base]()
    target = event if on_envelope else event["data"]["object"]
    for name, value in changes:
        target[name] = value
    event["id"] = event["id"] if isinstance(event.get("id"), str) else "evt_h"
    try:
        payload = json.dumps(event).encode()
    except ValueError:
        return
    response = post_raw(client, payload)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    if response.status_code == 200:
        again = post_raw(client, payload)
        assert (again.status_code, again.get_json()["duplicate"]) == (200, True)
    sa_db.session.rollback()
    for model in (Donation, ReviewPayment, PaymentAdjustment, StripeEvent):
        sa_db.session.execute(model.__table__.delete())
    sa_db.session.execute(Period.__table__.update().values(raised_minor=0, donations=0))
    sa_db.session.commit()
