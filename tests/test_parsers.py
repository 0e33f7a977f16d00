"""Property tests for the parsers a person's input goes through (slugs, origins,
presets, milestones, dates, timezones): each either returns a valid value or
raises ValueError with a message, never anything else."""

from __future__ import annotations

import re
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from tracker import services
from tracker.domain import money, periods

anything = st.text(max_size=80)


@given(anything)
def test_parse_slug_accepts_exactly_the_slug_alphabet(text: str) -> None:
    valid = re.fullmatch(r"[a-z0-9-]{1,64}", text) is not None
    try:
        assert services.parse_slug(text) == text
        assert valid
    except services.CampaignError as exc:
        assert not valid
        assert "slug" in str(exc)


@given(st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True))
def test_every_slug_shape_is_accepted(text: str) -> None:
    assert services.parse_slug(text) == text


@given(anything)
def test_parse_origins_returns_http_origins_or_refuses(text: str) -> None:
    try:
        origins = services.parse_origins(text)
    except services.CampaignError as exc:
        assert "origin" in str(exc)
        return
    for origin in origins:
        assert re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin)
        assert not origin.endswith("/")
    assert len(origins) == len(set(origins))


@given(st.lists(st.sampled_from(["https://a.example", "http://b.example:8080", " ", ""])))
def test_parse_origins_keeps_order_and_drops_blanks(items: list[str]) -> None:
    origins = services.parse_origins(",".join(items))
    expected: list[str] = []
    for item in items:
        if item.strip() and item not in expected:
            expected.append(item)
    assert origins == expected


@given(anything, st.sampled_from(["USD", "JPY", "KWD"]))
def test_parse_presets_sorted_positive_or_refused(text: str, currency: str) -> None:
    try:
        presets = services.parse_presets(text, currency)
    except ValueError as exc:
        assert str(exc)
        return
    assert presets == sorted(set(presets))
    assert all(0 < p <= money.MAX_MINOR for p in presets)


@given(anything, st.sampled_from(["USD", "JPY", "KWD"]))
def test_parse_milestones_ascending_from_zero_or_refused(text: str, currency: str) -> None:
    try:
        values = money.parse_milestones(text, currency)
    except ValueError as exc:
        assert str(exc)
        return
    assert values[0] == 0
    assert all(a < b for a, b in zip(values, values[1:], strict=False))


@given(anything)
def test_parse_instant_is_aware_utc_or_refused(text: str) -> None:
    zone = periods.parse_timezone("America/Los_Angeles")
    try:
        at = periods.parse_instant(text, zone)
    except ValueError as exc:
        assert "ISO 8601" in str(exc)
        return
    assert isinstance(at, datetime)
    assert at.utcoffset() is not None
    assert at.utcoffset().total_seconds() == 0


@given(anything)
def test_parse_timezone_gives_a_zone_or_refuses(text: str) -> None:
    try:
        zone = periods.parse_timezone(text)
    except ValueError as exc:
        assert "timezone" in str(exc)
        return
    assert zone.key
