"""The month boundary as plain arithmetic: which months a campaign's history must hold.

A campaign's history runs without holes from its first month (the month it was
created in, or an earlier month a back-dated donation opened) to the current
month. Months are numbered `year * 12 + month - 1` so that a database can
aggregate them (min, max, count) in one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from tracker.domain.periods import Period


def month_index(month: Period) -> int:
    """The month as one increasing integer (January of year 0 is 0)."""
    return month.year * 12 + month.month - 1


def from_index(index: int) -> Period:
    """The month numbered `index` (the inverse of month_index)."""
    year, zero_based = divmod(index, 12)
    return Period(year, zero_based + 1)


def first_month(existing: Iterable[Period], created: Period) -> Period:
    """The month a campaign's history starts in: its creation month or an earlier period's."""
    return min([created, *existing])


def missing_months(existing: Iterable[Period], first: Period, current: Period) -> list[Period]:
    """The months from `first` to `current` (both included) that have no period, oldest first."""
    have = set(existing)
    missing: list[Period] = []
    month = first
    while month <= current:
        if month not in have:
            missing.append(month)
        month = month.next()
    return missing


def is_over(ends_at: datetime, now: datetime) -> bool:
    """True once a period's half-open end has been reached: it is due to close."""
    if ends_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return ends_at <= now


def needs_rollover(
    *,
    first_index: int | None,
    last_index: int | None,
    count: int,
    open_over: int,
    created: Period,
    current: Period,
) -> bool:
    """Whether a campaign has work for the job, from aggregates of its periods.

    True when a period is due to close, or when the months from the first one to
    the latest of (last period, current month) are not all there. Conservative:
    a true answer only costs a look under the lock.
    """
    if open_over > 0:
        return True
    if first_index is None or last_index is None or count == 0:
        return True
    low = min(first_index, month_index(created))
    high = max(last_index, month_index(current))
    return count != high - low + 1
