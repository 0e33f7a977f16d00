"""Any order, any repeats: the ledger ends where in-order, once-each delivery ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests import stripe_events as se
from tests.factories import make_campaign
from tracker.extensions import db as sa_db
from tracker.models import Donation, PaymentAdjustment, Period, ReviewPayment, StripeEvent

# Around a month boundary, so the month of each payment matters.
BASE = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)


@st.composite
def payment_plans(draw, n: int) -> dict:
    kind = draw(st.sampled_from(["once", "once", "monthly", "unassigned", "foreign"]))
    amount = draw(st.integers(min_value=100, max_value=100_000))
    created = BASE + timedelta(minutes=draw(st.integers(min_value=0, max_value=24 * 60)))
    # The PaymentIntent may be made after its Checkout Session, across the month's end.
    pi_delay = timedelta(minutes=draw(st.integers(min_value=0, max_value=12 * 60)))
    refunds = sorted(set(draw(st.lists(st.integers(min_value=1, max_value=amount), max_size=3))))
    dispute = draw(st.sampled_from([None, ["lost"], ["lost", "won"], ["won"]]))
    return {
        "n": n,
        "kind": kind,
        "new_api": draw(st.booleans()),
        "amount": amount,
        "created": created,
        "pi_created": created + pi_delay,
        "refunds": refunds,
        "dispute": dispute,
    }


def events_for(plan: dict) -> list[dict]:
    """Every event Stripe sends for one payment, in the order it sends them."""
    n, amount = plan["n"], plan["amount"]
    pi = f"pi_p{n}"
    out: list[dict] = []
    if plan["kind"] == "monthly":
        # Older API versions name the PaymentIntent on the invoice; newer ones only in a
        # separate invoice_payment.paid event.
        inv = se.invoice(
            invoice_id=f"in_p{n}",
            amount_paid=amount,
            created=plan["created"],
            payment_intent=None if plan["new_api"] else pi,
        )
        out.append(se.event("invoice.paid", inv, event_id=f"evt_inv_{n}"))
        if plan["new_api"]:
            link = se.invoice_payment(
                invoice_id=f"in_p{n}", payment_intent=pi, amount=amount, created=plan["created"]
            )
            out.append(se.event("invoice_payment.paid", link, event_id=f"evt_link_{n}"))
    else:
        campaign = None if plan["kind"] == "unassigned" else "southfront"
        currency = "eur" if plan["kind"] == "foreign" else "usd"
        cs = se.checkout_session(
            session_id=f"cs_p{n}",
            payment_intent=pi,
            amount=amount,
            created=plan["created"],
            campaign=campaign,
            currency=currency,
        )
        out.append(se.event("checkout.session.completed", cs, event_id=f"evt_cs_{n}"))
        intent = se.payment_intent(
            intent_id=pi,
            amount=amount,
            created=plan["pi_created"],
            campaign=campaign,
            currency=currency,
        )
        out.append(se.event("payment_intent.succeeded", intent, event_id=f"evt_pi_{n}"))
    at = plan["pi_created"] + timedelta(days=1)
    for k, total in enumerate(plan["refunds"]):
        ch = se.charge(
            charge_id=f"ch_p{n}",
            payment_intent=pi,
            amount=amount,
            amount_refunded=total,
            created=plan["created"],
        )
        out.append(
            se.event(
                "charge.refunded", ch, event_id=f"evt_rf_{n}_{k}", created=at + timedelta(hours=k)
            )
        )
    for k, status in enumerate(plan["dispute"] or []):
        dp = se.dispute(
            dispute_id=f"dp_p{n}",
            charge_id=f"ch_p{n}",
            payment_intent=pi,
            amount=amount,
            status=status,
            created=plan["created"],
        )
        out.append(
            se.event(
                "charge.dispute.closed",
                dp,
                event_id=f"evt_dp_{n}_{k}",
                created=at + timedelta(days=5 + k),
            )
        )
    return out


def state() -> tuple:
    sa_db.session.expire_all()
    periods = sorted(
        (p.year, p.month, p.raised_minor, p.donations)
        for p in sa_db.session.execute(select(Period)).scalars()
        if p.raised_minor or p.donations
    )
    donations = sorted(
        (d.external_key, d.amount_minor, d.refunded_minor, d.disputed_minor, d.received_at)
        for d in sa_db.session.execute(select(Donation)).scalars()
    )
    reviews = sorted(
        (r.external_key, r.reason, r.amount_minor, r.currency)
        for r in sa_db.session.execute(select(ReviewPayment)).scalars()
    )
    return periods, donations, reviews


def wipe_ledger() -> None:
    for model in (ReviewPayment, Donation, PaymentAdjustment, Period, StripeEvent):
        sa_db.session.execute(model.__table__.delete())
    sa_db.session.commit()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_order_and_repeats_give_in_order_totals(client, db, data) -> None:
    if not _has_campaign():  # the db fixture empties tables per test, not per example
        make_campaign("southfront")
    wipe_ledger()
    count = data.draw(st.integers(min_value=1, max_value=5), label="payments")
    plans = [data.draw(payment_plans(n), label=f"payment {n}") for n in range(count)]
    in_order = [evt for plan in plans for evt in events_for(plan)]

    for evt in in_order:
        assert se.deliver(client, evt).status_code == 200
    expected = state()
    wipe_ledger()

    repeats = data.draw(
        st.lists(st.sampled_from(in_order), max_size=len(in_order) * 2), label="repeats"
    )
    shuffled = data.draw(st.permutations(in_order + repeats), label="delivery order")
    for evt in shuffled:
        response = se.deliver(client, evt)
        assert response.status_code == 200, response.get_data(as_text=True)
    assert state() == expected
    # Sanity: something was counted whenever a payment was for the campaign in its currency.
    if any(p["kind"] in ("once", "monthly") for p in plans):
        assert expected[1]


def _has_campaign() -> bool:
    from tracker.models import Campaign

    return sa_db.session.execute(select(Campaign.id)).first() is not None
