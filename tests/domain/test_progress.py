from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.money import MAX_MINOR
from tracker.domain.progress import (
    Milestone,
    Progress,
    compute_progress,
    days_left_messages,
    net_amount,
)

MILESTONES = [0, 250000, 500000]
UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- compute_progress -----------------------------------------------------------------------


def test_reference_progress() -> None:
    assert compute_progress(218000, MILESTONES) == Progress(
        raised_minor=218000,
        goal_minor=500000,
        milestones=(
            Milestone(0, True),
            Milestone(250000, False),
            Milestone(500000, False),
        ),
        percent=43.6,
        goal_reached=False,
        bar_permille=436,
    )


@pytest.mark.parametrize(
    ("raised", "percent", "bar", "reached", "goal_reached"),
    [
        (0, 0.0, 0, [True, False, False], False),
        (1, 0.0, 0, [True, False, False], False),
        (249999, 50.0, 499, [True, False, False], False),
        (250000, 50.0, 500, [True, True, False], False),
        (499999, 100.0, 999, [True, True, False], False),
        (500000, 100.0, 1000, [True, True, True], True),
        (750000, 150.0, 1000, [True, True, True], True),
        (5000000, 1000.0, 1000, [True, True, True], True),
        (218000, 43.6, 436, [True, False, False], False),
        (218250, 43.7, 436, [True, False, False], False),
        (218249, 43.6, 436, [True, False, False], False),
    ],
)
def test_compute_progress(
    raised: int, percent: float, bar: int, reached: list[bool], goal_reached: bool
) -> None:
    progress = compute_progress(raised, MILESTONES)
    assert progress.percent == percent
    assert progress.bar_permille == bar
    assert [m.reached for m in progress.milestones] == reached
    assert [m.amount_minor for m in progress.milestones] == MILESTONES
    assert progress.goal_reached is goal_reached
    assert progress.goal_minor == 500000
    assert progress.raised_minor == raised


def test_percent_rounds_half_up_to_one_decimal() -> None:
    assert compute_progress(1, [0, 2000]).percent == 0.1  # 0.05 % -> 0.1
    assert compute_progress(1, [0, 3]).percent == 33.3
    assert compute_progress(2, [0, 3]).percent == 66.7


def test_progress_accepts_any_sequence_and_stores_a_tuple() -> None:
    progress = compute_progress(100, (0, 100))
    assert progress.milestones == (Milestone(0, True), Milestone(100, True))
    assert progress.goal_reached


@pytest.mark.parametrize(
    ("raised", "percent", "bar", "goal_reached"), [(0, 0.0, 0, False), (5, 100.0, 1000, True)]
)
def test_zero_goal(raised: int, percent: float, bar: int, goal_reached: bool) -> None:
    progress = compute_progress(raised, [0])
    assert progress.percent == percent
    assert progress.bar_permille == bar
    assert progress.goal_reached is goal_reached


def test_compute_progress_refuses_empty_milestones_and_negative_totals() -> None:
    with pytest.raises(ValueError, match="milestones are empty"):
        compute_progress(100, [])
    with pytest.raises(ValueError, match="negative"):
        compute_progress(-1, MILESTONES)


@given(
    st.integers(min_value=0, max_value=MAX_MINOR * 100),
    st.integers(min_value=1, max_value=MAX_MINOR),
)
def test_percent_and_bar_are_consistent(raised: int, goal: int) -> None:
    progress = compute_progress(raised, [0, goal])
    assert 0 <= progress.bar_permille <= 1000
    assert abs(progress.percent - raised * 100 / goal) <= 0.05 + 1e-9 * max(1, raised / goal)
    assert progress.goal_reached is (raised >= goal)
    assert (progress.bar_permille == 1000) is (raised >= goal)


# --- net_amount -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "refunded", "disputed", "net"),
    [
        (5000, 0, 0, 5000),
        (5000, 2000, 0, 3000),
        (5000, 5000, 0, 0),
        (5000, 0, 5000, 0),
        (5000, 2000, 5000, 0),
        (5000, 7000, 0, 0),
        (5000, 3000, 1000, 1000),
    ],
)
def test_net_amount(amount: int, refunded: int, disputed: int, net: int) -> None:
    assert net_amount(amount, refunded, disputed) == net


@given(
    st.integers(min_value=0, max_value=MAX_MINOR),
    st.integers(min_value=0, max_value=MAX_MINOR),
    st.integers(min_value=0, max_value=MAX_MINOR),
)
def test_net_amount_is_never_negative_nor_above_the_amount(
    amount: int, refunded: int, disputed: int
) -> None:
    assert 0 <= net_amount(amount, refunded, disputed) <= amount


# --- the days-left line -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "tz", "line"),
    [
        (utc(2026, 11, 23, 12), UTC_ZONE, "7 days left until the end of November"),
        (utc(2026, 11, 24, 12), UTC_ZONE, "6 days left until the end of November"),
        (utc(2026, 11, 29, 12), UTC_ZONE, "1 day left until the end of November"),
        (utc(2026, 11, 30, 19), UTC_ZONE, "Last day of November · 5 hours left"),
        (utc(2026, 11, 30, 23, 30), UTC_ZONE, "Last day of November · 1 hour left"),
        (utc(2026, 11, 30, 0), UTC_ZONE, "Last day of November · 24 hours left"),
        (utc(2026, 12, 1, 3), NEW_YORK, "Last day of November · 2 hours left"),
        (utc(2027, 3, 10, 12), BERLIN, "21 days left until the end of March"),
    ],
)
def test_days_left_messages(now: datetime, tz: ZoneInfo, line: str) -> None:
    assert " · ".join(m.english() for m in days_left_messages(now, tz)) == line


def test_days_left_messages_follow_the_campaign_timezone() -> None:
    # 1 December 03:00 UTC is still 30 November (the last day) in New York.
    now = utc(2026, 12, 1, 3)
    [utc_line] = days_left_messages(now, UTC_ZONE)
    assert utc_line.n == 30 and dict(utc_line.values)["month"].month == 12
    first, hours = days_left_messages(now, NEW_YORK)
    assert first.msgid == "Last day of %(month)s" and hours.n == 2


def test_the_counts_choose_the_plural_form() -> None:
    [line] = days_left_messages(utc(2026, 11, 29, 12), UTC_ZONE)
    assert (line.msgid, line.plural, line.n) == (
        "%(num)s day left until the end of %(month)s",
        "%(num)s days left until the end of %(month)s",
        1,
    )
