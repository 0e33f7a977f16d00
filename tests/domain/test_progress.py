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
    days_left_line,
    net_amount,
)

MILESTONES = [0, 250000, 500000]
UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


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


# --- days_left_line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "tz", "lang", "line"),
    [
        (utc(2026, 11, 23, 12), UTC_ZONE, "en", "7 DAYS LEFT UNTIL THE END OF NOVEMBER"),
        (utc(2026, 11, 24, 12), UTC_ZONE, "en", "6 DAYS LEFT UNTIL THE END OF NOVEMBER"),
        (utc(2026, 11, 29, 12), UTC_ZONE, "en", "1 DAY LEFT UNTIL THE END OF NOVEMBER"),
        (utc(2026, 11, 30, 19), UTC_ZONE, "en", "LAST DAY OF NOVEMBER · 5 HOURS LEFT"),
        (utc(2026, 11, 30, 23, 30), UTC_ZONE, "en", "LAST DAY OF NOVEMBER · 1 HOUR LEFT"),
        (utc(2026, 11, 30, 0), UTC_ZONE, "en", "LAST DAY OF NOVEMBER · 24 HOURS LEFT"),
        (utc(2026, 11, 23, 12), UTC_ZONE, "en_GB", "7 DAYS LEFT UNTIL THE END OF NOVEMBER"),
        (utc(2026, 12, 1, 3), NEW_YORK, "en", "LAST DAY OF NOVEMBER · 2 HOURS LEFT"),
        (utc(2026, 11, 23, 12), UTC_ZONE, "de", "NOCH 7 TAGE BIS ENDE NOVEMBER"),
        (utc(2026, 11, 29, 12), UTC_ZONE, "de", "NOCH 1 TAG BIS ENDE NOVEMBER"),
        (utc(2026, 11, 30, 18), BERLIN, "de", "LETZTER TAG IM NOVEMBER · NOCH 5 STUNDEN"),
        (utc(2026, 11, 30, 22, 30), BERLIN, "de_DE", "LETZTER TAG IM NOVEMBER · NOCH 1 STUNDE"),
        (utc(2027, 3, 10, 12), BERLIN, "de", "NOCH 21 TAGE BIS ENDE MÄRZ"),
        (utc(2026, 11, 23, 12), UTC_ZONE, "fr", "PLUS QUE 7 JOURS AVANT LA FIN DE NOVEMBRE"),
        (utc(2026, 10, 30, 12), UTC_ZONE, "fr", "PLUS QU'UN JOUR AVANT LA FIN D'OCTOBRE"),
        (utc(2026, 8, 31, 19), UTC_ZONE, "fr", "DERNIER JOUR D'AOÛT · PLUS QUE 5 HEURES"),
        (utc(2026, 12, 31, 23, 1), UTC_ZONE, "fr", "DERNIER JOUR DE DÉCEMBRE · PLUS QU'UNE HEURE"),
        (utc(2026, 11, 23, 12), UTC_ZONE, "es", "QUEDAN 7 DÍAS PARA QUE TERMINE NOVIEMBRE"),
        (utc(2026, 11, 29, 12), UTC_ZONE, "es", "QUEDA 1 DÍA PARA QUE TERMINE NOVIEMBRE"),
        (utc(2026, 11, 30, 19), UTC_ZONE, "es", "ÚLTIMO DÍA DE NOVIEMBRE · QUEDAN 5 HORAS"),
        (utc(2026, 11, 30, 23, 30), UTC_ZONE, "es", "ÚLTIMO DÍA DE NOVIEMBRE · QUEDA 1 HORA"),
        # A language without phrases falls back to English, month name included.
        (utc(2026, 11, 23, 12), UTC_ZONE, "it", "7 DAYS LEFT UNTIL THE END OF NOVEMBER"),
        (utc(2026, 11, 30, 19), UTC_ZONE, "ja", "LAST DAY OF NOVEMBER · 5 HOURS LEFT"),
    ],
)
def test_days_left_line(now: datetime, tz: ZoneInfo, lang: str, line: str) -> None:
    assert days_left_line(now, tz, lang) == line


def test_days_left_line_defaults_to_english() -> None:
    assert days_left_line(utc(2026, 11, 23, 12), UTC_ZONE) == "7 DAYS LEFT UNTIL THE END OF NOVEMBER"


def test_days_left_line_follows_the_campaign_timezone() -> None:
    # 1 December 03:00 UTC is still 30 November (the last day) in New York.
    now = utc(2026, 12, 1, 3)
    assert days_left_line(now, UTC_ZONE).startswith("30 DAYS LEFT UNTIL THE END OF DECEMBER")
    assert days_left_line(now, NEW_YORK).startswith("LAST DAY OF NOVEMBER")


def test_days_left_line_refuses_an_unknown_locale() -> None:
    with pytest.raises(ValueError, match="unknown locale"):
        days_left_line(utc(2026, 11, 23), UTC_ZONE, "xx")
