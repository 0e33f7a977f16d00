"""tracker.services: campaigns, months and their running totals, donations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select, update

from tests.factories import make_campaign, make_donation
from tracker import services
from tracker.domain import money, periods
from tracker.domain.periods import Period as Month
from tracker.extensions import db as sa_db
from tracker.models import Campaign, Donation, Period

NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)


def totals(campaign: Campaign) -> dict[str, tuple[int, int]]:
    sa_db.session.expire_all()
    return {
        f"{p.year}-{p.month:02d}": (p.raised_minor, p.donations)
        for p in sa_db.session.scalars(select(Period).where(Period.campaign_id == campaign.id))
    }


# --- campaigns -----------------------------------------------------------------


def test_create_campaign_normalises_what_it_keeps(db) -> None:
    campaign = services.create_campaign(
        "new", name="  News ", currency="eur", milestones=[250000, 500000], locale="de-DE"
    )
    assert (campaign.name, campaign.currency, campaign.locale) == ("News", "EUR", "de_DE")
    assert campaign.milestones == [0, 250000, 500000]  # 0 first


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"slug": "Bad Slug"}, services.CampaignError),
        ({"name": " "}, services.CampaignError),
        ({"currency": "XXX"}, money.CurrencyError),
        ({"timezone": "Mars/Base"}, periods.TimezoneError),
        ({"milestones": [5, 1]}, money.AmountError),
        ({"allowed_origins": ["ftp://x"]}, services.CampaignError),
    ],
)
def test_create_campaign_refuses_bad_values(db, changes, error) -> None:
    values = {"slug": "ok", "name": "N", "currency": "USD", "milestones": [0, 100]}
    values.update(changes)
    with pytest.raises(error):
        services.create_campaign(values.pop("slug"), **values)
    sa_db.session.rollback()
    assert sa_db.session.scalar(select(func.count(Campaign.id))) == 0


def test_an_existing_slug_is_refused(db) -> None:
    make_campaign("taken")
    with pytest.raises(services.CampaignError, match="already exists"):
        services.create_campaign("taken", name="N", currency="USD", milestones=[0, 100])


def test_new_milestones_apply_to_the_current_month_not_history(db) -> None:
    campaign = make_campaign("s", milestones=[0, 1000])
    october = services.period_for(campaign, datetime(2026, 10, 5, tzinfo=UTC))
    services.edit_campaign(campaign, NOV_10, milestones=[0, 5000])
    sa_db.session.commit()
    assert october.milestones == [0, 1000]
    assert services.period_for(campaign, NOV_10).milestones == [0, 5000]


def test_every_change_a_widget_shows_bumps_the_revision(db) -> None:
    campaign = make_campaign("s")
    start = campaign.revision
    services.edit_campaign(campaign, NOV_10, name="Renamed")
    make_donation(campaign, 100)
    sa_db.session.expire_all()
    assert sa_db.session.get(Campaign, campaign.id).revision == start + 2


def test_parse_presets_and_origins() -> None:
    assert services.parse_presets("25, 5,10,10", "USD") == [500, 1000, 2500]
    assert services.parse_origins(" https://a.example/, http://b.example:8080,,") == [
        "https://a.example",
        "http://b.example:8080",
    ]
    with pytest.raises(services.CampaignError):
        services.parse_presets(",".join(["1"] * 3 + [str(n) for n in range(2, 9)]), "USD")


# --- months --------------------------------------------------------------------


def test_period_for_finds_or_creates_the_month_once(db) -> None:
    campaign = make_campaign("s", timezone="Europe/Berlin")
    first = services.period_for(campaign, NOV_10)
    again = services.period_for(campaign, NOV_10 + timedelta(days=5))
    assert first.id == again.id
    assert (first.starts_at, first.ends_at) == Month(2026, 11).bounds(
        services.campaign_zone(campaign)
    )


def test_open_period_settles_an_insert_race_by_reading_the_winner(db) -> None:
    campaign = make_campaign("s")
    row, inserted = services.open_period(campaign, Month(2027, 2), [0, 7])
    sa_db.session.commit()
    same, again = services.open_period(campaign, Month(2027, 2), [0, 9])
    assert inserted and not again and same.id == row.id and same.milestones == [0, 7]


# --- donations and totals ------------------------------------------------------


def test_a_donation_adds_to_its_months_running_total(db) -> None:
    campaign = make_campaign("s")
    make_donation(campaign, 1000, NOV_10)
    make_donation(campaign, 500, datetime(2026, 10, 31, 23, tzinfo=UTC))
    assert totals(campaign) == {"2026-10": (500, 1), "2026-11": (1000, 1)}


@pytest.mark.parametrize("amount", [0, -1, money.MAX_MINOR + 1])
def test_record_donation_refuses_amounts_out_of_bounds(db, amount) -> None:
    campaign = make_campaign("s")
    with pytest.raises(money.AmountError):
        services.record_donation(campaign, amount_minor=amount, received_at=NOV_10, source="manual")


def test_adjusting_a_donation_moves_its_months_total_by_the_change(db) -> None:
    campaign = make_campaign("s")
    donation = make_donation(campaign, 1000, NOV_10)
    assert services.adjust_donation(donation, refunded_minor=300) == -300
    assert services.adjust_donation(donation, disputed_minor=900) == -700  # never below 0
    assert services.adjust_donation(donation, disputed_minor=0) == 700
    sa_db.session.commit()
    assert totals(campaign) == {"2026-11": (700, 1)}


def test_moving_a_donation_moves_it_between_months(db) -> None:
    campaign = make_campaign("s")
    donation = make_donation(campaign, 1000, datetime(2026, 10, 31, tzinfo=UTC))
    services.move_donation(donation, NOV_10)
    sa_db.session.commit()
    assert totals(campaign) == {"2026-10": (0, 0), "2026-11": (1000, 1)}


def test_removing_a_donation_takes_it_out(db) -> None:
    campaign = make_campaign("s")
    donation = make_donation(campaign, 1000, NOV_10)
    services.remove_donation(donation)
    sa_db.session.commit()
    assert totals(campaign) == {"2026-11": (0, 0)}


@time_machine.travel(NOV_10, tick=False)
def test_a_manual_donation_may_be_at_most_five_minutes_ahead(db) -> None:
    campaign = make_campaign("s")
    services.record_manual_donation(campaign, 100, NOV_10 + timedelta(minutes=5), " Ada ")
    with pytest.raises(periods.FutureError):
        services.record_manual_donation(
            campaign, 100, NOV_10 + timedelta(minutes=5, seconds=1), None
        )
    sa_db.session.commit()
    assert sa_db.session.scalar(select(Donation.donor_name)) == "Ada"


def test_verify_finds_a_total_that_does_not_match_its_donations(db) -> None:
    campaign = make_campaign("s")
    make_donation(campaign, 1000, NOV_10)
    assert services.verify() == []
    sa_db.session.execute(update(Period).values(raised_minor=Period.raised_minor + 1))
    sa_db.session.commit()
    [problem] = services.verify()
    assert "stored raised=1001" in problem and "donations give raised=1000" in problem
