"""How far a month's donations are towards its milestones, and the widget's days-left line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict
from zoneinfo import ZoneInfo

from tracker.domain.money import _locale
from tracker.domain.periods import Period, days_left, hours_left_in_month


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


class _Phrases(TypedDict):
    days: str
    day: str
    last_day: str
    hours: str
    hour: str


# The widget's line per language; {month} is the upper-cased standalone month name.
_PHRASES: dict[str, _Phrases] = {
    "en": {
        "days": "{n} DAYS LEFT UNTIL THE END OF {month}",
        "day": "1 DAY LEFT UNTIL THE END OF {month}",
        "last_day": "LAST DAY OF {month} · {hours}",
        "hours": "{n} HOURS LEFT",
        "hour": "1 HOUR LEFT",
    },
    "de": {
        "days": "NOCH {n} TAGE BIS ENDE {month}",
        "day": "NOCH 1 TAG BIS ENDE {month}",
        "last_day": "LETZTER TAG IM {month} · {hours}",
        "hours": "NOCH {n} STUNDEN",
        "hour": "NOCH 1 STUNDE",
    },
    "fr": {
        "days": "PLUS QUE {n} JOURS AVANT LA FIN {of_month}",
        "day": "PLUS QU'UN JOUR AVANT LA FIN {of_month}",
        "last_day": "DERNIER JOUR {of_month} · {hours}",
        "hours": "PLUS QUE {n} HEURES",
        "hour": "PLUS QU'UNE HEURE",
    },
    "es": {
        "days": "QUEDAN {n} DÍAS PARA QUE TERMINE {month}",
        "day": "QUEDA 1 DÍA PARA QUE TERMINE {month}",
        "last_day": "ÚLTIMO DÍA DE {month} · {hours}",
        "hours": "QUEDAN {n} HORAS",
        "hour": "QUEDA 1 HORA",
    },
}


def _french_of(month: str) -> str:
    # French elides "de" before a vowel: "D'OCTOBRE", "D'AVRIL", "D'AOÛT".
    return f"D'{month}" if month[:1] in "AEIOU" else f"DE {month}"


def days_left_line(now: datetime, tz: ZoneInfo, lang: str = "en") -> str:
    """Return the widget's capitalised days-left line in the locale's language (else English)."""
    language = _locale(lang).language
    if language not in _PHRASES:
        language, lang = "en", "en"
    phrases = _PHRASES[language]
    month = Period.containing(now, tz).month_name(lang).upper()
    fields = {"month": month, "of_month": _french_of(month)}
    left = days_left(now, tz)
    if left > 1:
        return phrases["days"].format(n=left, **fields)
    if left == 1:
        return phrases["day"].format(**fields)
    hours = hours_left_in_month(now, tz)
    hours_text = phrases["hour"] if hours == 1 else phrases["hours"].format(n=hours)
    return phrases["last_day"].format(hours=hours_text, **fields)
