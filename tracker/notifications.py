"""Notifications (SPEC.md): written with their cause, sent after commit, exactly once.

Kinds: `milestone_reached` (a month's raised first reaches a milestone above 0, the goal
included), `month_closed` (the rollover closed a month), `review_needed` (a payment or a
subscription was kept for review). `record` writes one into the outbox in the caller's
transaction under a unique key (`INSERT ... ON CONFLICT DO NOTHING`), so concurrent or
repeated Stripe deliveries make one, with a delivery per configured channel.

`send_due` (the scheduler, or `tracker send-notifications` from cron) sends each pending
delivery, one row locked at a time (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two senders
never send one twice), records every attempt, and retries a failure with exponential
backoff (1 minute, doubling, at most an hour) until 24 hours after the notification was
written; then the delivery is failed. The texts are in the campaign's language.

Channels, each optional (tracker.notify_channels does the sending):
Slack-compatible incoming webhook, signed JSON webhook, and email over SMTP.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from tracker import i18n, notify_channels
from tracker.domain import money
from tracker.domain.periods import Period as Month
from tracker.domain.text import Message, message
from tracker.extensions import db
from tracker.models import (
    Campaign,
    Notification,
    NotificationAttempt,
    NotificationDelivery,
    Period,
)

log = logging.getLogger(__name__)

KINDS = ("milestone_reached", "month_closed", "review_needed")
KIND_LABELS = {
    "milestone_reached": message("milestone reached"),
    "month_closed": message("month closed"),
    "review_needed": message("review needed"),
}
STATUS_LABELS = {
    "pending": message("waiting to send"),
    "sent": message("sent"),
    "failed": message("given up"),
}
GIVE_UP_AFTER = timedelta(hours=24)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=1)
REVIEW_REASONS = {
    "unassigned": message("no campaign or an unknown one"),
    "currency": message("a currency other than the campaign's"),
    "livemode": message("the other Stripe mode (test or live)"),
}


# --- writing them, with their cause ------------------------------------------------


def record(
    kind: str, key: str, campaign: Campaign | None, data: dict[str, Any], at: datetime
) -> bool:
    """Write a notification unless its key is written already (True when this call wrote
    it), with a delivery for each configured channel. The caller commits."""
    if campaign is not None and kind not in (campaign.notify_kinds or []):
        return False
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    written = db.session.execute(
        insert(Notification)
        .values(
            public_id=f"ntf_{secrets.token_hex(12)}",
            key=key[:400],
            kind=kind,
            campaign_id=campaign.id if campaign else None,
            data=data,
            created_at=at,
        )
        .on_conflict_do_nothing(index_elements=[Notification.key])
        .returning(Notification.id)
    ).scalar()
    if written is None:
        return False
    for channel in notify_channels.configured(current_app.config):
        db.session.add(
            NotificationDelivery(
                notification_id=written, channel=channel, status="pending", next_attempt_at=at
            )
        )
    db.session.flush()
    log.info("notification written kind=%s key=%s", kind, key)
    return True


def milestones_crossed(period: Period, before: int, after: int, at: datetime) -> None:
    """A month's raised went from `before` to `after`: note each milestone above 0 it
    reached for the first time this month (a refund back under one and a new crossing make
    no second)."""
    if after <= before:
        return
    campaign = db.session.get(Campaign, period.campaign_id)
    if campaign is None:
        return
    month = Month(period.year, period.month).key
    for milestone in period.milestones:
        if milestone > 0 and before < milestone <= after:
            record(
                "milestone_reached",
                f"milestone_reached:{campaign.id}:{month}:{milestone}",
                campaign,
                {
                    "month": month,
                    "milestone": milestone,
                    "raised": after,
                    "goal": period.milestones[-1],
                },
                at,
            )


def month_closed(campaign: Campaign, period: Period, raised: int, at: datetime) -> None:
    month = Month(period.year, period.month).key
    record(
        "month_closed",
        f"month_closed:{campaign.id}:{month}",
        campaign,
        {"month": month, "raised": raised, "goal": period.milestones[-1]},
        at,
    )


def review_needed(
    campaign: Campaign | None,
    reason: str,
    stripe_id: str,
    amount_minor: int,
    currency: str,
    received_at: datetime,
    at: datetime,
    subscription: bool = False,
) -> None:
    """A payment (or a subscription) kept for an admin, named by its Stripe id."""
    zone = campaign.timezone if campaign else "UTC"
    month = Month.containing(received_at, _zone(zone)).key
    record(
        "review_needed",
        f"review_needed:{stripe_id}",
        campaign,
        {
            "month": month,
            "reason": reason,
            "amount": amount_minor,
            "currency": currency.upper(),
            "stripe_id": stripe_id,
            "subscription": subscription,
        },
        at,
    )


def _zone(name: str) -> Any:
    from tracker.domain.periods import parse_timezone

    return parse_timezone(name)


# --- what they say ----------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A notification as each channel sends it."""

    text: str  # Slack's text, the email's body
    subject: str
    document: dict[str, Any]  # the signed webhook's JSON


def render(notification: Notification) -> Rendered:
    """The notification's text in its campaign's language, and its webhook document."""
    campaign = notification.campaign
    locale = campaign.locale if campaign else i18n.DEFAULT
    data = dict(notification.data)
    currency = campaign.currency if campaign else str(data.get("currency", "USD"))
    name = campaign.name if campaign else "tracker"
    month = _month(str(data.get("month", "")))
    label = month.label(locale) if month else str(data.get("month", ""))

    def amount(minor: Any, cur: str = currency) -> dict[str, Any]:
        return {"amount_minor": int(minor), "display": money.format_money(int(minor), cur, locale)}

    said: Message
    body: dict[str, Any] = {"month": data.get("month")}
    if notification.kind == "milestone_reached":
        milestone, raised = amount(data["milestone"]), amount(data["raised"])
        body.update(milestone=milestone, raised=raised)
        goal = data.get("milestone") == data.get("goal")
        values = {
            "campaign": name,
            "milestone": milestone["display"],
            "month": label,
            "raised": raised["display"],
        }
        said = (
            message(
                "%(campaign)s reached its goal of %(milestone)s for %(month)s: %(raised)s raised.",
                **values,
            )
            if goal
            else message(
                "%(campaign)s passed %(milestone)s for %(month)s: %(raised)s raised so far.",
                **values,
            )
        )
    elif notification.kind == "month_closed":
        raised, goal_amount = amount(data["raised"]), amount(data["goal"])
        body.update(raised=raised, goal=goal_amount)
        said = message(
            "%(campaign)s closed %(month)s with %(raised)s of its %(goal)s goal.",
            campaign=name,
            month=label,
            raised=raised["display"],
            goal=goal_amount["display"],
        )
    else:
        paid = amount(data["amount"], str(data.get("currency", currency)))
        body.update(reason=data.get("reason"), amount=paid, stripe_id=data.get("stripe_id"))
        reason = REVIEW_REASONS.get(str(data.get("reason")), message("unknown"))
        held = {"amount": paid["display"], "id": str(data.get("stripe_id")), "reason": reason}
        said = (
            message(
                "A monthly subscription of %(amount)s (%(id)s) was kept for review: %(reason)s.",
                **held,
            )
            if data.get("subscription")
            else message(
                "A payment of %(amount)s (%(id)s) was kept for review: %(reason)s.", **held
            )
        )
    text = i18n.render(said, locale)
    return Rendered(
        text=text,
        subject=f"{name}: {i18n.render(KIND_LABELS[notification.kind], locale)}",
        document={
            "id": notification.public_id,
            "type": notification.kind,
            "created": int(notification.created_at.timestamp()),
            "campaign": campaign.slug if campaign else None,
            "data": body,
        },
    )


def _month(key: str) -> Month | None:
    try:
        year, month = (int(part) for part in key.split("-"))
        return Month(year, month)
    except ValueError:
        return None


# --- sending them -----------------------------------------------------------------


def send_due(now: datetime, limit: int = 500) -> tuple[int, int]:
    """Try each delivery that is due; (sent, failed for good) this run."""
    sent = given_up = 0
    for _ in range(limit):
        delivery = db.session.scalar(
            select(NotificationDelivery)
            .where(
                NotificationDelivery.status == "pending",
                NotificationDelivery.next_attempt_at <= now,
            )
            .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if delivery is None:
            break
        status = attempt(delivery, now)
        db.session.commit()
        sent += status == "sent"
        given_up += status == "failed"
    return sent, given_up


def attempt(delivery: NotificationDelivery, now: datetime) -> str:
    """Send one delivery once, record the attempt, and settle what comes next."""
    notification = delivery.notification
    rendered = render(notification)
    try:
        detail = notify_channels.send(delivery.channel, current_app.config, rendered)
        ok = True
    except notify_channels.ChannelError as exc:
        detail, ok = str(exc), False
    delivery.attempts += 1
    db.session.add(NotificationAttempt(delivery_id=delivery.id, at=now, ok=ok, detail=detail[:500]))
    if ok:
        delivery.status, delivery.sent_at, delivery.last_error = "sent", now, None
        log.info("notification sent id=%s channel=%s", notification.public_id, delivery.channel)
        return "sent"
    delivery.last_error = detail[:500]
    wait = min(FIRST_RETRY * 2 ** (delivery.attempts - 1), LONGEST_WAIT)
    if now + wait > notification.created_at + GIVE_UP_AFTER:
        delivery.status = "failed"
        log.warning(
            "notification given up id=%s channel=%s after %s attempts: %s",
            notification.public_id,
            delivery.channel,
            delivery.attempts,
            detail[:200],
        )
        return "failed"
    delivery.next_attempt_at = now + wait
    log.info(
        "notification not sent id=%s channel=%s attempt=%s: %s",
        notification.public_id,
        delivery.channel,
        delivery.attempts,
        detail[:200],
    )
    return "pending"


def send_again(notification: Notification, now: datetime) -> None:
    """An admin's "send again": every channel it has (or now has) is tried at once."""
    have = {d.channel for d in notification.deliveries}
    for channel in notify_channels.configured(current_app.config):
        if channel not in have:
            db.session.add(
                NotificationDelivery(
                    notification_id=notification.id, channel=channel, next_attempt_at=now
                )
            )
    db.session.flush()
    db.session.refresh(notification)
    for delivery in notification.deliveries:
        delivery.status, delivery.next_attempt_at = "pending", now
        attempt(delivery, now)  # past the 24 hours, a failure here is final


def listing(limit: int = 200) -> list[Notification]:
    """The latest notifications, newest first."""
    return list(
        db.session.scalars(select(Notification).order_by(Notification.id.desc()).limit(limit))
    )
