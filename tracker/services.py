"""Use cases: load rows, call the domain, write. Services flush; callers commit.

Just over 400 lines: every use case that changes a month's total (a donation recorded,
refunded, disputed, voided, moved) goes through `_add_to_period` here, the one place that
writes the running sum, bumps the revision and notes a crossed milestone.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from tracker import hotcache, notifications
from tracker.domain import money, periods, progress
from tracker.domain.periods import Period as Month
from tracker.domain.text import Message, Missing, Refusal, message
from tracker.extensions import db
from tracker.models import Campaign, Donation, Period
from tracker.observability import DONATIONS

log = logging.getLogger(__name__)

SLUG_RE = re.compile(r"[a-z0-9-]{1,64}")
ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
MAX_NAME = 200


class CampaignError(Refusal):
    """A campaign's settings are invalid."""


class NotFound(Missing):
    """No such campaign (or donation, or event): a 404."""


def now() -> datetime:
    """The current instant, aware, in UTC (the one clock the app reads)."""
    return datetime.now(UTC)


# --- campaigns -----------------------------------------------------------------


def parse_slug(text: str) -> str:
    """Validate a campaign slug."""
    if not SLUG_RE.fullmatch(text or ""):
        raise CampaignError(
            message(
                "invalid slug '%(slug)s': use 1 to 64 of a-z, 0-9 and '-'", slug=(text or "")[:80]
            )
        )
    return text


def parse_name(text: str) -> str:
    name = (text or "").strip()
    if not name:
        raise CampaignError(message("name must not be empty"))
    if len(name) > MAX_NAME:
        raise CampaignError(message("name is longer than %(max)s characters", max=MAX_NAME))
    return name


def parse_origins(text: str | list[str]) -> list[str]:
    """Allowed embed origins: comma separated http(s) origins, no paths."""
    items = text.split(",") if isinstance(text, str) else list(text)
    origins: list[str] = []
    for raw in items:
        item = raw.strip().rstrip("/")
        if not item:
            continue
        if not ORIGIN_RE.fullmatch(item):
            raise CampaignError(
                message(
                    "invalid origin '%(origin)s': use scheme and host, like https://example.org",
                    origin=item[:80],
                )
            )
        if item not in origins:
            origins.append(item)
    return origins


def parse_presets(text: str | list[str], currency: str) -> list[int]:
    """Preset donation amounts in major units, comma separated, ascending."""
    items = text.split(",") if isinstance(text, str) else list(text)
    values = [money.parse_amount(item.strip(), currency) for item in items if item.strip()]
    if len(values) > 8:
        raise CampaignError(message("at most %(max)s preset amounts", max=8))
    return sorted(set(values))


def get_campaign(slug: str) -> Campaign | None:
    """The campaign with this slug, or None (also for text no slug can be, like a NUL from
    a payload, which PostgreSQL would refuse even to compare)."""
    if not SLUG_RE.fullmatch(slug or ""):
        return None
    return db.session.scalar(select(Campaign).where(Campaign.slug == slug))


def no_campaign(slug: str) -> Message:
    return message("no campaign '%(slug)s'", slug=slug[:80])


def require_campaign(slug: str) -> Campaign:
    """The campaign with this slug; NotFound otherwise."""
    campaign = get_campaign(slug)
    if campaign is None:
        raise NotFound(no_campaign(slug))
    return campaign


def create_campaign(
    slug: str,
    *,
    name: str,
    currency: str,
    milestones: list[int],
    timezone: str = "UTC",
    locale: str = "en",
    allowed_origins: list[str] | None = None,
    preset_amounts: list[int] | None = None,
    show_supporters: bool = False,
    notify_kinds: list[str] | None = None,
) -> Campaign:
    """Create a campaign from validated values (milestones in minor units)."""
    slug = parse_slug(slug)
    if get_campaign(slug) is not None:
        raise CampaignError(message("campaign '%(slug)s' already exists", slug=slug))
    periods.parse_timezone(timezone)
    campaign = Campaign(
        slug=slug,
        name=parse_name(name),
        currency=money.normalize_currency(currency),
        timezone=timezone,
        locale=money.parse_locale(locale),
        milestones=money.validate_milestones(milestones),
        allowed_origins=parse_origins(allowed_origins or []),
        preset_amounts=list(preset_amounts or []),
        show_supporters=show_supporters,
        notify_kinds=list(notifications.KINDS if notify_kinds is None else notify_kinds),
        revision=1,
    )
    db.session.add(campaign)
    db.session.flush()
    hotcache.mark_changed(db.session)
    log.info("campaign created campaign_id=%s", campaign.id)
    return campaign


def edit_campaign(campaign: Campaign, at: datetime, **changes: Any) -> Campaign:
    """Change a campaign; new milestones apply to the current and future periods only."""
    if "name" in changes and changes["name"] is not None:
        campaign.name = parse_name(changes["name"])
    if changes.get("locale") is not None:
        campaign.locale = money.parse_locale(changes["locale"])
    if changes.get("timezone") is not None:
        periods.parse_timezone(changes["timezone"])
        campaign.timezone = changes["timezone"]
    if changes.get("allowed_origins") is not None:
        campaign.allowed_origins = parse_origins(changes["allowed_origins"])
    if changes.get("preset_amounts") is not None:
        campaign.preset_amounts = list(changes["preset_amounts"])
    if changes.get("show_supporters") is not None:
        campaign.show_supporters = bool(changes["show_supporters"])
    if changes.get("notify_kinds") is not None:
        campaign.notify_kinds = [k for k in notifications.KINDS if k in changes["notify_kinds"]]
    if changes.get("milestones") is not None:
        campaign.milestones = money.validate_milestones(changes["milestones"])
        current = period_for(campaign, at)
        if not current.closed:
            current.milestones = list(campaign.milestones)
    campaign.updated_at = now()
    touch(campaign)
    db.session.flush()
    return campaign


def touch(campaign: Campaign) -> None:
    """Mark what the widget shows of this campaign as changed."""
    db.session.execute(
        update(Campaign).where(Campaign.id == campaign.id).values(revision=Campaign.revision + 1)
    )
    db.session.expire(campaign, ["revision"])
    hotcache.mark_changed(db.session)


# --- periods -------------------------------------------------------------------


def campaign_zone(campaign: Campaign) -> ZoneInfo:
    return periods.parse_timezone(campaign.timezone)


def period_for(campaign: Campaign, at: datetime) -> Period:
    """Find or create the campaign's period that contains `at`, race-free."""
    month = Month.containing(at, campaign_zone(campaign))
    return get_or_create_period(campaign, month)


def find_period(campaign: Campaign, month: Month) -> Period | None:
    return db.session.scalar(
        select(Period).where(
            Period.campaign_id == campaign.id,
            Period.year == month.year,
            Period.month == month.month,
        )
    )


def get_or_create_period(campaign: Campaign, month: Month) -> Period:
    """The period row for this month; the loser of an insert race reads the winner's row."""
    return open_period(campaign, month, campaign.milestones)[0]


def open_period(campaign: Campaign, month: Month, milestones: list[int]) -> tuple[Period, bool]:
    """Find or insert the month's period with this milestone snapshot; True if inserted here.

    The UNIQUE (campaign, year, month) constraint settles races: the loser's insert
    fails inside its savepoint and it reads the winner's row.
    """
    existing = find_period(campaign, month)
    if existing is not None:
        return existing, False
    starts_at, ends_at = month.bounds(campaign_zone(campaign))
    row = Period(
        campaign_id=campaign.id,
        year=month.year,
        month=month.month,
        starts_at=starts_at,
        ends_at=ends_at,
        milestones=list(milestones),
        raised_minor=0,
        donations=0,
        closed=False,
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        winner = find_period(campaign, month)
        if winner is None:
            raise
        return winner, False
    return row, True


def month_of(period: Period) -> Month:
    return Month(period.year, period.month)


# --- donations -----------------------------------------------------------------


def record_donation(
    campaign: Campaign,
    *,
    amount_minor: int,
    received_at: datetime,
    source: str,
    external_key: str | None = None,
    currency: str | None = None,
    payment_intent_id: str | None = None,
    frequency: str = "once",
    donor_name: str | None = None,
    refunded_minor: int = 0,
    disputed_minor: int = 0,
    attribution: dict[str, str] | None = None,
) -> Donation:
    """Add a donation to the period of its `received_at` and update that period's total."""
    source_of = attribution or {}
    if amount_minor <= 0 or amount_minor > money.MAX_MINOR:
        raise money.AmountError(message("amount must be between 1 and 10^12 minor units"))
    period = period_for(campaign, received_at)
    donation = Donation(
        campaign_id=campaign.id,
        period_id=period.id,
        amount_minor=amount_minor,
        currency=(currency or campaign.currency).upper(),
        received_at=received_at,
        source=source,
        external_key=external_key or f"manual-{secrets.token_hex(12)}",
        payment_intent_id=payment_intent_id,
        frequency=frequency,
        donor_name=(donor_name or None) and donor_name[:200],
        refunded_minor=refunded_minor,
        disputed_minor=disputed_minor,
        ref=source_of.get("ref"),
        utm_source=source_of.get("utm_source"),
        utm_medium=source_of.get("utm_medium"),
        utm_campaign=source_of.get("utm_campaign"),
    )
    db.session.add(donation)
    db.session.flush()
    _add_to_period(period, progress.net_amount(amount_minor, refunded_minor, disputed_minor), 1)
    touch(campaign)
    donation_recorded(campaign.id, donation.id, source)
    return donation


def record_manual_donation(
    campaign: Campaign, amount_minor: int, received_at: datetime, donor_name: str | None
) -> Donation:
    """An offline donation a person entered; never received more than 5 minutes ahead."""
    periods.not_in_future(received_at, now(), message("a donation's time"))
    return record_donation(
        campaign,
        amount_minor=amount_minor,
        received_at=received_at,
        source="manual",
        donor_name=(donor_name or "").strip() or None,
    )


def donation_recorded(campaign_id: int, donation_id: int, source: str) -> None:
    """Count and log a donation just written (its campaign's revision already bumped)."""
    DONATIONS.labels(source).inc()
    log.info("donation recorded campaign_id=%s donation_id=%s", campaign_id, donation_id)


def adjust_donation(
    donation: Donation,
    *,
    refunded_minor: int | None = None,
    disputed_minor: int | None = None,
) -> int:
    """Set refunded/disputed figures; its own period's total follows. Returns the change."""
    before = net(donation)
    if refunded_minor is not None:
        donation.refunded_minor = max(0, refunded_minor)
    if disputed_minor is not None:
        donation.disputed_minor = max(0, disputed_minor)
    delta = net(donation) - before
    if delta:
        _add_to_period(donation.period, delta, 0)
        touch(donation.campaign)
    db.session.flush()
    return delta


def remove_donation(donation: Donation) -> None:
    """Delete a (manual) donation and take it out of its period's total."""
    period = donation.period
    _add_to_period(period, -net(donation), -1)
    touch(donation.campaign)
    db.session.delete(donation)
    db.session.flush()


def net(donation: Donation) -> int:
    return progress.net_amount(
        donation.amount_minor, donation.refunded_minor, donation.disputed_minor
    )


def _add_to_period(period: Period, delta_minor: int, delta_count: int) -> None:
    # One UPDATE with arithmetic in SQL: concurrent writers never lose an increment, and
    # the row lock it takes orders them, so `after - delta` is what this change began from.
    after = db.session.execute(
        update(Period)
        .where(Period.id == period.id)
        .values(
            raised_minor=Period.raised_minor + delta_minor,
            donations=Period.donations + delta_count,
        )
        .returning(Period.raised_minor)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    db.session.expire(period, ["raised_minor", "donations"])
    notifications.milestones_crossed(period, int(after) - delta_minor, int(after), now())


# --- checking ------------------------------------------------------------------


def verify() -> list[str]:
    """Recompute every period from its donations; describe each mismatch."""
    net_expr = func.sum(
        func.max(Donation.amount_minor - Donation.refunded_minor - Donation.disputed_minor, 0)
        if db.engine.dialect.name == "sqlite"
        else func.greatest(
            Donation.amount_minor - Donation.refunded_minor - Donation.disputed_minor, 0
        )
    )
    sums = {
        pid: (int(total or 0), int(count))
        for pid, total, count in db.session.execute(
            select(Donation.period_id, net_expr, func.count(Donation.id)).group_by(
                Donation.period_id
            )
        )
    }
    problems = []
    for period in db.session.scalars(select(Period)):
        want = sums.get(period.id, (0, 0))
        have = (period.raised_minor, period.donations)
        if want != have:
            problems.append(
                f"period {period.id} ({period.year}-{period.month:02d}, campaign "
                f"{period.campaign_id}): stored raised={have[0]} donations={have[1]}, "
                f"donations give raised={want[0]} donations={want[1]}"
            )
    for donation in db.session.scalars(select(Donation)):
        month = Month.containing(donation.received_at, campaign_zone(donation.campaign))
        if month != month_of(donation.period):
            problems.append(f"donation {donation.id} is filed in the wrong month")
    return problems


def move_donation(donation: Donation, received_at: datetime) -> None:
    """File a donation under another instant; both periods' totals follow."""
    target = period_for(donation.campaign, received_at)
    donation.received_at = received_at
    if target.id != donation.period_id:
        amount = net(donation)
        _add_to_period(donation.period, -amount, -1)
        _add_to_period(target, amount, 1)
        donation.period_id = target.id
        donation.period = target
        touch(donation.campaign)
    db.session.flush()
