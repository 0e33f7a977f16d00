"""The tracker command group: each command, and bad input that writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import func, select

from tests.factories import make_campaign
from tracker import services
from tracker.extensions import db as sa_db
from tracker.models import Campaign, Donation, Period


def count(model: type) -> int:
    return sa_db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_create_campaign(runner, db) -> None:
    result = runner.invoke(
        args=[
            "tracker",
            "create-campaign",
            "southfront",
            "--name",
            "Support us",
            "--currency",
            "usd",
            "--timezone",
            "Europe/Berlin",
            "--milestones",
            "0,2500,5000",
        ]
    )
    assert result.exit_code == 0, result.output
    campaign = services.require_campaign("southfront")
    assert campaign.currency == "USD"
    assert campaign.timezone == "Europe/Berlin"
    assert campaign.milestones == [0, 250000, 500000]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad Slug", "--name", "x", "--currency", "USD", "--milestones", "0,10"], "slug"),
        (["ok", "--name", "x", "--currency", "XYZ", "--milestones", "0,10"], "currency"),
        (
            [
                "ok",
                "--name",
                "x",
                "--currency",
                "USD",
                "--milestones",
                "0,10",
                "--timezone",
                "Mars/Olympus",
            ],
            "timezone",
        ),
        (["ok", "--name", "x", "--currency", "USD", "--milestones", "0,50,10"], "ascending"),
        (["ok", "--name", "x", "--currency", "USD", "--milestones", "0,abc"], "decimal"),
        (["ok", "--name", "", "--currency", "USD", "--milestones", "0,10"], "name"),
        (["ok", "--name", "x", "--currency", "JPY", "--milestones", "0,10.5"], "decimal"),
        (
            [
                "ok",
                "--name",
                "x",
                "--currency",
                "USD",
                "--milestones",
                "0,10",
                "--allowed-origins",
                "javascript:alert(1)",
            ],
            "origin",
        ),
    ],
)
def test_create_campaign_refuses_bad_input(runner, db, args, message) -> None:
    result = runner.invoke(args=["tracker", "create-campaign", *args])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert message in lines[0].lower()
    assert "Traceback" not in result.output
    assert count(Campaign) == 0


def test_existing_slug_is_refused(runner, db) -> None:
    make_campaign("southfront")
    result = runner.invoke(
        args=[
            "tracker",
            "create-campaign",
            "southfront",
            "--name",
            "Other",
            "--currency",
            "EUR",
            "--milestones",
            "0,100",
        ]
    )
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert services.require_campaign("southfront").currency == "USD"


@time_machine.travel(datetime(2026, 11, 23, 12, tzinfo=UTC), tick=False)
def test_add_donation_counts_in_its_month(runner, db) -> None:
    make_campaign("southfront")
    result = runner.invoke(
        args=["tracker", "add-donation", "southfront", "12.50", "--donor", "Ada"]
    )
    assert result.exit_code == 0, result.output
    donation = sa_db.session.execute(select(Donation)).scalar_one()
    assert donation.amount_minor == 1250
    assert donation.donor_name == "Ada"
    period = donation.period
    assert (period.year, period.month, period.raised_minor, period.donations) == (2026, 11, 1250, 1)


def test_add_donation_time_without_offset_is_campaign_local(runner, db) -> None:
    make_campaign("la", timezone="America/Los_Angeles")
    # 31 Oct 23:30 in Los Angeles is already 1 Nov in UTC: it is October's.
    result = runner.invoke(
        args=["tracker", "add-donation", "la", "10", "--received-at", "2026-10-31T23:30:00"]
    )
    assert result.exit_code == 0, result.output
    donation = sa_db.session.execute(select(Donation)).scalar_one()
    assert donation.received_at == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert (donation.period.year, donation.period.month) == (2026, 10)


@pytest.mark.parametrize(
    "args",
    [
        ["nope", "10"],
        ["southfront", "-5"],
        ["southfront", "0"],
        ["southfront", "abc"],
        ["southfront", "1e3"],
        ["southfront", "NaN"],
        ["southfront", "12.345"],
        ["southfront", "10000000000.01"],
        ["southfront", "10", "--received-at", "yesterday"],
    ],
)
def test_add_donation_refuses_bad_input(runner, db, args) -> None:
    make_campaign("southfront")
    periods_before = count(Period)
    result = runner.invoke(args=["tracker", "add-donation", *[a for a in args]])
    assert result.exit_code != 0
    assert len([ln for ln in result.output.splitlines() if ln.strip()]) == 1, result.output
    assert "Traceback" not in result.output
    assert count(Donation) == 0
    assert count(Period) == periods_before


@time_machine.travel(datetime(2026, 11, 10, tzinfo=UTC), tick=False)
def test_edit_campaign_changes_current_and_future_only(runner, db) -> None:
    campaign = make_campaign("southfront")
    october = services.period_for(campaign, datetime(2026, 10, 5, tzinfo=UTC))
    sa_db.session.commit()
    result = runner.invoke(
        args=[
            "tracker",
            "edit-campaign",
            "southfront",
            "--milestones",
            "0,3000,6000",
            "--name",
            "New name",
            "--locale",
            "de",
            "--allowed-origins",
            "https://a.example",
        ]
    )
    assert result.exit_code == 0, result.output
    sa_db.session.expire_all()
    campaign = services.require_campaign("southfront")
    assert campaign.name == "New name"
    assert campaign.locale == "de"
    assert campaign.allowed_origins == ["https://a.example"]
    november = services.period_for(campaign, services.now())
    assert november.milestones == [0, 300000, 600000]
    assert sa_db.session.get(Period, october.id).milestones == [0, 250000, 500000]


def test_edit_campaign_bad_input_writes_nothing(runner, db) -> None:
    make_campaign("southfront")
    result = runner.invoke(
        args=["tracker", "edit-campaign", "southfront", "--milestones", "0,5000,2500"]
    )
    assert result.exit_code != 0
    assert "ascending" in result.output
    sa_db.session.expire_all()
    assert services.require_campaign("southfront").milestones == [0, 250000, 500000]
    result = runner.invoke(args=["tracker", "edit-campaign", "nope", "--name", "x"])
    assert result.exit_code != 0
    assert "no campaign" in result.output


def test_verify_finds_a_tampered_total(runner, db) -> None:
    campaign = make_campaign("southfront")
    services.record_donation(
        campaign, amount_minor=500, received_at=services.now(), source="manual"
    )
    sa_db.session.commit()
    assert runner.invoke(args=["tracker", "verify"]).exit_code == 0
    period = services.period_for(campaign, services.now())
    period.raised_minor += 1
    sa_db.session.commit()
    result = runner.invoke(args=["tracker", "verify"])
    assert result.exit_code == 1
    assert "stored raised=501" in result.output


def test_seed_demo_only_when_empty(runner, db) -> None:
    assert runner.invoke(args=["tracker", "seed-demo"]).exit_code == 0
    demo = services.require_campaign("demo")
    assert services.period_for(demo, services.now()).raised_minor > 0
    runner.invoke(args=["tracker", "seed-demo"])
    assert count(Campaign) == 1


def test_verify_reports_events_stuck_for_an_hour(runner, db, monkeypatch) -> None:
    from datetime import UTC, datetime, timedelta

    import time_machine

    from tests import stripe_events as se
    from tracker import ledger

    campaign = services.create_campaign(
        "southfront", name="S", currency="USD", milestones=[0, 1000]
    )
    sa_db.session.commit()
    now = datetime.now(UTC)
    client = runner.app.test_client()
    monkeypatch.setattr(ledger, "apply", lambda fact, event_id, livemode: 1 / 0)
    stuck = se.payment_intent(intent_id="pi_st", amount=500, created=now)
    answer = se.deliver(client, se.event("payment_intent.succeeded", stuck, event_id="evt_st"))
    assert answer.status_code == 500
    monkeypatch.undo()
    assert runner.invoke(args=["tracker", "verify"]).exit_code == 0  # a minute old: not yet
    with time_machine.travel(now + timedelta(minutes=61)):
        late = runner.invoke(args=["tracker", "verify"])
        assert late.exit_code == 1
        assert "evt_st" in late.stderr and "neither applied nor rejected" in late.stderr
        assert runner.invoke(args=["tracker", "reprocess"]).exit_code == 0
        assert runner.invoke(args=["tracker", "verify"]).exit_code == 0
    assert services.period_for(campaign, now).raised_minor == 500
