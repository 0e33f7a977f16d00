"""Which locks an event takes before the ledger applies it, and taking them.

SQLite has one writer: storing the event takes the database's write lock, and every
event waits for it. On PostgreSQL events about different payments run side by side: an
event holds the ledger's advisory lock shared plus an exclusive advisory lock on each
payment key it may change (`keys`), in sorted order; one that cannot name its keys holds
the ledger exclusively. Why every pair of events that touch the same rows then takes turns
is argued in docs/ledger.md.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text

from tracker.extensions import db
from tracker.payments import (
    Dispute,
    Fact,
    FailedRenewal,
    InvoiceLink,
    Payment,
    Refund,
    SubscriptionState,
)

# pg_advisory_xact_lock key of the whole ledger ("strp").
LEDGER_KEY = 0x73747270


def keys(fact: Fact) -> list[str] | None:
    """The PaymentIntent, invoice and subscription ids a fact may change; None if unknown.

    None makes the event take the whole ledger; an empty list means it changes no payment.
    """
    found: list[str | None]
    if isinstance(fact, Payment):
        if fact.payment_intent_id is None:
            # A checkout counted under its session id, or a newer-API invoice whose
            # PaymentIntent is linked from elsewhere: no key another event would take.
            return None
        found = [fact.payment_intent_id, fact.key]
    elif isinstance(fact, Refund):
        found = [fact.payment_intent_id, fact.invoice_id]
    elif isinstance(fact, Dispute):
        if fact.payment_intent_id is None:
            return None  # found by its charge id, which only the ledger's holder may read
        found = [fact.payment_intent_id]
    elif isinstance(fact, InvoiceLink):
        found = [fact.payment_intent_id, fact.invoice_id]
    elif isinstance(fact, SubscriptionState | FailedRenewal):
        found = [fact.subscription_id]  # changes only its subscription's row
    else:  # Ignored: changes no payment
        return []
    return sorted({key for key in found if key})


def hashes(found: list[str] | None) -> list[int] | None:
    """The advisory lock ids of payment keys, sorted (the order every event takes them)."""
    return None if found is None else sorted({_hash(key) for key in found})


def _hash(key: str) -> int:
    value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), signed=True)
    return value ^ 1 if value == LEDGER_KEY else value


def take(fact: Fact) -> None:
    """Take the fact's locks until the transaction ends (after the event row's own lock)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return  # SQLite: storing the event took the write lock
    ids = hashes(keys(fact))
    if ids is None:
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LEDGER_KEY})
        return
    calls = ["pg_advisory_xact_lock_shared(:k)"] + [
        f"pg_advisory_xact_lock(:k{n})" for n in range(len(ids))
    ]
    params = {"k": LEDGER_KEY, **{f"k{n}": value for n, value in enumerate(ids)}}
    # One statement: target-list functions run left to right, so the order holds.
    db.session.execute(text("SELECT " + ", ".join(calls)), params)


def write_lock() -> None:
    """SQLite: take the database's write lock now, as the first statement of a transaction.

    An UPDATE of nothing takes it, waiting up to busy_timeout, and makes pysqlite open the
    transaction here (else a SAVEPOINT would open it, and its RELEASE commit on its own).
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("UPDATE stripe_events SET type = type WHERE 1 = 0"))
