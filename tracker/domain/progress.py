"""How far a month's donations are towards its milestones, and the widget's days-left line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from tracker.domain.periods import Period, days_left, hours_left_in_month
from tracker.domain.text import Message, message, plural_message


@dataclass(frozen=True)
class Milestone:
    """One milestone and whether the amount raised has reached it."""

    amount_minor: int
    reached: bool


@dataclass(frozen=True)
class Progress:
    """The amount raised against the milestones; the goal is the last milestone."""

    raised_minor: int
    goal_minor: int
    milestones: tuple[Milestone, ...]
    percent: float
    goal_reached: bool
    bar_permille: int


def _rounded_permille(raised_minor: int, goal_minor: int) -> int:
    # raised/goal in tenths of a percent, rounded half up, in integers so 43.6 stays 43.6.
    quotient, remainder = divmod(raised_minor * 1000, goal_minor)
    return quotient + (1 if 2 * remainder >= goal_minor else 0)


def compute_progress(raised_minor: int, milestones: Sequence[int]) -> Progress:
    """Return the progress of `raised_minor` against ascending milestones (minor units)."""
    if not milestones:
        raise ValueError("milestones are empty")
    if raised_minor < 0:
        raise ValueError("raised amount must not be negative")
    goal_minor = milestones[-1]
    if goal_minor > 0:
        percent = _rounded_permille(raised_minor, goal_minor) / 10
        bar_permille = min(1000, raised_minor * 1000 // goal_minor)
        goal_reached = raised_minor >= goal_minor
    else:
        # A zero goal is met by any donation, and by none only when nothing came in.
        goal_reached = raised_minor > 0
        percent = 100.0 if goal_reached else 0.0
        bar_permille = 1000 if goal_reached else 0
    return Progress(
        raised_minor=raised_minor,
        goal_minor=goal_minor,
        milestones=tuple(Milestone(amount, raised_minor >= amount) for amount in milestones),
        percent=percent,
        goal_reached=goal_reached,
        bar_permille=bar_permille,
    )


def net_amount(amount_minor: int, refunded_minor: int, disputed_minor: int) -> int:
    """Return what a donation still counts for: amount - refunded - lost disputes, at least 0."""
    return max(0, amount_minor - refunded_minor - disputed_minor)


def days_left_messages(now: datetime, tz: ZoneInfo) -> tuple[Message, ...]:
    """The widget's days-left line, as messages joined by " · " (the view upper-cases it)."""
    left = days_left(now, tz)
    month = Period.containing(now, tz).first_day
    if left > 0:
        return (
            plural_message(
                "%(num)s day left until the end of %(month)s",
                "%(num)s days left until the end of %(month)s",
                left,
                num=left,
                month=month,
            ),
        )
    hours = hours_left_in_month(now, tz)
    return (
        message("Last day of %(month)s", month=month),
        plural_message("%(num)s hour left", "%(num)s hours left", hours, num=hours),
    )
