"""Monthly supporters: subscriptions kept in step with Stripe, and what they add up to.

The rules of SPEC.md ("Monthly supporters"), each written once:

- `apply_state`: a subscription event replaces the kept state only when it is newer (by
  the order key of tracker.payments.subscriptions), so any order of delivery and any
  repeat ends in the same row; one in another currency, of no known campaign, or of the
  other mode is kept for review, never counted;
- `apply_failure`: the latest failed renewal of a subscription is kept, even before the
  subscription itself is seen;
- `monthly`: supporters (active or past_due, not under review), `pledged` (their monthly
  amounts) and `due` (the renewals still expected this month), in one indexed query per
  campaign change (the widget's snapshot is built once per change and kept).

Nothing here touches donations: what was received stays received (tracker.ledger).
The caller (tracker.inbox) holds the subscription's lock and commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, select

from tracker import notifications, services
from tracker.domain.text import visible
from tracker.extensions import db
from tracker.models import Campaign, Subscription
from tracker.payments import FailedRenewal, SubscriptionState

log = logging.getLogger(__name__)

SUPPORTING = ("active", "past_due")


@dataclass(frozen=True)
class Monthly:
    """A campaign's monthly supporters at one instant, in the campaign's minor units."""

    supporters: int
    pledged_minor: int
    due_minor: int


# --- applying Stripe's facts -----------------------------------------------------


def apply_state(state: SubscriptionState, livemode: bool, live: bool) -> str:
    """Keep this state of the subscription unless a newer one is kept already."""
    row = _row(state.subscription_id)
    if row is not None and row.state_at is not None:
        kept = (row.state_at, row.state_rank, row.state_event_id or "")
        if kept >= state.order:
            return "subscription_older_state"
    if row is None:
        row = Subscription(subscription_id=state.subscription_id, currency=state.currency)
        db.session.add(row)
    before, was_held = row.campaign_id, row.review_reason
    campaign = services.get_campaign(state.campaign) if state.campaign else None
    row.campaign_id = campaign.id if campaign else None
    row.campaign_slug = visible(state.campaign)[:255] if state.campaign else None
    row.customer_id = state.customer_id
    row.status = state.status
    row.monthly_minor = state.monthly_minor
    row.currency = state.currency
    row.current_period_end = state.current_period_end
    row.cancel_at_period_end = state.cancel_at_period_end
    row.canceled_at = state.canceled_at
    row.cancellation_reason = state.cancellation_reason
    row.started_at = state.started_at
    row.livemode = livemode
    row.review_reason = _review_reason(campaign, state.currency, livemode, live)
    row.state_at, row.state_rank, row.state_event_id = state.order
    row.updated_at = services.now()
    db.session.flush()
    _touch(before, row.campaign_id)
    if row.review_reason:
        log.info(
            "subscription kept for review reason=%s subscription=%s",
            row.review_reason,
            row.subscription_id,
        )
        if row.review_reason != was_held:
            notifications.review_needed(
                campaign,
                row.review_reason,
                row.subscription_id,
                row.monthly_minor,
                row.currency,
                state.order[0],
                services.now(),
                subscription=True,
            )
        return f"subscription_review_{row.review_reason}"
    return f"subscription_{state.status}"


def apply_failure(failure: FailedRenewal, livemode: bool, live: bool) -> str:
    """Keep the latest failed renewal of a subscription (its row made if not seen yet)."""
    row = _row(failure.subscription_id)
    if row is None:
        campaign = services.get_campaign(failure.campaign) if failure.campaign else None
        row = Subscription(
            subscription_id=failure.subscription_id,
            currency=failure.currency,
            campaign_id=campaign.id if campaign else None,
            campaign_slug=visible(failure.campaign)[:255] if failure.campaign else None,
            livemode=livemode,
            review_reason=_review_reason(campaign, failure.currency, livemode, live),
        )
        db.session.add(row)
    elif row.failed_at is not None and row.failed_at >= failure.failed_at:
        return "renewal_failure_older"
    row.failed_at = failure.failed_at
    row.failed_minor = failure.amount_minor
    row.failed_invoice_id = failure.invoice_id
    row.updated_at = services.now()
    db.session.flush()
    _touch(None, row.campaign_id)
    log.info("renewal failed subscription=%s invoice=%s", row.subscription_id, failure.invoice_id)
    return "renewal_failed"


def _row(subscription_id: str) -> Subscription | None:
    return db.session.scalar(
        select(Subscription).where(Subscription.subscription_id == subscription_id)
    )


def _review_reason(
    campaign: Campaign | None, currency: str, livemode: bool, live: bool
) -> str | None:
    if livemode != live:
        return "livemode"
    if campaign is None:
        return "unassigned"
    if currency.upper() != campaign.currency.upper():
        return "currency"
    return None


def _touch(*campaign_ids: int | None) -> None:
    for campaign_id in {c for c in campaign_ids if c is not None}:
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is not None:
            services.touch(campaign)


# --- what they add up to ---------------------------------------------------------


def _counted(campaign_id: int) -> ColumnElement[bool]:
    return and_(
        Subscription.campaign_id == campaign_id,
        Subscription.status.in_(SUPPORTING),
        Subscription.review_reason.is_(None),
    )


def due_condition(at: datetime, month_end: datetime) -> ColumnElement[bool]:
    """A renewal still expected this month: its period ends after `at`, before the month."""
    return and_(
        Subscription.current_period_end > at,
        Subscription.current_period_end < month_end,
        Subscription.cancel_at_period_end.is_(False),
    )


def monthly(campaign: Campaign, at: datetime, month_end: datetime) -> Monthly:
    """Supporters, pledged and due of a campaign at `at` (one query on an index)."""
    due = func.coalesce(
        func.sum(case((due_condition(at, month_end), Subscription.monthly_minor), else_=0)), 0
    )
    row = db.session.execute(
        select(
            func.count(Subscription.id),
            func.coalesce(func.sum(Subscription.monthly_minor), 0),
            due,
        ).where(_counted(campaign.id))
    ).one()
    return Monthly(supporters=int(row[0]), pledged_minor=int(row[1]), due_minor=int(row[2]))


@dataclass(frozen=True)
class Supporter:
    """One supporter as the admin lists them; `due` when their renewal is still expected."""

    subscription: Subscription
    due: bool


def supporters(campaign: Campaign, at: datetime, month_end: datetime) -> list[Supporter]:
    """The campaign's supporters, largest monthly amount first."""
    rows = db.session.execute(
        select(Subscription, due_condition(at, month_end))
        .where(_counted(campaign.id))
        .order_by(Subscription.monthly_minor.desc(), Subscription.started_at)
    )
    return [Supporter(row[0], bool(row[1])) for row in rows]


def cancelled_between(campaign: Campaign, start: datetime, end: datetime) -> list[Subscription]:
    """Subscriptions of the campaign cancelled in [start, end), newest first."""
    return list(
        db.session.scalars(
            select(Subscription)
            .where(
                Subscription.campaign_id == campaign.id,
                Subscription.review_reason.is_(None),
                Subscription.canceled_at >= start,
                Subscription.canceled_at < end,
            )
            .order_by(Subscription.canceled_at.desc())
        )
    )


def failed_between(campaign: Campaign, start: datetime, end: datetime) -> list[Subscription]:
    """Subscriptions of the campaign whose latest renewal failed in [start, end)."""
    return list(
        db.session.scalars(
            select(Subscription)
            .where(
                Subscription.campaign_id == campaign.id,
                Subscription.failed_at >= start,
                Subscription.failed_at < end,
            )
            .order_by(Subscription.failed_at.desc())
        )
    )


def kept_for_review() -> list[Subscription]:
    """Subscriptions kept for an admin (unassigned, another currency, the other mode)."""
    return list(
        db.session.scalars(
            select(Subscription)
            .where(Subscription.review_reason.is_not(None))
            .order_by(Subscription.updated_at.desc())
            .limit(200)
        )
    )
