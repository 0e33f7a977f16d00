"""Widget and API bodies built once per campaign state, then served from memory.

A request for a widget read is a dictionary lookup. What keeps it correct:
- every change a widget shows bumps `campaigns.revision` in the writer's
  transaction (services.touch); the writing process drops its view of the
  revisions at commit, so it sees the change at once;
- every other process re-reads the revisions (one small query) at most once a
  second, when a request comes and the last read is older than that;
- the key carries the end of the current display bucket (the campaign's next
  local midnight, or the next hour on a month's last day), so the days-left
  line never outlives its day.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.orm import Session, scoped_session

from tracker import headers
from tracker.domain import periods

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
MAX_ENTRIES = 4096

_generation = 0  # bumped when this process commits a change a widget shows


@dataclass(frozen=True)
class CampaignState:
    campaign_id: int
    revision: int
    zone: ZoneInfo


@dataclass(frozen=True)
class Entry:
    """A ready answer: the body and what goes with it."""

    body: bytes
    content_type: str
    etag: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Lookup:
    key: Hashable
    until: datetime


def make_entry(body: bytes, content_type: str, headers: tuple[tuple[str, str], ...] = ()) -> Entry:
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    return Entry(body=body, content_type=content_type, etag=f'"{digest}"', headers=headers)


def bucket_end(at: datetime, zone: ZoneInfo) -> datetime:
    """When what a widget shows at `at` may next change by itself (UTC)."""
    midnight = periods.next_local_midnight(at, zone)
    if periods.days_left(at, zone) == 0:
        next_hour = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return min(midnight, next_hour)
    return midnight


def etag_matches(header: str | None, etag: str) -> bool:
    """True when an If-None-Match header names this ETag (weak comparison)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


def cache_control(at: datetime, until: datetime, max_age: int) -> str:
    """`public, max-age=N` never reaching past `until`."""
    remaining = max(0, int((until - at).total_seconds()))
    age = max(0, min(max_age, remaining))
    stale = max(0, min(max_age, remaining - age))
    value = f"public, max-age={age}"
    if stale:
        value += f", stale-while-revalidate={stale}"
    return value


def response_headers(
    entry: Entry, at: datetime, until: datetime, max_age: int, *, cors: bool, secure: bool
) -> list[tuple[str, str]]:
    """Every header of a cached read: caching, the entry's own, CORS, then tracker.headers'."""
    given = [
        ("ETag", entry.etag),
        ("Cache-Control", cache_control(at, until, max_age)),
        ("Vary", "Accept-Encoding"),
        *entry.headers,
    ]
    if cors:
        given.append(("Access-Control-Allow-Origin", "*"))
    mimetype = entry.content_type.split(";", 1)[0].strip()
    return headers.completed(given, mimetype, secure=secure, private=False)


class HotCache:
    """Ready answers per (campaign, variant, revision, bucket), with revision polling."""

    def __init__(
        self,
        load_states: Callable[[], dict[str, CampaignState]],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load_states = load_states
        self._monotonic = monotonic
        self._states: dict[str, CampaignState] = {}
        self._read_at = -math.inf
        self._generation = -1
        self._entries: dict[Hashable, Entry] = {}
        self._buckets: dict[str, tuple[datetime, datetime]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def state(self, slug: str) -> CampaignState | None:
        """The campaign's known revision and zone, re-read when over a second old."""
        if self._generation != _generation or self._monotonic() - self._read_at > POLL_SECONDS:
            self.refresh()
        return self._states.get(slug)

    def refresh(self) -> None:
        with self._lock:
            generation = _generation
            try:
                states = self._load_states()
            except Exception:
                if not self._states:
                    raise
                # The database is away: keep serving the last good answers and
                # try again in a second rather than on every request.
                log.warning(
                    "campaign revisions could not be read; serving cached answers",
                    exc_info=True,
                )
                self._read_at = self._monotonic()
                return
            self._states = states
            self._read_at = self._monotonic()
            self._generation = generation

    def bucket(self, slug: str, zone: ZoneInfo, at: datetime) -> datetime:
        """bucket_end(at, zone), remembered per campaign while `at` stays inside it."""
        known = self._buckets.get(slug)
        if known is not None and known[0] <= at < known[1]:
            return known[1]
        until = bucket_end(at, zone)
        self._buckets[slug] = (at, until)
        return until

    def lookup(self, slug: str, variant: Hashable, at: datetime) -> Lookup | None:
        """Where the answer for (slug, variant) at `at` lives; None for an unknown slug."""
        state = self.state(slug)
        if state is None:
            return None
        until = self.bucket(slug, state.zone, at)
        return Lookup(key=(slug, variant, state.revision, until), until=until)

    def get(self, key: Hashable) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def put(self, key: Hashable, entry: Entry) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # old revisions and buckets: cheaper to rebuild than to track
        self._entries[key] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._buckets.clear()
            self._read_at = -math.inf


def load_states_from(session_factory: Callable[[], Any]) -> Callable[[], dict[str, CampaignState]]:
    """A loader that reads (slug, id, revision, timezone) of every campaign."""
    from tracker.models import Campaign

    def load() -> dict[str, CampaignState]:
        session = session_factory()
        try:
            rows = session.execute(
                select(Campaign.slug, Campaign.id, Campaign.revision, Campaign.timezone)
            ).all()
        finally:
            session.close()
        return {
            slug: CampaignState(cid, rev, periods.parse_timezone(tz)) for slug, cid, rev, tz in rows
        }

    return load


def changed() -> None:
    """Note a change a widget shows, committed by this process outside the ORM session."""
    global _generation
    _generation += 1


def mark_changed(session: Session | scoped_session[Any]) -> None:
    """Note that this session's transaction changes what a widget shows."""
    session.info["widget_changed"] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    global _generation
    if session.info.pop("widget_changed", False):
        _generation += 1
