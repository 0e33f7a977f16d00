"""The month-boundary job: close the months that ended, open the current one, fill holes.

`run_rollover(now)` visits every campaign in its own short transaction, so one
campaign's failure is logged and the others go on. It is idempotent and safe
when several processes run it at once:
- PostgreSQL: a transaction-scoped advisory lock per campaign
  (`pg_try_advisory_xact_lock`); a run that finds it taken skips the campaign,
  which the holder is doing. Closing is also a conditional
  `UPDATE ... WHERE closed = false` whose row count says who closed it, so a
  period is closed exactly once even without the lock.
- SQLite: each campaign's transaction starts with `BEGIN IMMEDIATE`, which takes
  the database's write lock before the first read, so runs queue one after the
  other (busy_timeout) instead of deciding on a stale read.
Creating a period goes through the unique (campaign, year, month) constraint
inside a savepoint: whoever loses an insert race reads the winner's row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import case, func, select, text, update

from tracker import notifications, services
from tracker.domain import money
from tracker.domain import rollover as plan
from tracker.domain.periods import Period as Month
from tracker.domain.periods import parse_timezone
from tracker.extensions import db
from tracker.models import Campaign, Period
from tracker.observability import ROLLOVER_RUNS

log = logging.getLogger(__name__)

# First key of the PostgreSQL advisory locks this job takes ("trk" + 1); the
# second key is the campaign id.
LOCK_CLASS = 0x74726B01


@dataclass(frozen=True)
class PeriodChange:
    """One period the job opened or closed."""

    slug: str
    month: str  # "2026-10"
    raised_minor: int
    currency: str
    locale: str

    def describe(self) -> str:
        return (
            f"{self.slug} {self.month} raised "
            f"{money.format_money(self.raised_minor, self.currency, self.locale)}"
        )


@dataclass
class RolloverReport:
    """What one run did."""

    now: datetime
    checked: int = 0
    opened: list[PeriodChange] = field(default_factory=list)
    closed: list[PeriodChange] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"rollover at {self.now.isoformat()}: {self.checked} campaigns checked, "
            f"{len(self.closed)} periods closed, {len(self.opened)} opened, "
            f"{len(self.busy)} busy elsewhere, {len(self.failed)} failed"
        )


@dataclass(frozen=True)
class _Row:
    id: int
    slug: str
    timezone: str
    created_at: datetime


def run_rollover(now: datetime) -> RolloverReport:
    """Close every period whose end has passed and open each campaign's current one."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    # A context of its own gives the job a session of its own: the caller's session
    # and its objects are left alone, and the job can drop what it loaded as it goes.
    with current_app.app_context():
        return _run(now)


def _run(now: datetime) -> RolloverReport:
    report = RolloverReport(now=now)
    campaigns = [
        _Row(*row)
        for row in db.session.execute(
            select(Campaign.id, Campaign.slug, Campaign.timezone, Campaign.created_at).order_by(
                Campaign.id
            )
        )
    ]
    stats = _period_stats(now)
    db.session.rollback()  # end the read before the per-campaign transactions
    for row in campaigns:
        report.checked += 1
        try:
            if not _has_work(row, stats.get(row.id), now):
                continue
            _roll_campaign(row, now, report)
        except Exception as exc:
            db.session.rollback()
            log.exception("rollover failed campaign_id=%s", row.id)
            report.failed.append((row.slug, str(exc) or type(exc).__name__))
        finally:
            db.session.expunge_all()  # keeps each commit's work small with many campaigns
    log.info("%s", report.summary())
    ROLLOVER_RUNS.labels("failed" if report.failed else "ok").inc()
    return report


def _period_stats(now: datetime) -> dict[int, tuple[Any, ...]]:
    # One aggregate over all periods so that an idle run takes no lock at all.
    index = Period.year * 12 + Period.month - 1
    over = case(((Period.closed.is_(False)) & (Period.ends_at <= now), 1), else_=0)
    rows = db.session.execute(
        select(
            Period.campaign_id,
            func.min(index),
            func.max(index),
            func.count(Period.id),
            func.sum(over),
        ).group_by(Period.campaign_id)
    )
    return {cid: (low, high, count, int(due or 0)) for cid, low, high, count, due in rows}


def _has_work(row: _Row, stats: tuple[Any, ...] | None, now: datetime) -> bool:
    zone = parse_timezone(row.timezone)
    low, high, count, due = stats or (None, None, 0, 0)
    return plan.needs_rollover(
        first_index=low,
        last_index=high,
        count=count,
        open_over=due,
        created=Month.containing(row.created_at, zone),
        current=Month.containing(now, zone),
    )


def _lock(campaign_id: int) -> bool:
    """Start the campaign's transaction holding its lock; False if another run holds it."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        # pysqlite opens no transaction for a SELECT, so this is the first statement of ours.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        return True
    if connection.dialect.name == "postgresql":
        got = connection.execute(
            text("SELECT pg_try_advisory_xact_lock(:cls, :key)"),
            {"cls": LOCK_CLASS, "key": campaign_id},
        ).scalar_one()
        return bool(got)
    return True


def _roll_campaign(listed: _Row, now: datetime, report: RolloverReport) -> None:
    campaign_id = listed.id
    if not _lock(campaign_id):
        db.session.rollback()
        report.busy.append(listed.slug)
        log.info("rollover skipped campaign_id=%s: another run holds it", campaign_id)
        return
    campaign = db.session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None:  # deleted since the list was read
        db.session.rollback()
        return
    zone = services.campaign_zone(campaign)
    rows = list(db.session.scalars(select(Period).where(Period.campaign_id == campaign.id)))
    by_month = {services.month_of(row): row for row in rows}
    current = Month.containing(now, zone)
    first = plan.first_month(by_month, Month.containing(campaign.created_at, zone))
    opened: list[PeriodChange] = []
    closed: list[PeriodChange] = []
    for month in plan.missing_months(by_month, first, current):
        milestones = (
            list(campaign.milestones) if month == current else _milestones_before(by_month, month)
        )
        # A reader or a donation may create it meanwhile: then we close theirs if it is over.
        row, inserted = services.open_period(
            campaign, month, milestones or list(campaign.milestones)
        )
        if inserted:
            opened.append(_change(campaign, row, 0))
        by_month[month] = row
    for month in sorted(by_month):
        row = by_month[month]
        if not row.closed and plan.is_over(row.ends_at, now):
            total = _close(row, now)
            if total is not None:
                closed.append(_change(campaign, row, total))
                notifications.month_closed(campaign, row, total, now)
    if opened or closed:
        services.touch(campaign)
    db.session.commit()
    report.opened.extend(opened)
    report.closed.extend(closed)
    for change in opened:
        log.info("period opened campaign_id=%s month=%s", campaign_id, change.month)
    for change in closed:
        log.info(
            "period closed campaign_id=%s month=%s closed_raised_minor=%s",
            campaign_id,
            change.month,
            change.raised_minor,
        )


def _milestones_before(by_month: dict[Month, Period], month: Month) -> list[int] | None:
    # A month nobody touched ran with the goal of the month before it: any edit
    # of the goal opens the month it happens in.
    earlier = [m for m in by_month if m < month]
    return list(by_month[max(earlier)].milestones) if earlier else None


def _close(row: Period, now: datetime) -> int | None:
    """Close the period, keeping its total at this moment; None if it was already closed."""
    # The condition makes closing exactly-once even without the lock: of two runs,
    # only one UPDATE finds the row still open and gets a row back.
    total = db.session.scalar(
        update(Period)
        .where(Period.id == row.id, Period.closed.is_(False))
        .values(closed=True, closed_at=now, closed_raised_minor=Period.raised_minor)
        .returning(Period.closed_raised_minor)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(row)
    return None if total is None else int(total)


def _change(campaign: Campaign, row: Period, raised_minor: int) -> PeriodChange:
    return PeriodChange(
        slug=campaign.slug,
        month=services.month_of(row).key,
        raised_minor=raised_minor,
        currency=campaign.currency,
        locale=campaign.locale,
    )
