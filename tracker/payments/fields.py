"""Reading the fields of a Stripe payload strictly: what Stripe never sends is Rejected.

Used by tracker.payments.events; amounts come out in our minor units, times as aware UTC
datetimes, text only when it is valid Unicode within Stripe's lengths.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from tracker.domain import money
from tracker.domain.text import visible
from tracker.payments import units

MAX_METADATA = 500  # Stripe's limit for one metadata value
# Stripe's clock and ours may differ a little; an object dated a day ahead is not Stripe's.
FUTURE_SLACK = timedelta(days=1)
_ID_RE = re.compile(r"[A-Za-z0-9_]{1,255}")
_TOKEN_RE = re.compile(r"[a-z0-9_]{1,32}")
_CURRENCY_RE = re.compile(r"[A-Za-z]{3}")
_SURROGATE = re.compile("[\ud800-\udfff]")
LATEST = datetime(9999, 12, 1, tzinfo=UTC)  # a month that still has a next one
ATTRIBUTION_KEYS = ("ref", "utm_source", "utm_medium", "utm_campaign")
METADATA_KEYS = ("campaign", *ATTRIBUTION_KEYS)


class Rejected(ValueError):
    """A signed event that can never apply; the message says why (kept, answered 200)."""


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def unix(value: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def in_range(at: datetime, now: datetime, until: datetime | None = None) -> bool:
    """From 1970 to a day past now (or to `until`, for what may lie ahead)."""
    return at.year >= 1970 and at <= min(until or now + FUTURE_SLACK, LATEST)


def shown(value: Any) -> str:
    return visible(repr(value))[:40]


class Reader:
    """Reads the fields of one object of a payload, refusing shapes Stripe never sends."""

    def __init__(self, obj: dict[str, Any], now: datetime, where: str = "") -> None:
        self.obj = obj
        self.now = now
        self.where = where

    def _name(self, key: str) -> str:
        return f"'{self.where}{key}'"

    def child(self, key: str) -> Reader | None:
        value = self.obj.get(key)
        if value is None or isinstance(value, str):  # absent, or not expanded
            return None
        if not isinstance(value, dict):
            raise Rejected(f"{self._name(key)} is not an object")
        return Reader(value, self.now, f"{self.where}{key}.")

    def list_of(self, key: str) -> list[Reader]:
        value = self.obj.get(key)
        if value is None:
            return []
        if isinstance(value, dict):  # a Stripe list object
            value = value.get("data")
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise Rejected(f"{self._name(key)} is not a list of objects")
        return [Reader(v, self.now, f"{self.where}{key}[].") for v in value]

    def text(self, key: str) -> str | None:
        value = self.obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise Rejected(f"{self._name(key)} is not text")
        if _SURROGATE.search(value):
            raise Rejected(f"{self._name(key)} is not valid Unicode")
        if len(value) > MAX_METADATA:
            raise Rejected(f"{self._name(key)} is longer than {MAX_METADATA} characters")
        return value

    def token(self, key: str) -> str | None:
        """An enumerated value, like a status ("paid", "lost")."""
        value = self.text(key)
        if value is not None and not _TOKEN_RE.fullmatch(value):
            raise Rejected(f"{self._name(key)} is not one of Stripe's values: {shown(value)}")
        return value

    def flag(self, key: str) -> bool:
        value = self.obj.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise Rejected(f"{self._name(key)} is not true or false")
        return value

    def id(self, key: str) -> str | None:
        """An object's id, whether the payload holds the id or the expanded object."""
        value = self.obj.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not _ID_RE.fullmatch(value):
            raise Rejected(f"{self._name(key)} is not a Stripe id: {shown(value)}")
        return value

    def required_id(self, key: str) -> str:
        found = self.id(key)
        if found is None:
            raise Rejected(f"{self._name(key)} is missing")
        return found

    def currency(self, key: str) -> str:
        value = self.text(key)
        if value is None or not _CURRENCY_RE.fullmatch(value):
            raise Rejected(f"{self._name(key)} is not a currency code: {shown(value)}")
        return value.upper()

    def count(self, key: str) -> int:
        value = self.obj.get(key, 1)
        if value is None:
            return 1
        if not is_int(value) or not 0 <= value <= money.MAX_MINOR:
            raise Rejected(f"{self._name(key)} is not a count: {shown(value)}")
        return int(value)

    def amount(self, key: str, currency: str) -> int:
        """A Stripe amount in our minor units (0 when absent)."""
        value = self.obj.get(key)
        if value is None:
            return 0
        if not is_int(value) or value < 0:
            raise Rejected(f"{self._name(key)} is not an amount: {shown(value)}")
        try:
            minor = units.from_stripe(value, currency)
        except money.AmountError as exc:
            raise Rejected(f"{self._name(key)}: {exc}") from None
        if minor > money.MAX_MINOR:
            raise Rejected(f"{self._name(key)} of {value} is past 10^12 minor units")
        return minor

    def optional_instant(self, key: str, until: datetime | None = None) -> datetime | None:
        value = self.obj.get(key)
        if value is None:
            return None
        at = unix(value) if is_int(value) else None
        if at is None or not in_range(at, self.now, until):
            raise Rejected(f"{self._name(key)} is out of range: {shown(value)}")
        return at

    def instant(self, key: str) -> datetime:
        found = self.optional_instant(key)
        if found is None:
            raise Rejected(f"{self._name(key)} is missing")
        return found

    def metadata(self, key: str) -> dict[str, str]:
        """The metadata values tracker reads (campaign, ref, utm_...), the others left alone."""
        value = self.obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise Rejected(f"{self._name(key)} is not an object")
        reader = Reader(value, self.now, f"{self.where}{key}.")
        found = {name: reader.text(name) for name in METADATA_KEYS}
        return {name: text for name, text in found.items() if text}


# --- where the campaign is -------------------------------------------------------


def campaign_of(metadata: dict[str, str]) -> str | None:
    """The campaign slug a payload's metadata names, if any."""
    value = metadata.get("campaign", "").strip()
    return value or None


def attribution(metadata: dict[str, str]) -> dict[str, str]:
    """Where the donation came from (ref, utm_...), as the donate page sent it."""
    return {key: metadata[key] for key in ATTRIBUTION_KEYS if metadata.get(key)}


def invoice_metadata(read: Reader) -> dict[str, str]:
    """The subscription's metadata, wherever this API version puts it, else the invoice's."""
    parent = read.child("parent")
    details = parent.child("subscription_details") if parent else None
    for candidate in (details, read.child("subscription_details")):
        if candidate is not None:
            metadata = candidate.metadata("metadata")
            if campaign_of(metadata):
                return metadata
    return read.metadata("metadata")


def invoice_subscription(read: Reader) -> str | None:
    """The subscription an invoice bills, wherever this API version names it."""
    parent = read.child("parent")
    details = parent.child("subscription_details") if parent else None
    found = details.id("subscription") if details else None
    return found or read.id("subscription")  # API versions before 2025-03-31
