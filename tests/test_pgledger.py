"""PostgreSQL: a plainly new payment is counted in one statement (tracker.pgledger).

It must end exactly where the ordinary way (tracker.ledger.count, the ORM) ends, and
anything less plain -- no period yet, a refund or review row first, another currency, an
unknown campaign, a payment counted already -- must go the ordinary way.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from tests import stripe_events as se
from tests.factories import make_campaign
from tracker import ledger, pgledger, services
from tracker.extensions import db as sa_db
from tracker.models import Campaign, Donation, Period, ReviewPayment, StripeEvent

pytestmark = pytest.mark.postgres

# 03:00 UTC on 1 November is still October in Los Angeles.
NOV_1_EARLY = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _postgresql_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the one-statement count is PostgreSQL's (TEST_DATABASE_URL)")


@pytest.fixture(params=["two statements", "one shot"])
def way(request, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs twice: the campaign's timezone unknown to this process (the count is
    a second statement in the ORM session's transaction), and known (one shot)."""
    monkeypatch.setattr(ledger, "_TIMEZONES", {})
    return request.param


@pytest.fixture()
def make(way: str, db):  # type: ignore[no-untyped-def]
    """make(slug, timezone): a campaign, known to the process in the one-shot way."""

    def make(slug: str, timezone: str = "UTC") -> None:
        make_campaign(slug, timezone=timezone)
        if way == "one shot":
            ledger._TIMEZONES[slug] = timezone

    return make


@pytest.fixture()
def fast_counts(monkeypatch: pytest.MonkeyPatch, way: str) -> list[object]:
    """What each count in one statement returned (None: not plain, nothing written)."""
    seen: list[object] = []
    count_new, store_and_count = pgledger.count_new, pgledger.store_and_count

    def spy_count(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(count_new(*args, **kwargs))
        return seen[-1]

    def spy_shot(*args, **kwargs):  # type: ignore[no-untyped-def]
        stored, counted = store_and_count(*args, **kwargs)
        seen.append(counted)
        return stored, counted

    monkeypatch.setattr(pgledger, "count_new", spy_count)
    monkeypatch.setattr(pgledger, "store_and_count", spy_shot)
    return seen


def checkout(
    n: int, campaign: str | None, *, currency: str = "usd", event_id: str | None = None
) -> dict:
    obj = se.checkout_session(
        session_id=f"cs_f{n}",
        payment_intent=f"pi_f{n}",
        amount=2500,
        created=NOV_1_EARLY,
        currency=currency,
        campaign=campaign,
    )
    return se.event("checkout.session.completed", obj, event_id=event_id or f"evt_f{n}")


def open_month(slug: str) -> None:
    """The period of NOV_1_EARLY's month, as the first widget read of the month makes it."""
    services.period_for(services.require_campaign(slug), NOV_1_EARLY)
    sa_db.session.commit()


def donation_row(key: str) -> tuple:
    sa_db.session.expire_all()
    d = sa_db.session.execute(select(Donation).where(Donation.external_key == key)).scalar_one()
    return (
        d.amount_minor,
        d.currency,
        d.received_at,
        d.source,
        d.payment_intent_id == key,  # the PaymentIntent is the key of a one-off payment
        d.frequency,
        d.refunded_minor,
        d.disputed_minor,
        d.donor_name,
        (d.period.year, d.period.month, d.period.raised_minor, d.period.donations),
    )


def revision(slug: str) -> int:
    sa_db.session.expire_all()
    return sa_db.session.execute(
        select(Campaign.revision).where(Campaign.slug == slug)
    ).scalar_one()


def stored(event_id: str) -> tuple:
    row = sa_db.session.get(StripeEvent, event_id)
    assert row is not None
    return row.outcome, row.applied_at is not None, json.loads(row.payload)["id"]


def test_a_plain_payment_ends_as_the_ordinary_way_ends(client, make, fast_counts, monkeypatch):
    for slug in ("fast", "slow"):
        make(slug, "America/Los_Angeles")
        open_month(slug)
    before = revision("fast"), revision("slow")

    fast = se.deliver(client, checkout(1, "fast"))
    assert fast_counts and fast_counts[-1] is not None  # counted in one statement
    monkeypatch.setattr(ledger, "plain_payment", lambda event: None)
    slow = se.deliver(client, checkout(2, "slow"))
    assert len(fast_counts) == 1  # the ordinary way

    assert fast.status_code == slow.status_code == 200
    assert {**fast.get_json(), "id": "-"} == {**slow.get_json(), "id": "-"}
    assert fast.get_json()["outcome"] == "counted"
    assert donation_row("pi_f1") == donation_row("pi_f2")
    assert donation_row("pi_f1")[-1] == (2026, 10, 2500, 1)  # October in Los Angeles
    assert (revision("fast") - before[0]) == (revision("slow") - before[1]) == 1
    assert stored("evt_f1") == ("counted", True, "evt_f1")
    assert stored("evt_f2") == ("counted", True, "evt_f2")
    assert services.verify() == []


def test_a_repeat_changes_nothing(client, make, fast_counts):
    make("fast")
    open_month("fast")
    event = checkout(1, "fast")
    assert se.deliver(client, event).get_json()["duplicate"] is False
    again = se.deliver(client, event)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert fast_counts[0] is not None and fast_counts[1:] in ([], [None])  # counted once
    assert donation_row("pi_f1")[-1] == (2026, 11, 2500, 1)


def _no_period(client, make) -> None:
    make("fast")  # no read yet: the month has no period


def _moved_to_another_timezone(client, make) -> None:
    make("fast", "America/Los_Angeles")  # known to the process as Los Angeles
    open_month("fast")
    services.edit_campaign(services.require_campaign("fast"), NOV_1_EARLY, timezone="UTC")
    sa_db.session.commit()  # now the payment is November's, whose period does not exist


def _refund_first(client, make) -> None:
    make("fast")
    open_month("fast")
    charge = se.charge(
        charge_id="ch_f1", payment_intent="pi_f1", amount=2500, amount_refunded=500,
        created=NOV_1_EARLY,
    )  # fmt: skip
    refund = se.event("charge.refunded", charge, event_id="evt_rf")
    assert se.deliver(client, refund).get_json()["outcome"] == "refund_pending"


def _kept_for_review_first(client, make) -> None:
    make("fast")
    open_month("fast")
    # The same PaymentIntent arrived first without a campaign: kept as unassigned.
    first = se.deliver(client, checkout(1, None, event_id="evt_first"))
    assert first.get_json()["outcome"] == "review_unassigned"
    assert sa_db.session.execute(select(ReviewPayment)).scalar_one().resolved_at is None


def _counted_first(client, make) -> None:
    make("fast")
    open_month("fast")
    intent = se.payment_intent(intent_id="pi_f1", amount=2500, created=NOV_1_EARLY, campaign="fast")
    paid = se.event("payment_intent.succeeded", intent, event_id="evt_pi")
    assert se.deliver(client, paid).get_json()["outcome"] == "counted"


@pytest.mark.parametrize(
    ("arrange", "outcome", "net"),
    [
        (_no_period, "counted", 2500),
        (_moved_to_another_timezone, "counted", 2500),
        (_refund_first, "counted", 2000),
        (_kept_for_review_first, "counted", 2500),
        (_counted_first, "already_counted", 2500),
    ],
)
def test_a_payment_that_is_not_plain_goes_the_ordinary_way(
    client, make, fast_counts, arrange, outcome, net
):
    arrange(client, make)
    fast_counts.clear()
    answer = se.deliver(client, checkout(1, "fast"))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["outcome"] == outcome
    assert fast_counts == [None]  # tried, found not plain, changed nothing
    sa_db.session.expire_all()
    counted = [p for p in sa_db.session.execute(select(Period)).scalars() if p.donations]
    assert [(p.year, p.month, p.raised_minor, p.donations) for p in counted] == [(2026, 11, net, 1)]
    assert stored("evt_f1") == (outcome, True, "evt_f1")
    assert services.verify() == []


@pytest.mark.parametrize(
    ("campaign", "currency", "outcome"),
    [("fast", "eur", "review_currency"), ("nobody", "usd", "review_unassigned")],
)
def test_other_currencies_and_unknown_campaigns_are_kept_for_review(
    client, make, fast_counts, campaign, currency, outcome
):
    make("fast")
    open_month("fast")
    answer = se.deliver(client, checkout(1, campaign, currency=currency))
    assert answer.get_json()["outcome"] == outcome
    assert fast_counts in ([None], [])  # an unknown campaign is not even tried
    assert sa_db.session.execute(select(Donation)).first() is None


def test_a_failed_statement_is_counted_the_ordinary_way(client, make, monkeypatch):
    make("fast")
    open_month("fast")

    def deadlocked(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("count_new", {}, Exception("deadlock detected"))

    def failed(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise pgledger.StatementFailed("deadlock detected")

    monkeypatch.setattr(pgledger, "count_new", deadlocked)
    monkeypatch.setattr(pgledger, "store_and_count", failed)
    answer = se.deliver(client, checkout(1, "fast"))
    assert answer.status_code == 200
    assert answer.get_json()["outcome"] == "counted"
    assert donation_row("pi_f1")[-1] == (2026, 11, 2500, 1)
    assert stored("evt_f1") == ("counted", True, "evt_f1")


@time_machine.travel(datetime(2026, 11, 10, 12, 0, tzinfo=UTC), tick=False)
def test_the_widget_of_this_process_shows_a_payment_at_once(client, make, fast_counts):
    make("fast")
    open_month("fast")
    url = "/api/v1/campaigns/fast/progress"
    assert client.get(url).get_json()["raised"]["amount_minor"] == 0  # now cached
    assert se.deliver(client, checkout(1, "fast")).get_json()["outcome"] == "counted"
    assert fast_counts and fast_counts[-1] is not None
    # No waiting for the once-a-second revision poll: this process wrote it.
    assert client.get(url).get_json()["raised"]["amount_minor"] == 2500
