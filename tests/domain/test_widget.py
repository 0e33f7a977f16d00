"""The widget's texts, colours and bar layout (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain import widget

UTC_ZONE = ZoneInfo("UTC")
NOV_24 = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.mark.parametrize("theme", ["light", "dark", "auto"])
def test_themes(theme: str) -> None:
    assert widget.parse_theme(theme) == theme


@pytest.mark.parametrize("bad", ["", "Light", "blue", "light ", "<b>"])
def test_bad_theme_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="theme must be light, dark or auto"):
        widget.parse_theme(bad)


@pytest.mark.parametrize(
    ("text", "colour"), [("1D4ED8", "1d4ed8"), ("#c2410c", "c2410c"), ("000000", "000000")]
)
def test_accent(text: str, colour: str) -> None:
    assert widget.parse_accent(text) == colour


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "ggg000", "red", "#12 456", "12345\n"])
def test_bad_accent_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="six hex digits"):
        widget.parse_accent(bad)


@pytest.mark.parametrize(
    ("accent", "text"),
    [
        ("16794f", "ffffff"),  # the default green
        ("1d4ed8", "ffffff"),
        ("000000", "ffffff"),
        ("ffd400", "111111"),  # yellow wants dark text
        ("ffffff", "111111"),
        ("7dd3fc", "111111"),
    ],
)
def test_button_text_reads_on_the_accent(accent: str, text: str) -> None:
    assert widget.text_colour_on(accent) == text


@pytest.mark.parametrize("accent", ["777777", "e53935", "767676", "808080", "ff0000"])
def test_greys_and_reds_that_failed_get_text_that_reads(accent: str) -> None:
    assert widget.contrast(widget.text_colour_on(accent), accent) >= 4.5


@given(st.integers(min_value=0, max_value=0xFFFFFF))
def test_the_button_text_keeps_4_5_to_1_on_any_accent(value: int) -> None:
    accent = f"{value:06x}"
    assert widget.contrast(widget.text_colour_on(accent), accent) >= 4.5


def test_contrast_is_wcags() -> None:
    assert round(widget.contrast("ffffff", "000000"), 2) == 21.0
    assert round(widget.contrast("777777", "ffffff"), 2) == 4.48
    assert widget.contrast("123456", "abcdef") == widget.contrast("abcdef", "123456")


def test_ticks_sit_at_their_share_of_the_goal() -> None:
    ticks = widget.ticks([0, 250000, 500000])
    assert [(t.percent, t.labelled) for t in ticks] == [(0.0, True), (50.0, True), (100.0, True)]


def test_crowded_labels_are_left_out_but_ends_are_kept() -> None:
    ticks = widget.ticks([0, 10000, 60000, 480000, 500000])
    assert [t.percent for t in ticks] == [0.0, 2.0, 12.0, 96.0, 100.0]
    assert [t.labelled for t in ticks] == [True, False, False, False, True]


def test_fill_is_full_once_the_goal_is_passed() -> None:
    assert widget.fill_percent(436) == 43.6
    assert widget.fill_percent(1000) == 100.0
    assert widget.fill_percent(1500) == 100.0
    assert widget.fill_percent(0) == 0.0


@pytest.mark.parametrize(
    ("at", "reached", "text"),
    [
        (NOV_24, False, "2,180 $ of 5,000 $ raised, 6 days left"),
        (datetime(2026, 11, 29, tzinfo=UTC), False, "2,180 $ of 5,000 $ raised, 1 day left"),
        (datetime(2026, 11, 30, tzinfo=UTC), False, "2,180 $ of 5,000 $ raised, last day"),
        (NOV_24, True, "2,180 $ raised, goal of 5,000 $ reached, 6 days left"),
        (
            datetime(2026, 11, 30, tzinfo=UTC),
            True,
            "2,180 $ raised, goal of 5,000 $ reached, last day",
        ),
    ],
)
def test_value_text(at: datetime, reached: bool, text: str) -> None:
    assert widget.value_text("2,180 $", "5,000 $", reached, at, UTC_ZONE).english() == text


def test_clean_text_drops_what_xml_cannot_carry() -> None:
    assert widget.clean_text("a\x00b\x01c\x1f\ufffe d") == "abc d"
    assert widget.clean_text("Café 🎉 <b>\t") == "Café 🎉 <b>\t"
