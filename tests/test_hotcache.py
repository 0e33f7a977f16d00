"""tracker.hotcache: ready answers per campaign state, and how fresh they stay.

SPEC: a donation recorded by any process shows at once in the process that recorded it and
within one second in every other. The second half is the revision poll's, held here with
a clock the test drives; tests/test_freshness_across_workers.py watches real workers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_campaign, make_donation
from tracker import headers, hotcache

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """Stands in for the database: the revision another process wrote."""

    def __init__(self) -> None:
        self.revision = 1
        self.reads = 0
        self.away = False

    def __call__(self) -> dict[str, hotcache.CampaignState]:
        self.reads += 1
        if self.away:
            raise ConnectionError("database away")
        return {"s": hotcache.CampaignState(1, self.revision, UTC_ZONE)}


AT = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_another_processes_change_shows_after_at_most_one_second() -> None:
    clock, loader = Clock(), Loader()
    cache = hotcache.HotCache(loader, monotonic=clock)
    assert cache.lookup("s", "v", AT).key[2] == 1
    loader.revision = 2  # committed elsewhere
    clock.now += 0.5
    assert cache.lookup("s", "v", AT).key[2] == 1  # may still be the old one
    clock.now += hotcache.POLL_SECONDS  # more than a second since the last read
    assert cache.lookup("s", "v", AT).key[2] == 2
    assert loader.reads == 2  # one read a second, not one per request


def test_this_processes_own_commit_shows_at_once(db) -> None:
    clock = Clock()
    cache = hotcache.HotCache(
        hotcache.load_states_from(lambda: Session(db.engine)), monotonic=clock
    )
    campaign = make_campaign("s")
    before = cache.lookup("s", "v", AT).key[2]
    make_donation(campaign, 100)  # commits here: the generation moves
    assert cache.lookup("s", "v", AT).key[2] == before + 1  # the clock did not move


def test_the_database_away_keeps_the_last_answers_and_retries_a_second_later() -> None:
    clock, loader = Clock(), Loader()
    cache = hotcache.HotCache(loader, monotonic=clock)
    cache.lookup("s", "v", AT)
    loader.away = True
    clock.now += 2
    assert cache.lookup("s", "v", AT) is not None
    reads = loader.reads
    assert cache.lookup("s", "v", AT) is not None
    assert loader.reads == reads  # no read per request while it is away
    fresh = hotcache.HotCache(loader, monotonic=clock)
    with pytest.raises(ConnectionError):
        fresh.lookup("s", "v", AT)  # nothing to serve yet: the error shows


def test_an_unknown_slug_has_no_entry() -> None:
    assert hotcache.HotCache(Loader(), monotonic=Clock()).lookup("nope", "v", AT) is None


def test_entries_are_kept_per_key_and_dropped_all_at_once_when_full(monkeypatch) -> None:
    cache = hotcache.HotCache(Loader(), monotonic=Clock())
    entry = hotcache.make_entry(b"body", "application/json")
    cache.put("a", entry)
    assert cache.get("a") is entry and cache.get("b") is None
    assert (cache.hits, cache.misses) == (1, 1)
    monkeypatch.setattr(hotcache, "MAX_ENTRIES", 2)
    cache.put("b", entry)
    cache.put("c", entry)
    assert cache.get("a") is None and cache.get("c") is entry


@pytest.mark.parametrize(
    ("at", "zone", "until"),
    [
        # An ordinary day: the next local midnight (days left changes then).
        (datetime(2026, 11, 23, 12, tzinfo=UTC), BERLIN, datetime(2026, 11, 23, 23, tzinfo=UTC)),
        # A month's last day: the next hour ("10 HOURS LEFT").
        (
            datetime(2026, 11, 30, 12, 30, tzinfo=UTC),
            UTC_ZONE,
            datetime(2026, 11, 30, 13, tzinfo=UTC),
        ),
        # The last hour of the month: its end.
        (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), UTC_ZONE, datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_bucket_end(at, zone, until) -> None:
    assert hotcache.bucket_end(at, zone) == until


def test_the_key_changes_with_the_bucket() -> None:
    cache = hotcache.HotCache(Loader(), monotonic=Clock())
    day = cache.lookup("s", "v", datetime(2026, 11, 23, 23, 59, tzinfo=UTC))
    next_day = cache.lookup("s", "v", datetime(2026, 11, 24, 0, 1, tzinfo=UTC))
    assert day.key != next_day.key and day.until < next_day.until


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abd"', False),
        ("", False),
        (None, False),
    ],
)
def test_etag_matches(header, matches) -> None:
    assert hotcache.etag_matches(header, '"abc"') is matches


def test_cache_control_never_reaches_past_the_bucket() -> None:
    until = datetime(2026, 11, 24, tzinfo=UTC)
    far = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert hotcache.cache_control(far, until, 30) == "public, max-age=30, stale-while-revalidate=30"
    near = datetime(2026, 11, 23, 23, 59, 50, tzinfo=UTC)
    assert hotcache.cache_control(near, until, 30) == "public, max-age=10"
    assert hotcache.cache_control(until, until, 30) == "public, max-age=0"


def test_response_headers_are_complete() -> None:
    entry = hotcache.make_entry(b"{}", "application/json")
    until = datetime(2026, 11, 24, tzinfo=UTC)
    out = dict(hotcache.response_headers(entry, AT, until, 30, cors=True, secure=True))
    assert out["ETag"] == entry.etag
    assert out["Access-Control-Allow-Origin"] == "*"
    assert out["Strict-Transport-Security"] == headers.HSTS
    assert out["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in out["Content-Security-Policy"]
