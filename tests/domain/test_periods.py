from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.domain.periods import (
    Period,
    TimezoneError,
    days_left,
    hours_left_in_month,
    next_local_midnight,
    parse_instant,
    parse_timezone,
    periods_between,
)

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")
PAGO_PAGO = ZoneInfo("Pacific/Pago_Pago")

TRICKY_ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "America/Los_Angeles",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Pacific/Apia",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "America/Santiago",
    "America/Havana",
    "Africa/Casablanca",
    "Pacific/Chatham",
    "Europe/Dublin",
]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(
    tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


# --- parse_timezone -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("UTC", "UTC"),
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        (" America/New_York ", "America/New_York"),
        ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("Etc/GMT+5", "Etc/GMT+5"),
        ("Pacific/Kiritimati", "Pacific/Kiritimati"),
    ],
)
def test_parse_timezone_accepts_iana_names(name: str, key: str) -> None:
    assert parse_timezone(name).key == key


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "localtime",
        "posixrules",
        "Factory",
        "../etc/passwd",
        "Europe/../UTC",
        "/usr/share/zoneinfo/UTC",
        "Europe/Berlin/",
        "Mars/Olympus_Mons",
        "Europe/" + "x" * 60,
        "UTC\x00",
        "Europe\\Berlin",
        "+05:00",
    ],
)
def test_parse_timezone_refuses(name: str) -> None:
    with pytest.raises(TimezoneError, match="unknown timezone"):
        parse_timezone(name)


def test_timezone_error_names_the_zone() -> None:
    with pytest.raises(ValueError) as info:
        parse_timezone("Mars/Olympus_Mons")
    assert str(info.value) == "unknown timezone 'Mars/Olympus_Mons'"


# --- Period basics --------------------------------------------------------------------------


def test_period_key_days_and_neighbours() -> None:
    november = Period(2026, 11)
    assert november.key == "2026-11"
    assert november.first_day == date(2026, 11, 1)
    assert november.last_day == date(2026, 11, 30)
    assert november.next() == Period(2026, 12)
    assert november.previous() == Period(2026, 10)
    assert Period(2026, 3).key == "2026-03"


def test_december_rolls_into_january() -> None:
    assert Period(2026, 12).next() == Period(2027, 1)
    assert Period(2027, 1).previous() == Period(2026, 12)
    assert Period(2026, 12).last_day == date(2026, 12, 31)


@pytest.mark.parametrize(
    ("period", "last"),
    [
        (Period(2028, 2), date(2028, 2, 29)),
        (Period(2026, 2), date(2026, 2, 28)),
        (Period(2100, 2), date(2100, 2, 28)),
        (Period(2000, 2), date(2000, 2, 29)),
        (Period(2026, 4), date(2026, 4, 30)),
    ],
)
def test_last_day(period: Period, last: date) -> None:
    assert period.last_day == last


def test_periods_order_by_year_then_month() -> None:
    assert Period(2026, 12) < Period(2027, 1) < Period(2027, 2)
    assert sorted([Period(2027, 1), Period(2026, 12)]) == [Period(2026, 12), Period(2027, 1)]


@pytest.mark.parametrize("month", [0, 13, -1])
def test_period_refuses_impossible_months(month: int) -> None:
    with pytest.raises(ValueError):
        Period(2026, month)


@pytest.mark.parametrize(
    ("locale", "label", "name"),
    [
        ("en", "November 2026", "November"),
        ("de", "November 2026", "November"),
        ("de_DE", "November 2026", "November"),
        ("fr", "novembre 2026", "novembre"),
        ("es", "noviembre 2026", "noviembre"),
    ],
)
def test_label_and_month_name(locale: str, label: str, name: str) -> None:
    assert Period(2026, 11).label(locale) == label
    assert Period(2026, 11).month_name(locale) == name


def test_label_defaults_to_english() -> None:
    assert Period(2027, 3).label() == "March 2027"
    assert Period(2027, 3).month_name() == "March"
    assert Period(2027, 3).month_name("de") == "März"


def test_label_refuses_unknown_locale() -> None:
    with pytest.raises(ValueError, match="unknown locale"):
        Period(2026, 11).label("xx")


# --- containing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "tz", "period"),
    [
        (utc(2026, 11, 23, 12), UTC_ZONE, Period(2026, 11)),
        # Still the evening of 31 October on the US west coast.
        (utc(2026, 11, 1, 0, 30), LOS_ANGELES, Period(2026, 10)),
        (utc(2026, 11, 1, 0, 30), UTC_ZONE, Period(2026, 11)),
        # UTC+14: already 1 December at 10:00 UTC on 30 November.
        (utc(2026, 11, 30, 10), KIRITIMATI, Period(2026, 12)),
        (utc(2026, 11, 30, 9, 59), KIRITIMATI, Period(2026, 11)),
        # UTC-11: still 30 November at 10:59 UTC on 1 December.
        (utc(2026, 12, 1, 10, 59), PAGO_PAGO, Period(2026, 11)),
        (utc(2026, 12, 1, 11), PAGO_PAGO, Period(2026, 12)),
        (utc(2026, 12, 31, 23, 0), BERLIN, Period(2027, 1)),
        (utc(2027, 1, 1, 4, 59), NEW_YORK, Period(2026, 12)),
        (utc(2027, 1, 1, 5), NEW_YORK, Period(2027, 1)),
        (
            datetime(2026, 11, 1, 0, 30, tzinfo=timezone(timedelta(hours=-7))),
            UTC_ZONE,
            Period(2026, 11),
        ),
    ],
)
def test_containing(at: datetime, tz: ZoneInfo, period: Period) -> None:
    assert Period.containing(at, tz) == period


def test_containing_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        Period.containing(datetime(2026, 11, 1), UTC_ZONE)


# --- bounds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "tz", "start", "end"),
    [
        (Period(2026, 11), UTC_ZONE, utc(2026, 11, 1), utc(2026, 12, 1)),
        (Period(2026, 12), UTC_ZONE, utc(2026, 12, 1), utc(2027, 1, 1)),
        # November in New York: starts in EDT (-4), ends in EST (-5).
        (Period(2026, 11), NEW_YORK, utc(2026, 11, 1, 4), utc(2026, 12, 1, 5)),
        # March in New York: starts in EST, ends in EDT.
        (Period(2026, 3), NEW_YORK, utc(2026, 3, 1, 5), utc(2026, 4, 1, 4)),
        # March in Berlin: CET -> CEST on 29 March.
        (Period(2026, 3), BERLIN, utc(2026, 2, 28, 23), utc(2026, 3, 31, 22)),
        # October in Berlin: CEST -> CET on 25 October.
        (Period(2026, 10), BERLIN, utc(2026, 9, 30, 22), utc(2026, 10, 31, 23)),
        (Period(2026, 11), BERLIN, utc(2026, 10, 31, 23), utc(2026, 11, 30, 23)),
        (Period(2028, 2), UTC_ZONE, utc(2028, 2, 1), utc(2028, 3, 1)),
        (Period(2026, 11), KIRITIMATI, utc(2026, 10, 31, 10), utc(2026, 11, 30, 10)),
        (Period(2026, 11), PAGO_PAGO, utc(2026, 11, 1, 11), utc(2026, 12, 1, 11)),
        (Period(2026, 12), LOS_ANGELES, utc(2026, 12, 1, 8), utc(2027, 1, 1, 8)),
    ],
)
def test_bounds_are_local_midnights(
    period: Period, tz: ZoneInfo, start: datetime, end: datetime
) -> None:
    got_start, got_end = period.bounds(tz)
    assert (got_start, got_end) == (start, end)
    assert got_start.tzinfo is UTC
    assert got_end.tzinfo is UTC
    for instant, day in ((got_start, period.first_day), (got_end, period.next().first_day)):
        assert instant.astimezone(tz).date() == day
        assert instant.astimezone(tz).time().hour == 0
        assert (instant - timedelta(microseconds=1)).astimezone(tz).date() < day


def test_bounds_of_a_month_whose_midnight_is_skipped() -> None:
    # Kiritimati skipped 31 December 1994 entirely (UTC-10 -> UTC+14).
    start, end = Period(1994, 12).bounds(KIRITIMATI)
    assert start == utc(1994, 12, 1, 10)
    assert end == utc(1994, 12, 31, 10)
    assert end.astimezone(KIRITIMATI) == datetime(1995, 1, 1, tzinfo=KIRITIMATI)


def test_bounds_when_midnight_falls_in_a_dst_gap() -> None:
    # Santiago sprang forward at local midnight on 12 August 2018; no 00:00 that day.
    santiago = ZoneInfo("America/Santiago")
    start = next_local_midnight(utc(2018, 8, 11, 12), santiago)
    assert start.astimezone(santiago).date() == date(2018, 8, 12)
    assert (start - timedelta(seconds=1)).astimezone(santiago).date() == date(2018, 8, 11)


def test_consecutive_months_tile() -> None:
    for tz in (NEW_YORK, BERLIN, KIRITIMATI, PAGO_PAGO):
        period = Period(2026, 1)
        for _ in range(24):
            assert period.bounds(tz)[1] == period.next().bounds(tz)[0]
            period = period.next()


# --- days_left ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "tz", "left"),
    [
        (utc(2026, 11, 23, 12), UTC_ZONE, 7),
        (utc(2026, 11, 23, 0), UTC_ZONE, 7),
        (utc(2026, 11, 23, 23, 59, 59), UTC_ZONE, 7),
        (utc(2026, 11, 30, 0), UTC_ZONE, 0),
        (utc(2026, 11, 30, 23, 59), UTC_ZONE, 0),
        (utc(2026, 11, 1), UTC_ZONE, 29),
        (utc(2026, 12, 1), UTC_ZONE, 30),
        (utc(2026, 12, 31, 12), UTC_ZONE, 0),
        # Still 31 October in Los Angeles.
        (utc(2026, 11, 1, 0, 30), LOS_ANGELES, 0),
        # New York, November: DST ends on 1 November 2026.
        (local(NEW_YORK, 2026, 11, 1, 0, 30), NEW_YORK, 29),
        (local(NEW_YORK, 2026, 11, 1, 23, 30), NEW_YORK, 29),
        (local(NEW_YORK, 2026, 11, 2, 0, 30), NEW_YORK, 28),
        (local(NEW_YORK, 2026, 11, 23, 0, 0), NEW_YORK, 7),
        (local(NEW_YORK, 2026, 11, 30, 23, 59), NEW_YORK, 0),
        # New York, March: DST starts on 8 March 2026.
        (local(NEW_YORK, 2026, 3, 8, 3, 0), NEW_YORK, 23),
        (local(NEW_YORK, 2026, 3, 8, 23, 59), NEW_YORK, 23),
        (local(NEW_YORK, 2026, 3, 9, 0, 0), NEW_YORK, 22),
        # Berlin: CET -> CEST on 29 March, back on 25 October 2026.
        (local(BERLIN, 2026, 3, 29, 1, 59), BERLIN, 2),
        (local(BERLIN, 2026, 3, 29, 3, 0), BERLIN, 2),
        (local(BERLIN, 2026, 3, 31, 0, 0), BERLIN, 0),
        (local(BERLIN, 2026, 10, 25, 2, 30), BERLIN, 6),
        (local(BERLIN, 2026, 11, 23, 12), BERLIN, 7),
        # Leap February.
        (utc(2028, 2, 28, 12), UTC_ZONE, 1),
        (utc(2028, 2, 29, 12), UTC_ZONE, 0),
        (utc(2027, 2, 28, 12), UTC_ZONE, 0),
        (local(BERLIN, 2028, 2, 28, 23, 59), BERLIN, 1),
        # UTC+14 and UTC-11 on the same instant.
        (utc(2026, 11, 23, 12), KIRITIMATI, 6),
        (utc(2026, 11, 23, 12), PAGO_PAGO, 7),
        (utc(2026, 11, 30, 10), KIRITIMATI, 30),
        (utc(2026, 12, 1, 10), PAGO_PAGO, 0),
    ],
)
def test_days_left(now: datetime, tz: ZoneInfo, left: int) -> None:
    assert days_left(now, tz) == left


def test_days_left_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        days_left(datetime(2026, 11, 23), UTC_ZONE)


# --- next_local_midnight --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "tz", "midnight"),
    [
        (utc(2026, 11, 23, 12), UTC_ZONE, utc(2026, 11, 24)),
        (utc(2026, 11, 23, 0), UTC_ZONE, utc(2026, 11, 24)),
        (utc(2026, 12, 31, 23, 59), UTC_ZONE, utc(2027, 1, 1)),
        # New York: the day DST ends (1 November) is 25 hours long.
        (local(NEW_YORK, 2026, 11, 1, 0, 0), NEW_YORK, utc(2026, 11, 2, 5)),
        (local(NEW_YORK, 2026, 10, 31, 12, 0), NEW_YORK, utc(2026, 11, 1, 4)),
        # New York: the day DST starts (8 March) is 23 hours long.
        (local(NEW_YORK, 2026, 3, 8, 0, 0), NEW_YORK, utc(2026, 3, 9, 4)),
        (local(NEW_YORK, 2026, 3, 7, 12, 0), NEW_YORK, utc(2026, 3, 8, 5)),
        # Berlin across both changes.
        (local(BERLIN, 2026, 3, 29, 1, 0), BERLIN, utc(2026, 3, 29, 22)),
        (local(BERLIN, 2026, 10, 25, 1, 0), BERLIN, utc(2026, 10, 25, 23)),
        (utc(2026, 11, 30, 9), KIRITIMATI, utc(2026, 11, 30, 10)),
        (utc(2026, 11, 30, 11), PAGO_PAGO, utc(2026, 12, 1, 11)),
    ],
)
def test_next_local_midnight(now: datetime, tz: ZoneInfo, midnight: datetime) -> None:
    got = next_local_midnight(now, tz)
    assert got == midnight
    assert got.tzinfo is UTC
    assert got > now


def test_next_local_midnight_on_a_skipped_day() -> None:
    # On Kiritimati, 30 December 1994 was followed by 1 January 1995.
    got = next_local_midnight(utc(1994, 12, 31, 0), KIRITIMATI)
    assert got.astimezone(KIRITIMATI) == datetime(1995, 1, 1, tzinfo=KIRITIMATI)


# --- hours_left_in_month --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "tz", "hours"),
    [
        (utc(2026, 11, 30, 19), UTC_ZONE, 5),
        (utc(2026, 11, 30, 19, 0, 1), UTC_ZONE, 5),
        (utc(2026, 11, 30, 18, 59, 59), UTC_ZONE, 6),
        (utc(2026, 11, 30, 23, 59, 59), UTC_ZONE, 1),
        (utc(2026, 11, 30, 0), UTC_ZONE, 24),
        (local(BERLIN, 2026, 11, 30, 12), BERLIN, 12),
        # 31 October 2027 is a Sunday: Berlin's last day of October has 25 hours.
        (local(BERLIN, 2027, 10, 31, 0), BERLIN, 25),
        (local(NEW_YORK, 2026, 11, 30, 22, 30), NEW_YORK, 2),
    ],
)
def test_hours_left_in_month(now: datetime, tz: ZoneInfo, hours: int) -> None:
    assert hours_left_in_month(now, tz) == hours


# --- periods_between ------------------------------------------------------------------------


def test_periods_between_is_inclusive_and_crosses_years() -> None:
    assert periods_between(Period(2026, 11), Period(2027, 2)) == [
        Period(2026, 11),
        Period(2026, 12),
        Period(2027, 1),
        Period(2027, 2),
    ]


def test_periods_between_one_and_none() -> None:
    assert periods_between(Period(2026, 11), Period(2026, 11)) == [Period(2026, 11)]
    assert periods_between(Period(2026, 12), Period(2026, 11)) == []


# --- parse_instant --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tz", "instant"),
    [
        ("2026-11-03T10:00:00+00:00", NEW_YORK, utc(2026, 11, 3, 10)),
        ("2026-11-03T10:00:00Z", NEW_YORK, utc(2026, 11, 3, 10)),
        ("2026-11-03T10:00:00+02:00", UTC_ZONE, utc(2026, 11, 3, 8)),
        ("2026-11-03T10:00", NEW_YORK, utc(2026, 11, 3, 15)),
        ("2026-11-03 10:00", BERLIN, utc(2026, 11, 3, 9)),
        ("2026-07-03T10:00", BERLIN, utc(2026, 7, 3, 8)),
        ("2026-11-03", NEW_YORK, utc(2026, 11, 3, 5)),
        ("2026-11-03", UTC_ZONE, utc(2026, 11, 3)),
        ("  2026-11-03  ", UTC_ZONE, utc(2026, 11, 3)),
        ("2026-11-01", NEW_YORK, utc(2026, 11, 1, 4)),
        ("20261103T100000Z", UTC_ZONE, utc(2026, 11, 3, 10)),
        ("2026-11-03T10:00:00.250+00:00", UTC_ZONE, datetime(2026, 11, 3, 10, 0, 0, 250000, UTC)),
    ],
)
def test_parse_instant(text: str, tz: ZoneInfo, instant: datetime) -> None:
    got = parse_instant(text, tz)
    assert got == instant
    assert got.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "yesterday",
        "2026-13-01",
        "2026-02-30",
        "2026-11-03T25:00",
        "12.50",
        "2026-11-03T10:00+99:00",
        "２０２６-11-03",
        "2026-11-03T10:00" + "0" * 80,
    ],
)
def test_parse_instant_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO 8601 date-time"):
        parse_instant(text, UTC_ZONE)


# --- properties -----------------------------------------------------------------------------

zones = st.sampled_from(TRICKY_ZONES).map(ZoneInfo)
instants = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)


@given(instants, zones)
def test_containing_period_bounds_contain_the_instant(at: datetime, tz: ZoneInfo) -> None:
    period = Period.containing(at, tz)
    start, end = period.bounds(tz)
    assert start <= at < end


@given(instants, zones)
def test_consecutive_bounds_tile_without_gaps(at: datetime, tz: ZoneInfo) -> None:
    period = Period.containing(at, tz)
    previous_end = period.previous().bounds(tz)[1]
    start, end = period.bounds(tz)
    next_start = period.next().bounds(tz)[0]
    assert previous_end == start < end == next_start


@given(instants, zones)
def test_next_local_midnight_is_the_next_date_change(at: datetime, tz: ZoneInfo) -> None:
    midnight = next_local_midnight(at, tz)
    assert midnight > at
    assert midnight.astimezone(tz).date() > at.astimezone(tz).date()
    assert (midnight - timedelta(microseconds=1)).astimezone(tz).date() == at.astimezone(tz).date()


@given(instants, zones)
def test_days_and_hours_left_agree_with_bounds(at: datetime, tz: ZoneInfo) -> None:
    period = Period.containing(at, tz)
    left = days_left(at, tz)
    assert 0 <= left <= 30
    assert at.astimezone(tz).date() + timedelta(days=left) == period.last_day
    hours = hours_left_in_month(at, tz)
    assert 1 <= hours <= 31 * 24 + 1
