"""The month-boundary job: exact in every timezone, idempotent, catching up, isolating failures."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select, update

from tests.factories import make_campaign, make_donation
from tracker import services
from tracker.extensions import db as sa_db
from tracker.models import Campaign, Period
from tracker.rollover import run_rollover


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def campaign_at(at: datetime, slug: str = "southfront", **kw) -> Campaign:
    with time_machine.travel(at, tick=False):
        campaign = make_campaign(slug, **kw)
        services.period_for(campaign, at)
        sa_db.session.commit()
    return campaign


def history(campaign: Campaign) -> dict[str, Period]:
    sa_db.session.expire_all()
    rows = sa_db.session.execute(
        select(Period).where(Period.campaign_id == campaign.id).order_by(Period.year, Period.month)
    ).scalars()
    return {f"{row.year}-{row.month:02d}": row for row in rows}


def revision(campaign: Campaign) -> int:
    return sa_db.session.execute(
        select(Campaign.revision).where(Campaign.id == campaign.id)
    ).scalar_one()


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Pacific/Kiritimati"])
def test_october_closes_at_local_midnight_of_november_first(db, client, zone) -> None:
    campaign = campaign_at(local(zone, 2026, 10, 15, 12), timezone=zone)
    make_donation(campaign, 218000, local(zone, 2026, 10, 31, 23, 59, 59))
    before = local(zone, 2026, 10, 31, 23, 59, 59)
    at = local(zone, 2026, 11, 1, 0, 0, 0)

    report = run_rollover(before)
    assert report.closed == [] and report.opened == [] and report.failed == []
    assert not history(campaign)["2026-10"].closed

    report = run_rollover(at)
    assert [(c.slug, c.month, c.raised_minor) for c in report.closed] == [
        ("southfront", "2026-10", 218000)
    ]
    assert [(c.slug, c.month) for c in report.opened] == [("southfront", "2026-11")]
    periods = history(campaign)
    october, november = periods["2026-10"], periods["2026-11"]
    assert october.closed and october.closed_raised_minor == 218000
    assert october.raised_minor == 218000
    assert october.closed_at == at.astimezone(UTC)
    assert not november.closed and november.raised_minor == 0
    assert november.milestones == campaign.milestones
    assert november.starts_at == at.astimezone(UTC)

    with time_machine.travel(at, tick=False):
        body = client.get("/api/v1/campaigns/southfront/progress").get_json()
        listed = client.get("/api/v1/campaigns/southfront/periods").get_json()["periods"]
    assert body["period"]["start"] == "2026-11-01"
    assert body["raised"]["amount_minor"] == 0
    assert [(p["start"], p["closed"]) for p in listed] == [
        ("2026-11-01", False),
        ("2026-10-01", True),
    ]
    assert listed[1]["closed_raised"]["amount_minor"] == 218000


@pytest.mark.parametrize(
    ("zone", "month", "last_open", "closes_at"),
    [
        # March 2027 in Los Angeles springs forward on the 14th: the month is 743 hours
        # long and ends at 07:00 UTC, not at 08:00 when it began.
        ("America/Los_Angeles", (2027, 3), "2027-04-01T06:59:59", "2027-04-01T07:00:00"),
        # October 2026 in Berlin falls back on the 25th: it ends at 23:00 UTC.
        ("Europe/Berlin", (2026, 10), "2026-10-31T22:59:59", "2026-10-31T23:00:00"),
    ],
)
def test_a_dst_month_closes_at_its_own_local_midnight(db, zone, month, last_open, closes_at):
    year, number = month
    campaign = campaign_at(local(zone, year, number, 10, 12), timezone=zone)
    key = f"{year}-{number:02d}"
    not_yet = datetime.fromisoformat(last_open).replace(tzinfo=UTC)
    boundary = datetime.fromisoformat(closes_at).replace(tzinfo=UTC)

    assert run_rollover(not_yet).closed == []
    assert not history(campaign)[key].closed
    report = run_rollover(boundary)
    assert [c.month for c in report.closed] == [key]
    assert history(campaign)[key].ends_at == boundary


def test_a_job_that_did_not_run_for_three_months_catches_up(db) -> None:
    campaign = campaign_at(datetime(2026, 7, 10, tzinfo=UTC))
    make_donation(campaign, 5000, datetime(2026, 7, 20, tzinfo=UTC))

    report = run_rollover(datetime(2026, 10, 15, 9, tzinfo=UTC))

    assert [c.month for c in report.closed] == ["2026-07", "2026-08", "2026-09"]
    assert [c.month for c in report.opened] == ["2026-08", "2026-09", "2026-10"]
    periods = history(campaign)
    assert list(periods) == ["2026-07", "2026-08", "2026-09", "2026-10"]
    assert [(p.closed, p.closed_raised_minor, p.raised_minor) for p in periods.values()] == [
        (True, 5000, 5000),
        (True, 0, 0),
        (True, 0, 0),
        (False, None, 0),
    ]
    # the months nobody touched ran with the goal of the month before them
    assert periods["2026-08"].milestones == periods["2026-07"].milestones


def test_the_job_is_idempotent(db) -> None:
    campaign = campaign_at(datetime(2026, 10, 3, tzinfo=UTC))
    at = datetime(2026, 11, 1, 0, 5, tzinfo=UTC)
    first = run_rollover(at)
    assert len(first.closed) == 1 and len(first.opened) == 1
    rev = revision(campaign)
    closed_at = history(campaign)["2026-10"].closed_at

    for later in (at, at + timedelta(minutes=5), at + timedelta(days=3)):
        again = run_rollover(later)
        assert again.closed == [] and again.opened == [] and again.failed == []
    assert revision(campaign) == rev
    assert history(campaign)["2026-10"].closed_at == closed_at
    assert len(history(campaign)) == 2


def test_closing_bumps_the_revision_so_widgets_show_it(db) -> None:
    campaign = campaign_at(datetime(2026, 10, 3, tzinfo=UTC))
    rev = revision(campaign)
    run_rollover(datetime(2026, 11, 1, tzinfo=UTC))
    assert revision(campaign) > rev


def test_history_has_no_holes_after_a_back_dated_donation(db) -> None:
    campaign = campaign_at(datetime(2026, 11, 5, tzinfo=UTC))
    make_donation(campaign, 1200, datetime(2026, 8, 14, tzinfo=UTC))
    assert list(history(campaign)) == ["2026-08", "2026-11"]

    report = run_rollover(datetime(2026, 11, 6, tzinfo=UTC))

    assert [c.month for c in report.opened] == ["2026-09", "2026-10"]
    assert [c.month for c in report.closed] == ["2026-08", "2026-09", "2026-10"]
    assert list(history(campaign)) == ["2026-08", "2026-09", "2026-10", "2026-11"]


def test_a_campaign_without_any_period_gets_its_months(db) -> None:
    with time_machine.travel(datetime(2026, 9, 20, tzinfo=UTC), tick=False):
        campaign = make_campaign("bare")
    report = run_rollover(datetime(2026, 11, 2, tzinfo=UTC))
    assert [c.month for c in report.opened] == ["2026-09", "2026-10", "2026-11"]
    assert [c.month for c in report.closed] == ["2026-09", "2026-10"]
    assert history(campaign)["2026-11"].milestones == [0, 250000, 500000]


def test_the_new_month_opens_with_the_current_goal_and_history_keeps_the_old(db) -> None:
    campaign = campaign_at(datetime(2026, 10, 3, tzinfo=UTC))
    # the goal changes in November, before the job has run
    services.edit_campaign(
        campaign, datetime(2026, 11, 1, 0, 0, 1, tzinfo=UTC), milestones=[0, 900000]
    )
    sa_db.session.commit()
    run_rollover(datetime(2026, 11, 1, 0, 1, tzinfo=UTC))
    periods = history(campaign)
    assert periods["2026-10"].milestones == [0, 250000, 500000]
    assert periods["2026-10"].closed
    assert periods["2026-11"].milestones == [0, 900000]


def test_a_late_refund_lowers_the_closed_month_not_the_current_one(db) -> None:
    campaign = campaign_at(datetime(2026, 10, 3, tzinfo=UTC))
    donation = make_donation(campaign, 10000, datetime(2026, 10, 20, tzinfo=UTC))
    make_donation(campaign, 3000, datetime(2026, 11, 2, tzinfo=UTC))
    run_rollover(datetime(2026, 11, 1, 0, 1, tzinfo=UTC))

    services.adjust_donation(donation, refunded_minor=4000)
    sa_db.session.commit()
    services.adjust_donation(donation, disputed_minor=6000)  # a lost dispute for the rest
    sa_db.session.commit()

    periods = history(campaign)
    assert periods["2026-10"].raised_minor == 0
    assert periods["2026-10"].closed_raised_minor == 10000
    assert periods["2026-11"].raised_minor == 3000
    assert periods["2026-11"].closed_raised_minor is None
    assert services.verify() == []


def test_reading_progress_never_waits_for_the_job(db, client) -> None:
    campaign_at(datetime(2026, 10, 3, tzinfo=UTC))
    with time_machine.travel(datetime(2026, 12, 2, 8, tzinfo=UTC), tick=False):
        body = client.get("/api/v1/campaigns/southfront/progress").get_json()
    assert body["period"]["start"] == "2026-12-01"
    assert body["raised"]["amount_minor"] == 0


def test_one_campaign_failing_does_not_stop_the_others(db, caplog, monkeypatch) -> None:
    # Alembic's fileConfig (the session's `db upgrade`) disables loggers that existed then.
    monkeypatch.setattr(logging.getLogger("tracker.rollover"), "disabled", False)
    good = campaign_at(datetime(2026, 10, 3, tzinfo=UTC), "good")
    bad = campaign_at(datetime(2026, 10, 3, tzinfo=UTC), "bad")
    also_good = campaign_at(datetime(2026, 10, 3, tzinfo=UTC), "also-good")
    # a row damaged behind the app's back: its timezone no longer exists
    sa_db.session.execute(update(Campaign).where(Campaign.id == bad.id).values(timezone="Mars/X"))
    sa_db.session.commit()

    with caplog.at_level(logging.ERROR, logger="tracker.rollover"):
        report = run_rollover(datetime(2026, 11, 1, tzinfo=UTC))

    assert [c.slug for c in report.closed] == ["good", "also-good"]
    assert [slug for slug, _ in report.failed] == ["bad"]
    assert "Mars/X" in report.failed[0][1]
    assert any(f"campaign_id={bad.id}" in r.getMessage() for r in caplog.records)
    assert history(good)["2026-10"].closed and history(also_good)["2026-10"].closed
    assert not history(bad)["2026-10"].closed


def test_a_failure_inside_the_transaction_writes_nothing_for_that_campaign(db, monkeypatch):
    first = campaign_at(datetime(2026, 10, 3, tzinfo=UTC), "first")
    second = campaign_at(datetime(2026, 10, 3, tzinfo=UTC), "second")
    from tracker import rollover

    real_close = rollover._close

    def close(row, now):
        result = real_close(row, now)
        if row.campaign_id == first.id:
            raise RuntimeError("disk on fire")
        return result

    monkeypatch.setattr(rollover, "_close", close)
    report = run_rollover(datetime(2026, 11, 1, tzinfo=UTC))
    assert report.failed == [("first", "disk on fire")]
    assert list(history(first)) == ["2026-10"] and not history(first)["2026-10"].closed
    assert history(second)["2026-10"].closed
    assert list(history(second)) == ["2026-10", "2026-11"]


def test_now_must_be_aware(db) -> None:
    with pytest.raises(ValueError, match="aware"):
        run_rollover(datetime(2026, 11, 1))


# --- the command ---------------------------------------------------------------------------


def test_rollover_command_prints_what_it_closed_and_opened(runner) -> None:
    campaign_at(datetime(2026, 10, 3, tzinfo=UTC))
    make_donation(
        services.require_campaign("southfront"), 218000, datetime(2026, 10, 9, tzinfo=UTC)
    )
    result = runner.invoke(args=["tracker", "rollover", "--now", "2026-11-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "opened southfront 2026-11" in lines
    assert "closed southfront 2026-10 raised 2,180 $" in lines
    assert lines[-1].endswith("1 periods closed, 1 opened, 0 busy elsewhere, 0 failed")

    again = runner.invoke(args=["tracker", "rollover", "--now", "2026-11-01T00:00:00Z"])
    assert again.exit_code == 0
    assert "closed " not in again.output and "opened " not in again.output


def test_rollover_command_reads_a_naive_now_as_utc(runner) -> None:
    campaign_at(datetime(2026, 10, 3, tzinfo=UTC))
    result = runner.invoke(args=["tracker", "rollover", "--now", "2026-10-31T23:59:59"])
    assert result.exit_code == 0
    assert "closed" not in result.output.split("rollover at")[0]
    assert not history(services.require_campaign("southfront"))["2026-10"].closed


def test_rollover_command_refuses_a_bad_now(runner) -> None:
    campaign_at(datetime(2026, 10, 3, tzinfo=UTC))
    result = runner.invoke(args=["tracker", "rollover", "--now", "next tuesday"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "ISO 8601" in lines[0]
    assert list(history(services.require_campaign("southfront"))) == ["2026-10"]


def test_rollover_command_exits_1_when_a_campaign_failed(runner) -> None:
    bad = campaign_at(datetime(2026, 10, 3, tzinfo=UTC), "bad")
    sa_db.session.execute(update(Campaign).where(Campaign.id == bad.id).values(timezone="Mars/X"))
    sa_db.session.commit()
    result = runner.invoke(args=["tracker", "rollover", "--now", "2026-11-01T00:00:00Z"])
    assert result.exit_code == 1
    assert "failed bad:" in result.output


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Pacific/Kiritimati"])
def test_rollover_command_on_a_frozen_clock_at_the_boundary(runner, zone) -> None:
    campaign = campaign_at(local(zone, 2026, 10, 2, 9), timezone=zone)
    last_second = local(zone, 2026, 10, 31, 23, 59, 59)
    first_second = local(zone, 2026, 11, 1, 0, 0, 0)
    make_donation(campaign, 700, last_second)
    make_donation(campaign, 300, first_second)

    with time_machine.travel(last_second, tick=False):
        result = runner.invoke(args=["tracker", "rollover"])
    assert result.exit_code == 0, result.output
    assert "0 periods closed" in result.output
    assert not history(campaign)["2026-10"].closed

    with time_machine.travel(first_second, tick=False):
        result = runner.invoke(args=["tracker", "rollover"])
    assert result.exit_code == 0, result.output
    assert "closed southfront 2026-10 raised 7 $" in result.output.splitlines()
    periods = history(campaign)
    assert periods["2026-10"].closed_raised_minor == 700
    assert periods["2026-10"].closed_at == first_second.astimezone(UTC)
    assert periods["2026-11"].raised_minor == 300 and not periods["2026-11"].closed
