"""What the widget and the API show of a campaign: a snapshot of now, and SPEC's JSON.

A snapshot reads one period row (its running total) and one indexed aggregate over the
campaign's subscriptions: no aggregate over donations. The widget's reads build it once
per campaign change and keep what they built (tracker.views.reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from tracker import services, supporters
from tracker.domain import money, periods, progress
from tracker.extensions import db
from tracker.models import Campaign, Period


@dataclass(frozen=True)
class Snapshot:
    """What a widget shows for one campaign at one instant."""

    campaign: Campaign
    period: Period
    progress: progress.Progress
    days_left: int
    now: datetime
    monthly: supporters.Monthly

    @property
    def expected_minor(self) -> int:
        """Raised so far plus the renewals still due this month."""
        return self.progress.raised_minor + self.monthly.due_minor


def snapshot(campaign: Campaign, at: datetime) -> Snapshot:
    """Progress of the campaign's period containing `at` (O(1): no aggregate)."""
    period = services.period_for(campaign, at)
    return Snapshot(
        campaign=campaign,
        period=period,
        progress=progress.compute_progress(period.raised_minor, period.milestones),
        days_left=periods.days_left(at, services.campaign_zone(campaign)),
        now=at,
        monthly=supporters.monthly(campaign, at, period.ends_at),
    )


def amount_json(minor: int, currency: str, locale: str) -> dict[str, Any]:
    return {"amount_minor": minor, "display": money.format_money(minor, currency, locale)}


def progress_json(snap: Snapshot, locale: str | None = None) -> dict[str, Any]:
    """The progress document of SPEC.md."""
    campaign, period, prog = snap.campaign, snap.period, snap.progress
    loc = locale or campaign.locale
    month = services.month_of(period)
    return {
        "campaign": {
            "slug": campaign.slug,
            "name": campaign.name,
            "currency": campaign.currency,
            "timezone": campaign.timezone,
            "locale": campaign.locale,
        },
        "period": {
            "start": month.first_day.isoformat(),
            "end": month.last_day.isoformat(),
            "label": month.label(loc),
            "days_left": snap.days_left,
            "ends_at": period.ends_at.astimezone(services.campaign_zone(campaign)).isoformat(),
            "closed": period.closed,
        },
        "raised": amount_json(prog.raised_minor, campaign.currency, loc),
        "goal": amount_json(prog.goal_minor, campaign.currency, loc),
        "milestones": [
            {**amount_json(m.amount_minor, campaign.currency, loc), "reached": m.reached}
            for m in prog.milestones
        ],
        "percent": prog.percent,
        "goal_reached": prog.goal_reached,
        "donations": period.donations,
        "monthly": {
            "supporters": snap.monthly.supporters,
            "pledged": amount_json(snap.monthly.pledged_minor, campaign.currency, loc),
            "due": amount_json(snap.monthly.due_minor, campaign.currency, loc),
        },
        "expected": amount_json(snap.expected_minor, campaign.currency, loc),
    }


def period_json(campaign: Campaign, period: Period) -> dict[str, Any]:
    month = services.month_of(period)
    cur, loc = campaign.currency, campaign.locale
    return {
        "start": month.first_day.isoformat(),
        "end": month.last_day.isoformat(),
        "label": month.label(loc),
        "raised": amount_json(period.raised_minor, cur, loc),
        "goal": amount_json(period.goal_minor, cur, loc),
        "closed_raised": None
        if period.closed_raised_minor is None
        else amount_json(period.closed_raised_minor, cur, loc),
        "donations": period.donations,
        "closed": period.closed,
    }


def periods_json(campaign: Campaign, at: datetime) -> dict[str, Any]:
    """Every period of the campaign, newest first (the current one always included)."""
    services.period_for(campaign, at)
    rows = db.session.execute(
        select(Period)
        .where(Period.campaign_id == campaign.id)
        .order_by(Period.year.desc(), Period.month.desc())
    ).scalars()
    return {"periods": [period_json(campaign, row) for row in rows]}
