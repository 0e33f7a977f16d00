"""Receive what the webhook missed: Stripe's events API, through the one ledger path.

Stripe keeps events listable for 30 days. `sync_stripe` pages through `GET /v1/events`
for the handled types since a time (3 days ago by default, Stripe's retry window) and
gives each to tracker.inbox exactly as the webhook would (source "api": no signature; the
API key authenticates it). An event stored already changes nothing, and the order does
not matter, so a run can be repeated, and can run while the same events arrive by webhook.
Each event is its own transaction, like a delivery; memory holds one page.

An event older than a few minutes that was not stored before is one the webhook missed:
the run logs a warning and counts it (`tracker_stripe_events_missed_total`), since it
means the endpoint has a problem.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from tracker import inbox, payments, services
from tracker.domain.text import Refusal, message
from tracker.extensions import db
from tracker.observability import EVENTS_MISSED

log = logging.getLogger(__name__)

DEFAULT_SINCE = timedelta(days=3)  # Stripe retries a webhook for 3 days
OLDEST = timedelta(days=30)  # and lists events for 30
# A newer event may still be on its way by webhook: not "missed" yet.
IN_FLIGHT = timedelta(minutes=5)


class SyncError(Refusal):
    """A --since that Stripe cannot answer for."""


@dataclass(frozen=True)
class SyncResult:
    fetched: int
    new: int
    applied: int
    missed: int  # new ones older than IN_FLIGHT: the webhook did not deliver them

    def line(self) -> str:
        return f"fetched {self.fetched}, new {self.new}, applied {self.applied}"


def check_since(since: datetime | None, now: datetime) -> datetime:
    """The time to list from: `since`, or 3 days ago; refused past 30 days or ahead of now."""
    if since is None:
        return now - DEFAULT_SINCE
    if since < now - OLDEST:
        raise SyncError(message("--since may be at most 30 days ago: Stripe keeps events 30 days"))
    if since > now:
        raise SyncError(message("--since is in the future"))
    return since


def sync_stripe(since: datetime | None = None) -> SyncResult:
    """Receive every handled event Stripe lists since `since` (PaymentError if Stripe fails)."""
    now = services.now()
    start = check_since(since, now)
    params = {"types": sorted(payments.HANDLED), "created": {"gte": int(start.timestamp())}}
    fetched = new = applied = missed = 0
    for event in payments.listed("events", params):
        fetched += 1
        receipt = inbox.receive(event, json.dumps(event), source="api")
        db.session.commit()
        if not receipt.duplicate:
            new += 1
            created = payments.envelope(event).created_at
            if created is not None and created < now - IN_FLIGHT:
                missed += 1
        if receipt.changed and receipt.outcome != "rejected":
            applied += 1
    if missed:
        EVENTS_MISSED.inc(missed)
        log.warning(
            "sync-stripe found %s events the webhook missed: check the endpoint in Stripe's "
            "dashboard (URL, signing secret, events enabled)",
            missed,
        )
    result = SyncResult(fetched, new, applied, missed)
    log.info("sync-stripe since=%s %s", start.isoformat(), result.line())
    return result
