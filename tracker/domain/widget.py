"""What the embeddable widget says and where things sit on its bar (plain values only)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict
from zoneinfo import ZoneInfo

from tracker.domain.money import _locale
from tracker.domain.periods import days_left

THEMES = ("light", "dark", "auto")
DEFAULT_THEME = "light"
DEFAULT_ACCENT = "16794f"
# Intermediate tick labels closer than this (percent of the bar) to a shown one are left out.
MIN_LABEL_GAP = 14.0

_ACCENT_RE = re.compile(r"#?([0-9A-Fa-f]{6})")
# Characters XML 1.0 cannot carry even escaped; a name with them would break the SVG.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _Texts(TypedDict):
    support: str
    goal_reached: str
    valuetext: str
    valuetext_reached: str
    days: str
    day: str
    last_day: str


_TEXTS: dict[str, _Texts] = {
    "en": {
        "support": "Support us",
        "goal_reached": "Goal reached",
        "valuetext": "{raised} of {goal} raised, {left}",
        "valuetext_reached": "{raised} raised, goal of {goal} reached, {left}",
        "days": "{n} days left",
        "day": "1 day left",
        "last_day": "last day",
    },
    "de": {
        "support": "Jetzt unterstützen",
        "goal_reached": "Ziel erreicht",
        "valuetext": "{raised} von {goal} gesammelt, {left}",
        "valuetext_reached": "{raised} gesammelt, Ziel von {goal} erreicht, {left}",
        "days": "noch {n} Tage",
        "day": "noch 1 Tag",
        "last_day": "letzter Tag",
    },
    "fr": {
        "support": "Nous soutenir",
        "goal_reached": "Objectif atteint",
        "valuetext": "{raised} collectés sur {goal}, {left}",
        "valuetext_reached": "{raised} collectés, objectif de {goal} atteint, {left}",
        "days": "{n} jours restants",
        "day": "1 jour restant",
        "last_day": "dernier jour",
    },
    "es": {
        "support": "Apóyanos",
        "goal_reached": "Meta alcanzada",
        "valuetext": "{raised} recaudados de {goal}, {left}",
        "valuetext_reached": "{raised} recaudados, meta de {goal} alcanzada, {left}",
        "days": "quedan {n} días",
        "day": "queda 1 día",
        "last_day": "último día",
    },
}


def parse_theme(text: str) -> str:
    """Return the theme name, or raise ValueError."""
    if text not in THEMES:
        raise ValueError(f"theme must be light, dark or auto, not '{text[:40]}'")
    return text


def parse_accent(text: str) -> str:
    """Return a colour "RRGGBB" (an optional leading # dropped) in lower case, or raise."""
    match = _ACCENT_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"accent must be six hex digits like {DEFAULT_ACCENT}, not '{text[:40]}'")
    return match.group(1).lower()


def text_colour_on(accent: str) -> str:
    """Text colour for the accent: white when it reads well enough, else black (WCAG)."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else math.pow((c + 0.055) / 1.055, 2.4)

    r, g, b = (channel(accent[i : i + 2]) for i in (0, 2, 4))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # Contrast against white is 1.05/(L+0.05), against black (L+0.05)/0.05. White text
    # whenever it meets WCAG AA (4.5), since it looks better on buttons; else the better one.
    on_white = 1.05 / (luminance + 0.05)
    on_black = (luminance + 0.05) / 0.05
    return "ffffff" if on_white >= 4.5 or on_white >= on_black else "111111"


def language(lang: str) -> str:
    """The language whose widget texts are used for a locale (English when we have none)."""
    code = _locale(lang).language
    return code if code in _TEXTS else "en"


def texts(lang: str) -> _Texts:
    """The widget's fixed texts in the locale's language."""
    return _TEXTS[language(lang)]


def value_text(
    raised: str, goal: str, goal_reached: bool, now: datetime, tz: ZoneInfo, lang: str
) -> str:
    """What a screen reader says for the bar: "2,180 $ of 5,000 $ raised, 6 days left"."""
    words = texts(lang)
    left_days = days_left(now, tz)
    if left_days > 1:
        left = words["days"].format(n=left_days)
    elif left_days == 1:
        left = words["day"]
    else:
        left = words["last_day"]
    pattern = words["valuetext_reached"] if goal_reached else words["valuetext"]
    return pattern.format(raised=raised, goal=goal, left=left)


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
