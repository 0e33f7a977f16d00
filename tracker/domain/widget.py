"""What the embeddable widget says and where things sit on its bar (plain values only)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from tracker.domain.periods import days_left
from tracker.domain.text import Message, Refusal, message, plural_message

THEMES = ("light", "dark", "auto")
DEFAULT_THEME = "light"
DEFAULT_ACCENT = "16794f"
# Intermediate tick labels closer than this (percent of the bar) to a shown one are left out.
MIN_LABEL_GAP = 14.0

_ACCENT_RE = re.compile(r"#?([0-9A-Fa-f]{6})")
# Characters XML 1.0 cannot carry even escaped; a name with them would break the SVG.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class OptionError(Refusal):
    """A widget option in the query string was refused; the message says why."""


def parse_theme(text: str) -> str:
    """Return the theme name, or raise ValueError."""
    if text not in THEMES:
        raise OptionError(
            message("theme must be light, dark or auto, not '%(given)s'", given=text[:40])
        )
    return text


def parse_accent(text: str) -> str:
    """Return a colour "RRGGBB" (an optional leading # dropped) in lower case, or raise."""
    match = _ACCENT_RE.fullmatch(text)
    if match is None:
        raise OptionError(
            message(
                "accent must be six hex digits like %(example)s, not '%(given)s'",
                example=DEFAULT_ACCENT,
                given=text[:40],
            )
        )
    return match.group(1).lower()


def _luminance(colour: str) -> float:
    """WCAG 2 relative luminance of "RRGGBB"."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else math.pow((c + 0.055) / 1.055, 2.4)

    r, g, b = (channel(colour[i : i + 2]) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two "RRGGBB" colours (1 to 21)."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# The button's text: white where it reads well enough (it looks best on a button), else
# near-black, else black. One of white and black always reaches 4.58:1 on any colour.
_TEXT_COLOURS = ("ffffff", "111111", "000000")
MIN_CONTRAST = 4.5  # WCAG AA, normal text


def text_colour_on(accent: str) -> str:
    """The first of white, #111 and black that keeps 4.5:1 on `accent` (WCAG AA)."""
    for colour in _TEXT_COLOURS:
        if contrast(colour, accent) >= MIN_CONTRAST:
            return colour
    return max(_TEXT_COLOURS, key=lambda colour: contrast(colour, accent))


def value_text(raised: str, goal: str, goal_reached: bool, now: datetime, tz: ZoneInfo) -> Message:
    """What a screen reader says for the bar: "2,180 $ of 5,000 $ raised, 6 days left"."""
    left = days_left(now, tz)
    if goal_reached:
        if left == 0:
            return message(
                "%(raised)s raised, goal of %(goal)s reached, last day", raised=raised, goal=goal
            )
        return plural_message(
            "%(raised)s raised, goal of %(goal)s reached, %(num)s day left",
            "%(raised)s raised, goal of %(goal)s reached, %(num)s days left",
            left,
            raised=raised,
            goal=goal,
            num=left,
        )
    if left == 0:
        return message("%(raised)s of %(goal)s raised, last day", raised=raised, goal=goal)
    return plural_message(
        "%(raised)s of %(goal)s raised, %(num)s day left",
        "%(raised)s of %(goal)s raised, %(num)s days left",
        left,
        raised=raised,
        goal=goal,
        num=left,
    )


BUTTON = message("Support us")
GOAL_REACHED = message("Goal reached")


def supporters_text(count: int) -> Message | None:
    """The widget's supporters line ("57 monthly supporters"; the view upper-cases it), or
    None while there are none to show."""
    if count < 1:
        return None
    return plural_message(
        "%(num)s monthly supporter", "%(num)s monthly supporters", count, num=count
    )


@dataclass(frozen=True)
class Tick:
    """A milestone on the bar: its position (percent of the bar) and whether it gets a label."""

    index: int
    amount_minor: int
    percent: float
    labelled: bool


def ticks(milestones: Sequence[int]) -> list[Tick]:
    """Positions of the milestones on a bar from 0 to the last one; crowded labels left out."""
    goal = milestones[-1] if milestones else 0
    positions = [
        round(min(100.0, max(0.0, 100 * amount / goal)), 2) if goal > 0 else 0.0
        for amount in milestones
    ]
    labelled = [False] * len(positions)
    last_shown = None
    for i, position in enumerate(positions):
        is_end = i in (0, len(positions) - 1)
        far_from_last = last_shown is None or position - last_shown >= MIN_LABEL_GAP
        far_from_goal = positions[-1] - position >= MIN_LABEL_GAP
        if is_end or (far_from_last and far_from_goal):
            labelled[i] = True
            last_shown = position
    return [
        Tick(i, amount, position, shown)
        for i, (amount, position, shown) in enumerate(
            zip(milestones, positions, labelled, strict=True)
        )
    ]


def fill_percent(bar_permille: int) -> float:
    """The filled share of the bar in percent (full once the goal is passed)."""
    return max(0, min(1000, bar_permille)) / 10


def clean_text(text: str) -> str:
    """Drop characters that XML cannot carry (control characters), keep everything else."""
    return _NOT_XML.sub("", text)
