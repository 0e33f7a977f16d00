"""Database models (typed SQLAlchemy 2). Models never commit: the caller does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and gives back aware datetimes, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


MinorUnits = Annotated[int, mapped_column(BigInteger)]
Instant = Annotated[datetime, mapped_column(UTCDateTime)]
CreatedAt = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow)]


class Campaign(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(20), default="en")
    milestones: Mapped[list[int]] = mapped_column(JSON)
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    preset_amounts: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Adds "57 MONTHLY SUPPORTERS" to the widget.
    show_supporters: Mapped[bool] = mapped_column(default=False)
    # The notification kinds this campaign sends (tracker.notifications.KINDS).
    notify_kinds: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["milestone_reached", "month_closed", "review_needed"]
    )
    # Bumped in the same transaction as any change that a widget shows; other
    # processes poll it (one cheap read a second) to drop cached bodies.
    revision: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[CreatedAt]

    periods: Mapped[list[Period]] = relationship(back_populates="campaign")

    def __repr__(self) -> str:
        return f"<Campaign {self.slug}>"


class Period(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "periods"
    __table_args__ = (
        UniqueConstraint("campaign_id", "year", "month", name="uq_periods_campaign_month"),
        CheckConstraint("raised_minor >= 0", name="raised_not_negative"),
        CheckConstraint("donations >= 0", name="donations_not_negative"),
        CheckConstraint("month BETWEEN 1 AND 12", name="month_valid"),
        CheckConstraint("starts_at < ends_at", name="bounds_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[Instant]
    ends_at: Mapped[Instant]
    milestones: Mapped[list[int]] = mapped_column(JSON)
    raised_minor: Mapped[MinorUnits] = mapped_column(default=0)
    donations: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[bool] = mapped_column(default=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_raised_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[CreatedAt]

    campaign: Mapped[Campaign] = relationship(back_populates="periods")

    @property
    def goal_minor(self) -> int:
        return self.milestones[-1]


class Donation(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "donations"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("refunded_minor >= 0", name="refunded_not_negative"),
        CheckConstraint("disputed_minor >= 0", name="disputed_not_negative"),
        CheckConstraint("source IN ('manual', 'stripe')", name="source_known"),
        Index("ix_donations_period_received", "period_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    amount_minor: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3))
    received_at: Mapped[Instant]
    source: Mapped[str] = mapped_column(String(16))
    # One payment, one row: the PaymentIntent id (one-off), the invoice id
    # (monthly) or a generated key (manual). UNIQUE makes a double count impossible.
    external_key: Mapped[str] = mapped_column(String(255), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    frequency: Mapped[str] = mapped_column(String(16), default="once")
    refunded_minor: Mapped[MinorUnits] = mapped_column(default=0)
    disputed_minor: Mapped[MinorUnits] = mapped_column(default=0)
    donor_name: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    # Where it came from, as the donate page passed it to Checkout (nothing about the donor).
    ref: Mapped[str | None] = mapped_column(String(500))
    utm_source: Mapped[str | None] = mapped_column(String(500))
    utm_medium: Mapped[str | None] = mapped_column(String(500))
    utm_campaign: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[CreatedAt]

    campaign: Mapped[Campaign] = relationship()
    period: Mapped[Period] = relationship()


class StripeEvent(db.Model):  # type: ignore[name-defined,misc]
    """Every Stripe event, stored raw under its id before its effect.

    Pending until applied (`applied_at`) or rejected (`rejected_at` with its `reason`: it can
    never apply, and stays listed for an admin until marked seen).
    """

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    livemode: Mapped[bool]
    # None when the payload's `created` is out of any range a datetime holds.
    created: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[CreatedAt]
    # How it came: "webhook" (signed), "api" (tracker sync-stripe), "reconcile" (an object
    # `tracker reconcile --apply` read from Stripe, wrapped as the event Stripe would send).
    source: Mapped[str] = mapped_column(String(16), default="webhook")
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(String(64))
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReviewPayment(db.Model):  # type: ignore[name-defined,misc]
    """A payment kept for an admin: unassigned, foreign currency, or other mode."""

    __tablename__ = "review_payments"
    __table_args__ = (
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        CheckConstraint("reason IN ('unassigned', 'currency', 'livemode')", name="reason_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_key: Mapped[str] = mapped_column(String(255), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    campaign_slug: Mapped[str | None] = mapped_column(String(255))
    amount_minor: Mapped[MinorUnits]
    currency: Mapped[str] = mapped_column(String(3))
    frequency: Mapped[str] = mapped_column(String(16), default="once")
    received_at: Mapped[Instant]
    livemode: Mapped[bool] = mapped_column(default=False)
    event_id: Mapped[str | None] = mapped_column(String(255))
    donor_name: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    donation_id: Mapped[int | None] = mapped_column(ForeignKey("donations.id"))
    created_at: Mapped[CreatedAt]


class PaymentAdjustment(db.Model):  # type: ignore[name-defined,misc]
    """Refund and dispute state of one payment, kept even before the payment arrives."""

    __tablename__ = "payment_adjustments"
    __table_args__ = (
        CheckConstraint("refunded_minor >= 0", name="refunded_not_negative"),
        CheckConstraint("disputed_minor >= 0", name="disputed_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_intent_id: Mapped[str] = mapped_column(String(255), unique=True)
    charge_id: Mapped[str | None] = mapped_column(String(255))
    # The invoice this PaymentIntent paid (monthly donations are keyed by invoice id; newer
    # API versions name the link only in invoice_payment.paid events).
    invoice_id: Mapped[str | None] = mapped_column(String(255), index=True)
    refunded_minor: Mapped[MinorUnits] = mapped_column(default=0)
    disputed_minor: Mapped[MinorUnits] = mapped_column(default=0)
    dispute_status: Mapped[str | None] = mapped_column(String(32))
    dispute_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[CreatedAt]


class Subscription(db.Model):  # type: ignore[name-defined,misc]
    """A monthly donation as Stripe last reported it (the newest state by `state_*`).

    A supporter when `status` is active or past_due and `review_reason` is None. A row
    whose `status` is None knows only a failed renewal, its subscription not yet seen.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("monthly_minor >= 0", name="monthly_not_negative"),
        CheckConstraint(
            "review_reason IS NULL OR review_reason IN ('unassigned', 'currency', 'livemode')",
            name="review_reason_known",
        ),
        Index("ix_subscriptions_campaign_status", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    campaign_slug: Mapped[str | None] = mapped_column(String(255))  # as the metadata gave it
    customer_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(32))
    monthly_minor: Mapped[MinorUnits] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancellation_reason: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    livemode: Mapped[bool] = mapped_column(default=False)
    review_reason: Mapped[str | None] = mapped_column(String(16))
    # The kept state's place in time: its event's created, type rank, id.
    state_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state_rank: Mapped[int] = mapped_column(Integer, default=0)
    state_event_id: Mapped[str | None] = mapped_column(String(255))
    # The latest renewal that failed (invoice.payment_failed).
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_minor: Mapped[int | None] = mapped_column(BigInteger)
    failed_invoice_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[CreatedAt]

    campaign: Mapped[Campaign | None] = relationship()


class Reconciliation(db.Model):  # type: ignore[name-defined,misc]
    """One run of `tracker reconcile` for a campaign's month, and what differed."""

    __tablename__ = "reconciliations"
    __table_args__ = (Index("ix_reconciliations_campaign_ran", "campaign_id", "ran_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    ran_at: Mapped[Instant]
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    applied: Mapped[bool] = mapped_column(default=False)
    at_stripe: Mapped[int] = mapped_column(Integer, default=0)
    here: Mapped[int] = mapped_column(Integer, default=0)
    mended: Mapped[int] = mapped_column(Integer, default=0)
    # [{"kind": "missing_here" | ..., "key": "pi_...", "here": {...}, "stripe": {...}}]
    differences: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(String(500))

    campaign: Mapped[Campaign] = relationship()


class ReconcileRecord(db.Model):  # type: ignore[name-defined,misc]
    """A payment as Stripe holds it, kept while one reconciliation compares (then deleted):
    the run's memory is these rows, not the process's."""

    __tablename__ = "reconcile_records"
    __table_args__ = (
        Index("ix_reconcile_records_run_key", "run_id", "key"),
        Index("ix_reconcile_records_run_intent", "run_id", "payment_intent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliations.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    frequency: Mapped[str] = mapped_column(String(16))
    campaign_slug: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[MinorUnits]
    refunded_minor: Mapped[MinorUnits] = mapped_column(default=0)
    disputed_minor: Mapped[MinorUnits] = mapped_column(default=0)
    created_at: Mapped[Instant]


class Notification(db.Model):  # type: ignore[name-defined,misc]
    """A message to send (tracker.notifications), written with the change that caused it.

    `key` is unique per cause ("milestone_reached:<campaign id>:2026-11:250000"), so
    concurrent or repeated deliveries of one Stripe event make one row.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)  # "ntf_...", on every try
    key: Mapped[str] = mapped_column(String(400), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[CreatedAt]

    campaign: Mapped[Campaign | None] = relationship()
    deliveries: Mapped[list[NotificationDelivery]] = relationship(
        back_populates="notification", order_by="NotificationDelivery.channel"
    )


class NotificationDelivery(db.Model):  # type: ignore[name-defined,misc]
    """One notification on one channel: pending until sent, or failed after 24 hours."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_delivery_channel"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status_known"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"))
    channel: Mapped[str] = mapped_column(String(16))  # slack | webhook | email
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[Instant]
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))

    notification: Mapped[Notification] = relationship(back_populates="deliveries")
    tries: Mapped[list[NotificationAttempt]] = relationship(
        order_by="NotificationAttempt.id", viewonly=True
    )


class NotificationAttempt(db.Model):  # type: ignore[name-defined,misc]
    """One try at sending a delivery, and what came of it."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notification_deliveries.id"), index=True)
    at: Mapped[Instant]
    ok: Mapped[bool]
    detail: Mapped[str] = mapped_column(String(500))


class Admin(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[CreatedAt]


class AuditEntry(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[CreatedAt]
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
