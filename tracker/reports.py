"""Reports for admins: the months chart and the CSV export of a month's donations."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import services
from tracker.domain import money
from tracker.domain.periods import Period as Month
from tracker.domain.periods import periods_between
from tracker.domain.text import Message, message
from tracker.extensions import db
from tracker.models import Campaign, Donation, Period


@dataclass(frozen=True)
class Bar:
    label: str
    title: Message
    x: int
    y: int
    height: int
    goal_y: int | None


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bar_width: int
    bars: list[Bar]
    top_label: str


CHART_WIDTH = 600
CHART_HEIGHT = 160
CHART_MONTHS = 12


def chart(campaign: Campaign, at: datetime, locale: str, count: int = CHART_MONTHS) -> Chart:
    """Bars of the last `count` months' raised amounts, each with its goal mark (SVG units),
    labelled for a reader in `locale`."""
    last = Month.containing(at, services.campaign_zone(campaign))
    first = last
    for _ in range(count - 1):
        first = first.previous()
    rows = {
        (p.year, p.month): p
        for p in db.session.scalars(
            select(Period).where(
                Period.campaign_id == campaign.id,
                (Period.year * 100 + Period.month) >= first.year * 100 + first.month,
                (Period.year * 100 + Period.month) <= last.year * 100 + last.month,
            )
        )
    }
    data: list[tuple[Month, int, int | None]] = []
    for month in periods_between(first, last):
        row = rows.get((month.year, month.month))
        data.append((month, row.raised_minor if row else 0, row.goal_minor if row else None))
    return chart_geometry(data, campaign.currency, locale)


def chart_geometry(data: list[tuple[Month, int, int | None]], currency: str, locale: str) -> Chart:
    """Integer SVG geometry for (month, raised, goal) triples; the tallest value fills it."""
    top = max([0] + [raised for _, raised, _ in data] + [goal or 0 for _, _, goal in data])
    scale = top or 1
    slot = CHART_WIDTH // max(1, len(data))
    bar_width = max(1, slot * 3 // 4)
    bars = []
    for index, (month, raised, goal) in enumerate(data):
        height = raised * CHART_HEIGHT // scale
        goal_y = None if goal is None else CHART_HEIGHT - goal * CHART_HEIGHT // scale
        shown = money.Amount(raised, currency)
        title = (
            message("%(month)s: %(raised)s", month=month.label(locale), raised=shown)
            if goal is None
            else message(
                "%(month)s: %(raised)s of %(goal)s",
                month=month.label(locale),
                raised=shown,
                goal=money.Amount(goal, currency),
            )
        )
        bars.append(
            Bar(
                label=str(format_date(month.first_day, "LLL", locale=locale)),
                title=title,
                x=index * slot + (slot - bar_width) // 2,
                y=CHART_HEIGHT - height,
                height=height,
                goal_y=goal_y,
            )
        )
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        bar_width=bar_width,
        bars=bars,
        top_label=money.format_money(top, currency, locale),
    )


CSV_COLUMNS = (
    "id",
    "received_at",
    "amount",
    "currency",
    "net",
    "refunded",
    "disputed",
    "source",
    "external_key",
    "donor",
    "ref",
    "utm_campaign",
)
CSV_CHUNK = 64 * 1024  # rows are sent in chunks of about this many characters
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading single quote."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def csv_export(campaign: Campaign, month: Month) -> Iterator[str]:
    """A generator of the month's donations as CSV lines; it reads with its own session,
    so the response can stream after the request's session is gone."""
    period = services.find_period(campaign, month)
    return csv_lines(
        Session(db.engine), period.id if period else None, services.campaign_zone(campaign)
    )


def csv_lines(session: Session, period_id: int | None, zone: ZoneInfo) -> Iterator[str]:
    """CSV text, one line at a time (header first); closes `session` when done."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: list[str], flush: bool = True) -> str:
        if cells:
            writer.writerow([neutralise(cell) for cell in cells])
        if not flush and buffer.tell() < CSV_CHUNK:
            return ""
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    try:
        yield line(list(CSV_COLUMNS))
        if period_id is None:
            return
        query = (
            select(Donation)
            .where(Donation.period_id == period_id)
            .order_by(Donation.received_at, Donation.id)
            .execution_options(yield_per=500)
        )
        for donation in session.execute(query).scalars():
            cur = donation.currency
            chunk = line(
                [
                    str(donation.id),
                    donation.received_at.astimezone(zone).isoformat(),
                    money.format_major(donation.amount_minor, cur),
                    cur,
                    money.format_major(services.net(donation), cur),
                    money.format_major(donation.refunded_minor, cur),
                    money.format_major(donation.disputed_minor, cur),
                    donation.source,
                    donation.external_key,
                    donation.donor_name or "",
                    donation.ref or "",
                    donation.utm_campaign or "",
                ],
                flush=False,
            )
            if chunk:
                yield chunk
        last = line([], flush=True)
        if last:
            yield last
    finally:
        session.close()


@dataclass(frozen=True)
class Source:
    """Donations that came from one page (or one utm_campaign) in a month."""

    name: str  # "" when none was passed on
    donations: int
    net_minor: int


def sources(campaign: Campaign, month: Month) -> tuple[list[Source], list[Source]]:
    """The month's donations by page (`ref`) and by `utm_campaign`, largest amount first.

    Each donation counts for what it still counts for (services.net, the ledger's rule),
    read one batch at a time."""
    period = services.find_period(campaign, month)
    pages: dict[str, list[int]] = {}
    tags: dict[str, list[int]] = {}
    if period is not None:
        query = (
            select(Donation).where(Donation.period_id == period.id).execution_options(yield_per=500)
        )
        for donation in db.session.scalars(query):
            net = services.net(donation)
            for table, name in ((pages, donation.ref), (tags, donation.utm_campaign)):
                entry = table.setdefault(name or "", [0, 0])
                entry[0] += 1
                entry[1] += net

    def ranked(table: dict[str, list[int]]) -> list[Source]:
        rows = [Source(name, count, net) for name, (count, net) in table.items()]
        return sorted(rows, key=lambda r: (-r.net_minor, -r.donations, r.name))

    return ranked(pages), ranked(tags)
