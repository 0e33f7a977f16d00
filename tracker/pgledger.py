"""PostgreSQL: the ledger's common case in two statements (see tracker.ledger).

Almost every delivery is a new event about a new payment. On PostgreSQL it runs as:

1. `store_and_lock`: INSERT the raw event (ON CONFLICT DO NOTHING on its id), read what
   was there before, and, only when this delivery inserted it, take the event's locks
   (the ledger lock shared plus each payment key, in sorted order; or the ledger lock
   exclusive): the same locks, in the same order after the event row, as
   `ledger.lock_payments`.
2. `count_new`: in one statement after those locks (so its snapshot sees every
   committed change to the payment), insert the donation into the period of its month,
   add it to the period's running total, bump the campaign's revision and mark the event
   applied -- but only if the payment is plainly new: the campaign exists with this
   currency and the timezone the month was computed in, the month's period exists, and
   no donation, review row or refund/dispute row has this payment's key. Otherwise it
   changes nothing and returns None, and the ledger applies the event the ordinary way,
   under the locks already held.

When this process knows the campaign's timezone (from an earlier event), both statements
go in one round trip (`store_and_count`, psycopg's pipeline mode) and commit at once; an
event found not plain is then stored, unapplied, and the ledger applies it the ordinary
way in a new transaction (`ledger.apply_pending`, which takes the locks again).

Plain SQL sent to the driver: no statement to build or compile per request; psycopg
prepares each statement once per connection.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy.engine import Connection

_STORE = """
WITH inserted AS (
    INSERT INTO stripe_events (id, type, livemode, created, payload, received_at)
    VALUES (%(id)s, %(type)s, %(livemode)s, %(created)s, %(payload)s, %(received_at)s)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
)
SELECT new.id,
       (SELECT applied_at FROM stripe_events WHERE id = %(id)s),
       (SELECT outcome FROM stripe_events WHERE id = %(id)s),
       (SELECT timezone FROM campaigns WHERE slug = %(slug)s),
       set_config('tracker.stored_here', CASE WHEN new.id IS NULL THEN 'no' ELSE 'yes' END,
                  true){locks}
FROM (SELECT (SELECT id FROM inserted) AS id) AS new
"""
# Target-list expressions run left to right, after FROM (the INSERT): row lock, then these.
_LOCK = ",\n       CASE WHEN new.id IS NOT NULL THEN {call}::text END"

_COUNT = """
WITH target AS (
    SELECT c.id AS campaign_id, p.id AS period_id
    FROM campaigns AS c JOIN periods AS p ON p.campaign_id = c.id
    WHERE current_setting('tracker.stored_here', true) = 'yes'  -- and so holds its locks
      AND c.slug = %(slug)s AND upper(c.currency) = %(currency)s AND c.timezone = %(timezone)s
      AND p.year = %(year)s AND p.month = %(month)s
      AND NOT EXISTS (SELECT 1 FROM donations WHERE external_key = %(key)s)
      AND NOT EXISTS (SELECT 1 FROM review_payments WHERE external_key = %(key)s)
      AND NOT EXISTS (
          SELECT 1 FROM payment_adjustments WHERE payment_intent_id = %(intent)s)
), donation AS (
    INSERT INTO donations (campaign_id, period_id, amount_minor, currency, received_at,
                           source, external_key, payment_intent_id, frequency,
                           refunded_minor, disputed_minor, created_at)
    SELECT campaign_id, period_id, %(amount)s, %(currency)s, %(received_at)s,
           'stripe', %(key)s, %(intent)s, %(frequency)s, 0, 0, %(now)s
    FROM target
    ON CONFLICT (external_key) DO NOTHING
    RETURNING id, campaign_id, period_id
), period AS (
    UPDATE periods SET raised_minor = raised_minor + %(amount)s, donations = donations + 1
    WHERE id = (SELECT period_id FROM donation)
    RETURNING campaign_id
), campaign AS (
    -- Reads `period`, so it runs after it: the period row, then the campaign row, the
    -- order every writer takes them in (services.record_donation, adjust_donation).
    UPDATE campaigns SET revision = revision + 1 WHERE id = (SELECT campaign_id FROM period)
    RETURNING id
), event AS (
    UPDATE stripe_events SET applied_at = %(now)s, outcome = 'counted'
    WHERE id = %(event_id)s AND EXISTS (SELECT 1 FROM campaign)
)
SELECT id, campaign_id FROM donation
"""


class StatementFailed(Exception):
    """The one-shot statement failed; its transaction changed nothing."""


@dataclass(frozen=True)
class Stored:
    """The event row as this delivery found it."""

    inserted: bool  # True: this delivery stored it and holds its locks
    applied_at: datetime | None  # before this statement (a repeat's)
    outcome: str | None
    timezone: str | None  # of the campaign the payload names, if any


@dataclass(frozen=True)
class NewPayment:
    """What `count_new` writes: a payment in its campaign's month (computed by the caller)."""

    campaign_slug: str
    timezone: str  # the campaign's, which the month was computed in
    year: int
    month: int
    key: str
    intent: str | None
    amount_minor: int
    currency: str
    received_at: datetime
    frequency: str

    def params(self, event_id: str, now: datetime) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "slug": self.campaign_slug,
            "timezone": self.timezone,
            "year": self.year,
            "month": self.month,
            "key": self.key,
            "intent": self.intent,
            "amount": self.amount_minor,
            "currency": self.currency,
            "received_at": self.received_at,
            "frequency": self.frequency,
            "now": now,
        }


def _lock_calls(key_hashes: list[int] | None) -> list[str]:
    """The advisory lock calls of an event, in the order every event takes them: the
    ledger lock shared, then each payment key (sorted); None: the ledger exclusive."""
    if key_hashes is None:
        return ["pg_advisory_xact_lock(%(lock)s)"]
    calls = ["pg_advisory_xact_lock_shared(%(lock)s)"]
    return calls + [f"pg_advisory_xact_lock(%(k{n})s)" for n in range(len(key_hashes))]


def lock(conn: Connection, lock_key: int, key_hashes: list[int] | None) -> None:
    """Take an event's locks (`_lock_calls`) in the current transaction."""
    params = _store_params({}, lock_key, key_hashes, None)
    # Target-list functions run left to right.
    conn.exec_driver_sql("SELECT " + ", ".join(_lock_calls(key_hashes)), params)


def _store_sql(key_hashes: list[int] | None) -> str:
    calls = _lock_calls(key_hashes)
    return _STORE.format(locks="".join(_LOCK.format(call=call) for call in calls))


def _store_params(
    row: dict[str, Any], lock_key: int, key_hashes: list[int] | None, slug: str | None
) -> dict[str, Any]:
    params = {**row, "slug": slug, "lock": lock_key}
    params.update({f"k{n}": value for n, value in enumerate(key_hashes or [])})
    return params


def _stored(found: Any) -> Stored:
    return Stored(found[0] is not None, found[1], found[2], found[3])


def store_and_lock(
    conn: Connection,
    row: dict[str, Any],
    lock_key: int,
    key_hashes: list[int] | None,
    campaign_slug: str | None,
) -> Stored:
    """Store the event unless stored; if stored here, take its locks (None: exclusive)."""
    params = _store_params(row, lock_key, key_hashes, campaign_slug)
    return _stored(conn.exec_driver_sql(_store_sql(key_hashes), params).one())


def count_new(
    conn: Connection, payment: NewPayment, event_id: str, now: datetime
) -> tuple[int, int] | None:
    """Count a plainly new payment: (donation id, campaign id), or None if not plain.

    Call it after `store_and_lock` stored the event in this transaction.
    """
    found = conn.exec_driver_sql(_COUNT, payment.params(event_id, now)).first()
    return None if found is None else (int(found[0]), int(found[1]))


def store_and_count(
    raw: psycopg.Connection[Any],
    row: dict[str, Any],
    lock_key: int,
    key_hashes: list[int] | None,
    payment: NewPayment,
    now: datetime,
) -> tuple[Stored, tuple[int, int] | None]:
    """`store_and_lock` then `count_new` in one transaction and one round trip, committed.

    psycopg's pipeline mode sends BEGIN, both statements (prepared once per connection)
    and COMMIT together; PostgreSQL runs each statement with its own snapshot, so the
    count sees what was committed before the locks were granted. Raises StatementFailed
    when it fails (the transaction then changed nothing). `raw` is an idle connection
    and is left idle.
    """
    store = _store_params(row, lock_key, key_hashes, payment.campaign_slug)
    try:
        with raw.pipeline(), raw.cursor() as first, raw.cursor() as second:
            first.execute(_store_sql(key_hashes), store, prepare=True)
            second.execute(_COUNT, payment.params(row["id"], now), prepare=True)
            raw.commit()
            stored = _stored(first.fetchone())
            found = second.fetchone()
    except psycopg.Error as exc:
        with contextlib.suppress(psycopg.Error):  # a broken connection: the pool drops it
            raw.rollback()
        raise StatementFailed(str(exc)) from exc
    return stored, None if found is None else (int(found[0]), int(found[1]))
