"""Calendar months in a campaign's timezone, and the clock arithmetic around them."""

from __future__ import annotations

import calendar
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date

from tracker.domain.money import _locale
from tracker.domain.text import Message, Refusal, message

_TZ_RE = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
_MAX_TZ_LEN = 64
# In the tz database's file list, but not places a campaign can be in.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_MAX_INSTANT_LEN = 64
_DATE_ONLY_RE = re.compile(r"[0-9]{4}-?[0-9]{2}-?[0-9]{2}|[0-9]{4}-?W[0-9]{2}-?[0-9]")
_HOUR = timedelta(hours=1)
# How far ahead of our clock a time a person gives may be: clock skew, not the future.
CLOCK_SKEW = timedelta(minutes=5)


class TimezoneError(Refusal):
    """A name that is not an IANA timezone."""


class FutureError(Refusal):
    """A time more than CLOCK_SKEW after now, where only the past makes sense."""


class InstantError(Refusal):
    """Text that is not an ISO 8601 date-time."""


def not_in_future(at: datetime, now: datetime, what: Message | str) -> datetime:
    """`at`, unless it lies more than five minutes after `now` (FutureError names `what`)."""
    _require_aware(at)
    if at > now + CLOCK_SKEW:
        raise FutureError(
            message(
                "%(what)s %(at)s is in the future; now is %(now)s",
                what=what,
                at=at.isoformat(),
                now=now.isoformat(timespec="seconds"),
            )
        )
    return at


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    # Case-insensitive lookup to the canonical spelling ("europe/berlin" -> "Europe/Berlin").
    return {name.lower(): name for name in zoneinfo.available_timezones() if name not in _NOT_ZONES}


def _unknown_zone(name: str) -> Message:
    return message("unknown timezone '%(zone)s'", zone=name)


@lru_cache(maxsize=512)
def _parse_timezone(name: str) -> ZoneInfo:
    if not name or len(name) > _MAX_TZ_LEN or not _TZ_RE.fullmatch(name) or ".." in name:
        raise TimezoneError(_unknown_zone(name[:_MAX_TZ_LEN]))
    canonical = _zone_names().get(name.lower())
    if canonical is None:
        raise TimezoneError(_unknown_zone(name))
    try:
        return ZoneInfo(canonical)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise TimezoneError(_unknown_zone(name)) from err


def parse_timezone(name: str) -> ZoneInfo:
    """Return the ZoneInfo for an IANA name ("Europe/Berlin"), or raise TimezoneError."""
    if not isinstance(name, str):
        raise TimezoneError(_unknown_zone(repr(name)))
    return _parse_timezone(name.strip())


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")


def _local_date(at: datetime, tz: ZoneInfo) -> date:
    _require_aware(at)
    return at.astimezone(tz).date()


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) whose local date is `day` or later."""
    naive = datetime.combine(day, time())
    # fold=0/1 give the two readings of an ambiguous midnight; in a gap they straddle it.
    early, late = sorted(naive.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1))
    if early.astimezone(tz).date() >= day:
        return early
    # Midnight fell inside a DST gap that did not start at midnight (or a skipped day, as on
    # Kiritimati in 1994): the day starts at the transition, found by bisecting whole seconds
    # (tz database transitions are whole seconds).
    lo = int(early.timestamp())
    hi = int(late.timestamp()) + 1
    while datetime.fromtimestamp(hi, UTC).astimezone(tz).date() < day:
        hi += 3600
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).date() >= day:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


@dataclass(frozen=True, order=True)
class Period:
    """One calendar month; its instants depend on the timezone it is read in."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9999:
            raise ValueError(f"no such month {self.year}-{self.month}")

    @classmethod
    def containing(cls, at: datetime, tz: ZoneInfo) -> Period:
        """Return the month that contains the aware instant `at` in `tz`."""
        local = _local_date(at, tz)
        return cls(local.year, local.month)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """Half-open [start, end) of this month, in UTC."""
        return _day_start(self.first_day, tz), _day_start(self.next().first_day, tz)

    @property
    def first_day(self) -> date:
        """The first day of the month."""
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        """The last day of the month."""
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def key(self) -> str:
        """The month as "2026-11"."""
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Period:
        """Return the following month (December rolls into January)."""
        if self.month == 12:
            return Period(self.year + 1, 1)
        return Period(self.year, self.month + 1)

    def previous(self) -> Period:
        """Return the month before (January rolls back into December)."""
        if self.month == 1:
            return Period(self.year - 1, 12)
        return Period(self.year, self.month - 1)

    def label(self, locale: str = "en") -> str:
        """Return the month and year as people read them, "November 2026"."""
        return str(format_date(self.first_day, "LLLL y", locale=_locale(locale)))

    def month_name(self, locale: str = "en") -> str:
        """Return the standalone month name, "November"."""
        return str(format_date(self.first_day, "LLLL", locale=_locale(locale)))


def days_left(now: datetime, tz: ZoneInfo) -> int:
    """Return the days from today to the last day of this month, both local (last day -> 0)."""
    today = _local_date(now, tz)
    return calendar.monthrange(today.year, today.month)[1] - today.day


def next_local_midnight(now: datetime, tz: ZoneInfo) -> datetime:
    """Return the next instant (UTC) at which the local date changes."""
    day = _local_date(now, tz) + timedelta(days=1)
    start = _day_start(day, tz)
    # Only a zone whose clocks fall back across midnight can put that start behind us.
    while start <= now:
        day += timedelta(days=1)
        start = _day_start(day, tz)
    return start


def hours_left_in_month(now: datetime, tz: ZoneInfo) -> int:
    """Return the whole hours (rounded up) until this month ends in `tz`."""
    end = Period.containing(now, tz).bounds(tz)[1]
    whole, rest = divmod(end - now, _HOUR)
    return int(whole) + (1 if rest else 0)


def periods_between(first: Period, last: Period) -> list[Period]:
    """Return the months from `first` to `last`, both included, oldest first."""
    result: list[Period] = []
    current = first
    while current <= last:
        result.append(current)
        current = current.next()
    return result


def parse_instant(text: str, tz: ZoneInfo) -> datetime:
    """Parse an ISO 8601 date-time (a naive one is read in `tz`, a date is local midnight)."""
    cleaned = text.strip() if isinstance(text, str) else ""
    shown = cleaned[:_MAX_INSTANT_LEN]
    error = InstantError(
        message("'%(given)s' is not an ISO 8601 date-time, like 2026-11-03T14:30", given=shown)
    )
    if not cleaned or len(cleaned) > _MAX_INSTANT_LEN or not cleaned.isascii():
        raise error
    try:
        if _DATE_ONLY_RE.fullmatch(cleaned):
            return _day_start(date.fromisoformat(cleaned), tz)
        parsed = datetime.fromisoformat(cleaned)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as err:
        raise error from err
