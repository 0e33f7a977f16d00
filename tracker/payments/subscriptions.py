"""Stripe's subscriptions and failed renewals as typed values (SPEC.md, "Monthly supporters").

`state` reads a `customer.subscription.*` object: its campaign (metadata), its monthly
amount (each item's `price.unit_amount` × `quantity`, spread per month by the price's
interval), status, the end of the current period (on the subscription in older API
versions, on its items in newer ones), and how it was cancelled. Each state carries the
key that orders it against the others of the same subscription: the event's `created`,
then created < updated < deleted within one second, then the event id, so any order of
delivery keeps the same newest state.

`failed_renewal` reads `invoice.payment_failed`: which subscription, what was due, when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tracker.domain import money
from tracker.payments.fields import (
    LATEST,
    Reader,
    Rejected,
    campaign_of,
    invoice_metadata,
    invoice_subscription,
)

STATES = {
    "customer.subscription.created": 0,
    "customer.subscription.updated": 1,
    "customer.subscription.deleted": 2,
}
FAILED = "invoice.payment_failed"
HANDLED = frozenset({*STATES, FAILED})

# Charges a year by interval, to spread a price over months (a yearly 120 is 10 a month).
_PER_YEAR = {"day": 365, "week": 52, "month": 12, "year": 1}


@dataclass(frozen=True)
class SubscriptionState:
    """A subscription as one event reports it; `order` places it among the others."""

    subscription_id: str
    customer_id: str | None
    campaign: str | None
    status: str
    monthly_minor: int
    currency: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    cancellation_reason: str | None
    started_at: datetime | None
    order: tuple[datetime, int, str]


@dataclass(frozen=True)
class FailedRenewal:
    """invoice.payment_failed: a renewal that could not be charged, at `failed_at`."""

    invoice_id: str
    subscription_id: str
    campaign: str | None
    amount_minor: int
    currency: str
    failed_at: datetime


def state(read: Reader, kind: str, event_id: str, created: datetime) -> SubscriptionState:
    """The subscription a customer.subscription.* event carries (Rejected if it cannot be)."""
    currency = read.currency("currency")
    monthly = 0
    item_ends: list[datetime] = []
    for item in read.list_of("items"):
        price = item.child("price")
        if price is None:
            raise Rejected("a subscription item without a 'price'")
        monthly += _per_month(price.amount("unit_amount", currency) * item.count("quantity"), price)
        end = _later_instant(item, "current_period_end")  # API versions from 2025-03-31
        if end is not None:
            item_ends.append(end)
    if monthly > money.MAX_MINOR:
        raise Rejected(f"a monthly amount of {monthly} minor units is past 10^12")
    details = read.child("cancellation_details")
    status = read.token("status")
    if status is None:
        raise Rejected("a subscription without a 'status'")
    return SubscriptionState(
        subscription_id=read.required_id("id"),
        customer_id=read.id("customer"),
        campaign=campaign_of(read.metadata("metadata")),
        status=status,
        monthly_minor=monthly,
        currency=currency,
        # Items of one subscription renew together; the earliest is the next renewal.
        current_period_end=_later_instant(read, "current_period_end")
        or (min(item_ends) if item_ends else None),
        cancel_at_period_end=read.flag("cancel_at_period_end"),
        canceled_at=read.optional_instant("canceled_at"),
        cancellation_reason=details.token("reason") if details else None,
        started_at=read.optional_instant("start_date") or read.optional_instant("created"),
        order=(created, STATES[kind], event_id),
    )


def failed_renewal(read: Reader, created: datetime) -> FailedRenewal | None:
    """The failed renewal an invoice.payment_failed event reports; None for a one-off invoice."""
    subscription = invoice_subscription(read)
    if subscription is None:
        return None
    currency = read.currency("currency")
    return FailedRenewal(
        invoice_id=read.required_id("id"),
        subscription_id=subscription,
        campaign=campaign_of(invoice_metadata(read)),
        amount_minor=read.amount("amount_due", currency),
        currency=currency,
        failed_at=created,
    )


def _per_month(amount: int, price: Reader) -> int:
    """A price's amount per month, in whole minor units (rounded down)."""
    recurring = price.child("recurring")
    if recurring is None:  # a one-time item on the subscription: nothing monthly
        return 0
    interval = recurring.token("interval") or "month"
    if interval not in _PER_YEAR:
        raise Rejected(f"'price.recurring.interval' is not one of Stripe's: {interval}")
    every = recurring.count("interval_count") or 1
    return amount * _PER_YEAR[interval] // (12 * every)


def _later_instant(read: Reader, key: str) -> datetime | None:
    """An instant that may lie ahead (a period's end), up to the last datetime we hold."""
    return read.optional_instant(key, until=LATEST)
