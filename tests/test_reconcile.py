"""`tracker reconcile`: a month of the ledger against Stripe's own PaymentIntents and paid
invoices, with their refunds and lost disputes; `--apply` records what is missing here.

Stripe is the stand-in of tests/stripe_api.py: its lists are paged as Stripe pages them,
its objects are served by id, and every request is recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from tests import stripe_events as se
from tests.factories import make_campaign, make_donation
from tracker import payments, reconcile
from tracker.domain.periods import Period as Month
from tracker.extensions import db as sa_db
from tracker.models import Donation, Period, ReconcileRecord, Reconciliation, StripeEvent

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
NOV = Month(2026, 11)
NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture()
def southfront(db):
    return make_campaign("southfront")


class Stripe:
    """What the stand-in holds: each payment listed, and served by id."""

    def __init__(self, api) -> None:
        self.api = api

    def intent(
        self,
        n: str,
        amount: int,
        *,
        refunded: int = 0,
        campaign="southfront",
        at: datetime = NOV_10,
        disputed: str | None = None,
    ) -> dict:
        obj = se.payment_intent(intent_id=f"pi_{n}", amount=amount, created=at, campaign=campaign)
        charge = se.charge(
            charge_id=f"ch_{n}",
            payment_intent=f"pi_{n}",
            amount=amount,
            amount_refunded=refunded,
            created=at,
        )
        charge["disputed"] = disputed is not None
        obj["latest_charge"] = charge
        if disputed:
            self.api.lists["/v1/disputes"].append(
                se.dispute(
                    dispute_id=f"dp_{n}",
                    charge_id=f"ch_{n}",
                    payment_intent=f"pi_{n}",
                    amount=amount,
                    status=disputed,
                    created=at,
                )
            )
        self.api.lists["/v1/payment_intents"].append(obj)
        self.api.objects[obj["id"]] = obj
        return obj

    def invoice(self, n: str, amount: int, *, refunded: int = 0, at: datetime = NOV_10) -> dict:
        self.intent(f"inv{n}", amount, refunded=refunded, campaign=None, at=at)
        obj = se.invoice(
            invoice_id=f"in_{n}",
            amount_paid=amount,
            created=at,
            shape="payments",
            payment_intent=f"pi_inv{n}",
        )
        self.api.lists["/v1/invoices"].append(obj)
        self.api.objects[obj["id"]] = obj
        return obj


@pytest.fixture()
def stripe(stripe_api) -> Stripe:
    return Stripe(stripe_api)


def counted(client, obj: dict, kind: str = "payment_intent.succeeded") -> None:
    evt = se.event(kind, obj, event_id=f"evt_{obj['id']}", created=obj["created"])
    assert se.deliver(client, evt).status_code == 200


def november() -> tuple[int, int]:
    sa_db.session.expire_all()
    period = sa_db.session.scalar(select(Period).where(Period.year == 2026, Period.month == 11))
    return (period.raised_minor, period.donations) if period else (0, 0)


def kinds(run: Reconciliation) -> list[tuple[str, str]]:
    return sorted((d["kind"], d["key"]) for d in run.differences)


def test_a_month_that_agrees_has_no_differences(client, southfront, stripe) -> None:
    counted(client, stripe.intent("a", 2500))
    counted(client, stripe.invoice("m", 1000), "invoice.paid")
    run = reconcile.reconcile(southfront, NOV)
    assert run.differences == []
    assert (run.at_stripe, run.here) == (2, 2)
    assert sa_db.session.scalar(select(func.count(ReconcileRecord.id))) == 0  # scratch gone


def test_it_finds_a_missing_payment_and_a_missing_refund(client, southfront, stripe) -> None:
    counted(client, stripe.intent("a", 2500))
    stripe.intent("b", 4000)  # the webhook never came
    counted(client, stripe.intent("c", 3000))
    stripe.api.lists["/v1/payment_intents"][-1]["latest_charge"]["amount_refunded"] = 1000
    stripe.api.objects["pi_c"]["latest_charge"]["amount_refunded"] = 1000
    stripe.intent("other", 9999, campaign="another")  # not this campaign's
    run = reconcile.reconcile(southfront, NOV)
    assert kinds(run) == [("missing_here", "pi_b"), ("refunded", "pi_c")]
    assert november() == (5500, 2)  # comparing changes nothing
    created = {
        v
        for k, v in stripe.api.calls_to("GET", "/v1/payment_intents")[0].query
        if k.startswith("created[")
    }
    start, end = NOV.bounds(UTC)
    assert created == {str(int(start.timestamp())), str(int(end.timestamp()))}


def test_apply_mends_exactly_those_and_a_second_run_is_clean(client, southfront, stripe) -> None:
    counted(client, stripe.intent("a", 2500))
    stripe.intent("b", 4000, refunded=500)
    counted(client, stripe.intent("c", 3000))
    for obj in (stripe.api.lists["/v1/payment_intents"][-1], stripe.api.objects["pi_c"]):
        obj["latest_charge"]["amount_refunded"] = 1000
    stripe.invoice("n", 1200, refunded=200)  # a monthly payment missed, partly refunded
    run = reconcile.reconcile(southfront, NOV, apply=True)
    assert run.differences == []
    assert run.mended == 6  # pi_b + its refund; pi_c's refund; in_n + its link + its refund
    assert november() == (2500 + 3500 + 2000 + 1000, 4)
    sources = sa_db.session.scalars(
        select(StripeEvent.source).where(StripeEvent.id.like("evt_reconcile_%"))
    ).all()
    assert set(sources) == {"reconcile"}
    again = reconcile.reconcile(southfront, NOV, apply=True)
    assert (again.differences, again.mended) == ([], 0)
    assert november() == (9000, 4)


def test_a_lost_dispute_is_found_and_recorded(client, southfront, stripe) -> None:
    counted(client, stripe.intent("d", 5000, disputed="lost"))
    run = reconcile.reconcile(southfront, NOV)
    assert kinds(run) == [("disputed", "pi_d")]
    reconcile.reconcile(southfront, NOV, apply=True)
    assert november() == (0, 1)


def test_what_stripe_does_not_have_is_reported_never_deleted(client, southfront, stripe) -> None:
    counted(client, stripe.intent("a", 2500))
    make_donation(southfront, 700, NOV_10, source="stripe", external_key="pi_ghost")
    run = reconcile.reconcile(southfront, NOV, apply=True)
    assert kinds(run) == [("missing_at_stripe", "pi_ghost")]
    assert sa_db.session.scalar(select(func.count(Donation.id))) == 2
    assert november() == (3200, 2)


def test_a_payment_kept_for_review_is_a_difference_apply_leaves(client, southfront, stripe):
    obj = stripe.intent("eur", 2500)
    obj["currency"] = stripe.api.objects["pi_eur"]["currency"] = "eur"
    counted(client, obj)  # kept for review: another currency
    run = reconcile.reconcile(southfront, NOV, apply=True)
    assert kinds(run) == [("review", "pi_eur")]
    assert november() == (0, 0)


def test_lists_are_paged_to_the_end(client, southfront, stripe) -> None:
    for n in range(230):
        stripe.intent(f"p{n}", 100, at=NOV_10 + timedelta(minutes=n))
    run = reconcile.reconcile(southfront, NOV, apply=True)
    assert run.at_stripe == 230 and run.differences == []
    assert november() == (23000, 230)
    assert len(stripe.api.calls_to("GET", "/v1/payment_intents")) == 3


def test_stripe_failing_keeps_the_run_with_its_error(southfront, stripe) -> None:
    stripe.intent("a", 2500)
    stripe.api.fail("GET", "/v1/payment_intents", *([500] * 10))
    with pytest.raises(payments.PaymentError):
        reconcile.reconcile(southfront, NOV)
    [run] = sa_db.session.scalars(select(Reconciliation)).all()
    assert run.error and "500" in run.error
    assert november() == (0, 0)


def test_a_month_not_begun_is_refused(southfront, stripe) -> None:
    with pytest.raises(reconcile.ReconcileError, match="has not begun"):
        reconcile.reconcile(southfront, Month(2027, 1))
    assert stripe.api.calls == []


def test_the_scheduler_runs_the_closed_month_once_and_this_month_daily(southfront, stripe):
    from tracker import services
    from tracker.rollover import run_rollover

    services.period_for(southfront, NOV_10)
    sa_db.session.commit()
    run_rollover(NOW)  # closes November
    due = reconcile.due_runs(NOW)
    assert [(c.slug, m.key) for c, m in due] == [
        ("southfront", "2026-11"),
        ("southfront", "2026-12"),
    ]
    assert reconcile.run_due(NOW) == 0
    assert reconcile.due_runs(NOW + timedelta(hours=23)) == []
    later = reconcile.due_runs(NOW + timedelta(hours=25))
    assert [(c.slug, m.key) for c, m in later] == [("southfront", "2026-12")]


def test_cli_prints_each_difference_and_exits_1(runner, client, southfront, stripe) -> None:
    stripe.intent("b", 4000)
    result = runner.invoke(args=["tracker", "reconcile", "--month", "2026-11"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "southfront 2026-11: missing here: pi_b (Stripe 40; here none)",
        "southfront 2026-11: 1 at Stripe, 0 here, 1 differences",
    ]
    result = runner.invoke(args=["tracker", "reconcile", "--month", "2026-11", "--apply"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "southfront 2026-11: 1 at Stripe, 1 here, 0 differences, 1 recorded"
    )
    for bad, says in (("2026-13", "invalid month"), ("soon", "invalid month")):
        result = runner.invoke(args=["tracker", "reconcile", "--month", bad])
        assert result.exit_code == 1 and says in result.output
    result = runner.invoke(args=["tracker", "reconcile", "--month", "2026-11", "--campaign", "x"])
    assert result.exit_code == 1 and "Traceback" not in result.output
