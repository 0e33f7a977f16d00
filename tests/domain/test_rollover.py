"""Which months a campaign's history must hold, and when a period is due to close."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.periods import Period
from tracker.domain.rollover import (
    first_month,
    from_index,
    is_over,
    missing_months,
    month_index,
    needs_rollover,
)

OCT = Period(2026, 10)
NOV = Period(2026, 11)


@given(st.integers(min_value=1, max_value=9999), st.integers(min_value=1, max_value=12))
def test_month_index_round_trips_and_orders(year: int, month: int) -> None:
    period = Period(year, month)
    assert from_index(month_index(period)) == period
    if period < Period(9999, 12):
        assert month_index(period.next()) == month_index(period) + 1


def test_first_month_is_the_creation_month_or_an_earlier_period() -> None:
    assert first_month([], NOV) == NOV
    assert first_month([NOV, Period(2026, 12)], NOV) == NOV
    assert first_month([Period(2026, 8), NOV], NOV) == Period(2026, 8)


def test_missing_months_fills_every_hole_up_to_the_current_month() -> None:
    existing = [Period(2026, 7), Period(2026, 9)]
    assert missing_months(existing, Period(2026, 7), Period(2026, 11)) == [
        Period(2026, 8),
        Period(2026, 10),
        Period(2026, 11),
    ]


def test_missing_months_crosses_the_year() -> None:
    assert missing_months([], Period(2026, 11), Period(2027, 2)) == [
        Period(2026, 11),
        Period(2026, 12),
        Period(2027, 1),
        Period(2027, 2),
    ]


def test_missing_months_is_empty_when_history_is_complete_or_current_is_earlier() -> None:
    assert missing_months([OCT, NOV], OCT, NOV) == []
    assert missing_months([NOV], NOV, OCT) == []


def test_is_over_at_the_half_open_end() -> None:
    end = datetime(2026, 11, 1, 7, tzinfo=UTC)
    assert not is_over(end, end - timedelta(microseconds=1))
    assert is_over(end, end)
    # the same instant written in another offset
    assert is_over(end, datetime(2026, 11, 1, 0, tzinfo=timezone(timedelta(hours=-7))))
    with pytest.raises(ValueError, match="aware"):
        is_over(end, datetime(2026, 11, 1))


@pytest.mark.parametrize(
    ("stats", "created", "current", "expected"),
    [
        # nothing at all yet: open the current month
        ((None, None, 0, 0), NOV, NOV, True),
        # October and November there, none due: nothing to do
        ((month_index(OCT), month_index(NOV), 2, 0), OCT, NOV, False),
        # October there and over: close it (and November is missing)
        ((month_index(OCT), month_index(OCT), 1, 1), OCT, NOV, True),
        # a hole: July and November, nothing between
        ((month_index(Period(2026, 7)), month_index(NOV), 2, 0), Period(2026, 7), NOV, True),
        # created in September, first period in October: September is missing
        ((month_index(OCT), month_index(NOV), 2, 0), Period(2026, 9), NOV, True),
        # a back-dated donation's month before creation, complete run to now
        ((month_index(Period(2026, 9)), month_index(NOV), 3, 0), NOV, NOV, False),
    ],
)
def test_needs_rollover(stats, created, current, expected) -> None:
    low, high, count, due = stats
    assert (
        needs_rollover(
            first_index=low,
            last_index=high,
            count=count,
            open_over=due,
            created=created,
            current=current,
        )
        is expected
    )
