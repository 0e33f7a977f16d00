"""PostgreSQL key locks: mixed events about the same payments, from many threads at once.

Events about one payment (its checkout, PaymentIntent, refund, dispute; an invoice, its
invoice_payment link and a refund by PaymentIntent) change the same rows; on PostgreSQL
they take turns by advisory locks on their PaymentIntent and invoice ids (tracker.ledger).
Without those locks a refund applied while its payment is being counted is lost, and the
totals below differ from in-order delivery.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests import stripe_events as se
from tests.factories import make_campaign
from tests.test_ledger_property import state, wipe_ledger
from tests.test_webhooks_concurrency import server  # noqa: F401 (the gunicorn fixture)
from tracker import services
from tracker.extensions import db as sa_db

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def one_off(n: int) -> list[dict]:
    pi, amount = f"pi_k{n}", 1000 + n
    cs = se.checkout_session(
        session_id=f"cs_k{n}", payment_intent=pi, amount=amount, created=NOV_10
    )
    intent = se.payment_intent(intent_id=pi, amount=amount, created=NOV_10)
    out = [
        se.event("checkout.session.completed", cs, event_id=f"evt_kcs_{n}"),
        se.event("payment_intent.succeeded", intent, event_id=f"evt_kpi_{n}"),
        se.event(
            "charge.refunded",
            se.charge(
                charge_id=f"ch_k{n}",
                payment_intent=pi,
                amount=amount,
                amount_refunded=100 + n,
                created=NOV_10,
            ),
            event_id=f"evt_krf_{n}",
        ),
    ]
    if n % 2 == 0:
        lost = se.dispute(
            dispute_id=f"dp_k{n}",
            charge_id=f"ch_k{n}",
            payment_intent=pi,
            amount=300,
            status="lost",
            created=NOV_10,
        )
        out.append(se.event("charge.dispute.closed", lost, event_id=f"evt_kdp_{n}", created=NOV_10))
    return out


def monthly(n: int) -> list[dict]:
    invoice_id, pi, amount = f"in_k{n}", f"pi_km{n}", 2000 + n
    new_api = n % 2 == 0  # the PaymentIntent only in invoice_payment.paid: a ledger-wide lock
    inv = se.invoice(
        invoice_id=invoice_id,
        amount_paid=amount,
        created=NOV_10,
        payment_intent=None if new_api else pi,
    )
    out = [se.event("invoice.paid", inv, event_id=f"evt_kin_{n}")]
    if new_api:
        link = se.invoice_payment(
            invoice_id=invoice_id, payment_intent=pi, amount=amount, created=NOV_10
        )
        out.append(se.event("invoice_payment.paid", link, event_id=f"evt_klk_{n}"))
    refund = se.charge(
        charge_id=f"ch_km{n}",
        payment_intent=pi,
        amount=amount,
        amount_refunded=500 + n,
        created=NOV_10 + timedelta(days=1),
    )
    out.append(se.event("charge.refunded", refund, event_id=f"evt_kmr_{n}"))
    return out


def test_mixed_events_from_many_threads_end_as_in_order(server, client, db) -> None:  # noqa: F811
    make_campaign("southfront")
    in_order = [evt for n in range(16) for evt in one_off(n)]
    in_order += [evt for n in range(8) for evt in monthly(n)]
    for evt in in_order:
        assert se.deliver(client, evt).status_code == 200
    expected = state()
    assert len(expected[1]) == 24  # every payment counted

    def post(payload: bytes) -> int:
        response = requests.post(
            f"{server}/webhooks/stripe",
            data=payload,
            headers={"Stripe-Signature": se.sign(payload), "Content-Type": "application/json"},
            timeout=30,
        )
        return response.status_code

    for seed in range(6):  # a race lost once is enough; several orders make one likely
        wipe_ledger()
        deliveries = [se.body(evt) for evt in in_order] * 3
        random.Random(seed).shuffle(deliveries)
        with ThreadPoolExecutor(max_workers=24) as pool:
            statuses = list(pool.map(post, deliveries))
        assert all(200 <= status < 300 for status in statuses), sorted(set(statuses))
        sa_db.session.expire_all()
        assert state() == expected, f"order {seed}"
        assert services.verify() == []
