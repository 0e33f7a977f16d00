"""Reconcile a campaign's month with Stripe's own records (SPEC.md, "Missed events").

A run pages through Stripe's succeeded PaymentIntents of the month (campaign timezone;
each with its latest charge, so its refunded amount) and paid invoices (with their
payments, so their PaymentIntent), writing each as a row of `reconcile_records`: the run
holds one page in memory, and the rows are what it compares. Then two indexed queries
find the differences:

- `missing_here`: a payment of the campaign at Stripe that the ledger has not counted
  (`review`: one it keeps for an admin instead; `month`: one it counted in another month);
- `missing_at_stripe`: a Stripe donation of the month that Stripe does not list;
- `amount`, `refunded`, `disputed`: both have it, and a figure differs.

`apply` records what is missing here (the payment, its refund, its lost dispute) by
reading each object from Stripe and giving it to tracker.inbox as the event Stripe would
have sent (source "reconcile"), so it is counted once, by the same rules; it never deletes.
The run row keeps when, how many on each side, and the differences left; the scratch rows
are deleted. (Just over 400 lines: fetching, comparing and mending all read the scratch
rows' shape, which is clearest kept in one file.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, insert, or_, select, update

from tracker import inbox, payments, services
from tracker.domain import money
from tracker.domain.periods import Period as Month
from tracker.domain.text import Refusal, message
from tracker.extensions import db
from tracker.models import (
    Campaign,
    Donation,
    Period,
    ReconcileRecord,
    Reconciliation,
    ReviewPayment,
)
from tracker.observability import RECONCILE_RUNS
from tracker.payments import records

log = logging.getLogger(__name__)

BATCH = 200
MENDED_BY_APPLY = ("missing_here", "refunded", "disputed")


class ReconcileError(Refusal):
    """A month that cannot be reconciled (one that has not begun)."""


@dataclass(frozen=True)
class Difference:
    kind: str
    key: str
    here: dict[str, int] | None
    stripe: dict[str, int] | None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "here": self.here, "stripe": self.stripe}


def reconcile(campaign: Campaign, month: Month, *, apply: bool = False) -> Reconciliation:
    """Compare (and with `apply`, mend) one month; the stored run (PaymentError if Stripe
    fails, after retries; the run is then kept with its error)."""
    now = services.now()
    zone = services.campaign_zone(campaign)
    start, end = month.bounds(zone)
    if start > now:
        raise ReconcileError(message("%(month)s has not begun yet", month=month.key))
    run = Reconciliation(
        campaign_id=campaign.id, year=month.year, month=month.month, ran_at=now, applied=apply
    )
    db.session.add(run)
    db.session.commit()
    try:
        _fetch(run, start, end, now)
        found = list(_differences(run, campaign, start, end))
        if apply and found:
            run.mended = _mend(found, now)
            found = list(_differences(run, campaign, start, end))
    except payments.PaymentError as exc:
        db.session.rollback()
        run.error = str(exc)[:500]
        run.finished_at = services.now()
        db.session.execute(delete(ReconcileRecord).where(ReconcileRecord.run_id == run.id))
        db.session.commit()
        RECONCILE_RUNS.labels("failed").inc()
        raise
    run.at_stripe = _count_at_stripe(run, campaign)
    run.here = _count_here(campaign, start, end)
    run.differences = [d.as_json() for d in found]
    run.finished_at = services.now()
    db.session.execute(delete(ReconcileRecord).where(ReconcileRecord.run_id == run.id))
    db.session.commit()
    RECONCILE_RUNS.labels("differences" if found else "clean").inc()
    log.info(
        "reconciled campaign_id=%s month=%s at_stripe=%s here=%s differences=%s mended=%s",
        campaign.id,
        month.key,
        run.at_stripe,
        run.here,
        len(found),
        run.mended,
    )
    return run


WHAT = {
    "missing_here": "missing here",
    "missing_at_stripe": "missing at Stripe",
    "review": "kept for review here (assign it on /admin/review)",
    "month": "counted in another month here",
    "amount": "amount differs",
    "refunded": "refunded amount differs",
    "disputed": "disputed amount differs",
}


def describe(difference: dict[str, Any], campaign: Campaign) -> str:
    """One difference as a line of text (the command line's; the admin page has its own)."""

    def shown(side: dict[str, int] | None) -> str:
        if side is None:
            return "none"
        fmt = [money.format_major(side["amount"], campaign.currency)]
        if side["refunded"]:
            fmt.append(f"refunded {money.format_major(side['refunded'], campaign.currency)}")
        if side["disputed"]:
            fmt.append(f"disputed {money.format_major(side['disputed'], campaign.currency)}")
        return " ".join(fmt)

    kind = str(difference["kind"])
    return (
        f"{WHAT.get(kind, kind)}: {difference['key']} "
        f"(Stripe {shown(difference['stripe'])}; here {shown(difference['here'])})"
    )


def due_runs(now: datetime) -> list[tuple[Campaign, Month]]:
    """What the scheduler reconciles: each campaign's previous month once after it closed,
    and its current month once a day."""
    from tracker import admin_services

    due: list[tuple[Campaign, Month]] = []
    for campaign in admin_services.campaigns():
        current = Month.containing(now, services.campaign_zone(campaign))
        previous = current.previous()
        closed = services.find_period(campaign, previous)
        last = last_run_of(campaign, previous)
        closed_at = closed.closed_at if closed is not None and closed.closed else None
        if closed_at is not None and (last is None or last.ran_at < closed_at):
            due.append((campaign, previous))
        last = last_run_of(campaign, current)
        if last is None or last.ran_at < now - timedelta(days=1):
            due.append((campaign, current))
    return due


def run_due(now: datetime) -> int:
    """Reconcile what is due (see due_runs); how many runs found differences. A campaign
    whose run fails is logged and the others still run."""
    differing = 0
    for campaign, month in due_runs(now):
        try:
            run = reconcile(campaign, month)
        except payments.PaymentError:
            log.warning("reconcile failed campaign_id=%s month=%s", campaign.id, month.key)
            continue
        differing += bool(run.differences)
    return differing


def history(campaign: Campaign, limit: int) -> list[Reconciliation]:
    """The campaign's last runs, newest first."""
    return list(
        db.session.scalars(
            select(Reconciliation)
            .where(Reconciliation.campaign_id == campaign.id)
            .order_by(Reconciliation.ran_at.desc(), Reconciliation.id.desc())
            .limit(limit)
        )
    )


def latest(campaign: Campaign) -> Reconciliation | None:
    """The campaign's last finished run."""
    return db.session.scalar(
        select(Reconciliation)
        .where(Reconciliation.campaign_id == campaign.id, Reconciliation.finished_at.is_not(None))
        .order_by(Reconciliation.ran_at.desc(), Reconciliation.id.desc())
        .limit(1)
    )


def last_run_of(campaign: Campaign, month: Month) -> Reconciliation | None:
    """The campaign's last finished run for this month."""
    return db.session.scalar(
        select(Reconciliation)
        .where(
            Reconciliation.campaign_id == campaign.id,
            Reconciliation.year == month.year,
            Reconciliation.month == month.month,
            Reconciliation.finished_at.is_not(None),
            Reconciliation.error.is_(None),
        )
        .order_by(Reconciliation.ran_at.desc(), Reconciliation.id.desc())
        .limit(1)
    )


# --- Stripe's side -----------------------------------------------------------------


def _fetch(run: Reconciliation, start: datetime, end: datetime, now: datetime) -> None:
    created = {"gte": int(start.timestamp()), "lt": int(end.timestamp())}
    rows: list[dict[str, Any]] = []
    intents = payments.listed(
        "payment_intents", {"created": created, "expand": ["data.latest_charge"]}
    )
    for obj in intents:
        record = records.intent_record(obj, now)
        if record is None:
            continue
        lost = _lost(record, now) if record.disputed else 0
        rows.append(_row(run, record, lost))
        if len(rows) >= BATCH:
            _write(rows)
    invoices = payments.listed(
        "invoices", {"status": "paid", "created": created, "expand": ["data.payments"]}
    )
    for obj in invoices:
        record = records.invoice_record(obj, now)
        if record is not None:
            rows.append(_row(run, record, 0))
        if len(rows) >= BATCH:
            _write(rows)
    _write(rows)
    # A monthly payment's refunds and disputes are its PaymentIntent's.
    for column in ("refunded_minor", "disputed_minor"):
        paid_by = (
            select(getattr(_Intent, column))
            .where(_Intent.run_id == run.id, _Intent.key == ReconcileRecord.payment_intent_id)
            .scalar_subquery()
        )
        db.session.execute(
            update(ReconcileRecord)
            .where(
                ReconcileRecord.run_id == run.id,
                ReconcileRecord.frequency == "monthly",
                ReconcileRecord.payment_intent_id.is_not(None),
                exists().where(
                    _Intent.run_id == run.id, _Intent.key == ReconcileRecord.payment_intent_id
                ),
            )
            .values({column: paid_by})
            .execution_options(synchronize_session=False)
        )
    db.session.commit()


_Intent = db.aliased(ReconcileRecord)


def _lost(record: records.StripeRecord, now: datetime) -> int:
    if record.charge_id is None:
        return 0
    return sum(
        records.lost_amount(obj, now)
        for obj in payments.listed("disputes", {"charge": record.charge_id})
    )


def _row(run: Reconciliation, record: records.StripeRecord, lost: int) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "key": record.key,
        "payment_intent_id": record.payment_intent_id,
        "frequency": record.frequency,
        "campaign_slug": record.campaign,
        "currency": record.currency,
        "amount_minor": record.amount_minor,
        "refunded_minor": record.refunded_minor,
        "disputed_minor": lost,
        "created_at": record.created_at,
    }


def _write(rows: list[dict[str, Any]]) -> None:
    if rows:
        db.session.execute(insert(ReconcileRecord), rows)
        rows.clear()


# --- the comparison ----------------------------------------------------------------


def _ours(run: Reconciliation, campaign: Campaign) -> Any:
    return (
        ReconcileRecord.run_id == run.id,
        ReconcileRecord.campaign_slug == campaign.slug,
        ReconcileRecord.frequency.in_(("once", "monthly")),
    )


def _differences(
    run: Reconciliation, campaign: Campaign, start: datetime, end: datetime
) -> Iterator[Difference]:
    counted = or_(
        Donation.external_key == ReconcileRecord.key,
        Donation.payment_intent_id == ReconcileRecord.key,
    )
    held = exists().where(
        ReviewPayment.external_key == ReconcileRecord.key, ReviewPayment.resolved_at.is_(None)
    )
    query = (
        select(ReconcileRecord, Donation, Period, held)
        .outerjoin(Donation, counted)
        .outerjoin(Period, Period.id == Donation.period_id)
        .where(*_ours(run, campaign))
        .order_by(ReconcileRecord.created_at, ReconcileRecord.key)
        .execution_options(yield_per=BATCH)
    )
    for record, donation, period, kept in db.session.execute(query):
        stripe = _figures(record.amount_minor, record.refunded_minor, record.disputed_minor)
        if donation is None:
            yield Difference("review" if kept else "missing_here", record.key, None, stripe)
            continue
        here = _figures(donation.amount_minor, donation.refunded_minor, donation.disputed_minor)
        if period is not None and not (period.starts_at <= record.created_at < period.ends_at):
            yield Difference("month", record.key, here, stripe)
        for kind in ("amount", "refunded", "disputed"):
            if here[kind] != stripe[kind]:
                yield Difference(kind, record.key, here, stripe)
    listed = exists().where(
        ReconcileRecord.run_id == run.id,
        or_(
            ReconcileRecord.key == Donation.external_key,
            ReconcileRecord.key == Donation.payment_intent_id,
        ),
    )
    gone = (
        select(Donation)
        .join(Period, Period.id == Donation.period_id)
        .where(
            Donation.campaign_id == campaign.id,
            Donation.source == "stripe",
            Period.starts_at == start,
            ~listed,
        )
        .order_by(Donation.received_at, Donation.id)
        .execution_options(yield_per=BATCH)
    )
    for donation in db.session.scalars(gone):
        here = _figures(donation.amount_minor, donation.refunded_minor, donation.disputed_minor)
        yield Difference("missing_at_stripe", donation.external_key, here, None)


def _figures(amount: int, refunded: int, disputed: int) -> dict[str, int]:
    return {"amount": amount, "refunded": refunded, "disputed": disputed}


def _count_at_stripe(run: Reconciliation, campaign: Campaign) -> int:
    return int(
        db.session.scalar(select(db.func.count(ReconcileRecord.id)).where(*_ours(run, campaign)))
        or 0
    )


def _count_here(campaign: Campaign, start: datetime, end: datetime) -> int:
    return int(
        db.session.scalar(
            select(db.func.count(Donation.id))
            .join(Period, Period.id == Donation.period_id)
            .where(
                Donation.campaign_id == campaign.id,
                Donation.source == "stripe",
                Period.starts_at == start,
            )
        )
        or 0
    )


# --- mending -----------------------------------------------------------------------


def _mend(found: list[Difference], now: datetime) -> int:
    """Record, through the ledger, what the differences say is missing here; how many
    events changed something."""
    mended = 0
    live = payments.live_mode()
    for difference in found:
        if difference.kind not in MENDED_BY_APPLY:
            continue
        for kind, obj in _objects(difference.key, difference.kind):
            event = records.as_event(kind, obj, live)
            receipt = inbox.receive(event, json.dumps(event), source="reconcile")
            db.session.commit()
            mended += int(receipt.changed and receipt.outcome != "rejected")
    return mended


def _objects(key: str, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The events that say what Stripe holds of one payment and this difference lacks: the
    payment itself when it is missing here, then its refund and its disputes."""
    payment = kind == "missing_here"
    intent_id: str | None = key
    if key.startswith("in_"):
        invoice = payments.retrieved("invoices", key, ["payments"])
        if invoice is None:
            return
        intent_id = records.invoice_intent_id(invoice)
        if payment:
            yield "invoice.paid", invoice
            if intent_id is not None:
                yield "invoice_payment.paid", records.invoice_link(invoice, intent_id)
    if intent_id is None:
        return
    intent = payments.retrieved("payment_intents", intent_id, ["latest_charge"])
    if intent is None:
        return
    if payment and not key.startswith("in_"):
        yield "payment_intent.succeeded", intent
    charge = records.charge_of(intent)
    if charge is None:
        return
    if records.refunded(charge) and kind in ("missing_here", "refunded"):
        yield "charge.refunded", charge
    disputed = records.disputed_charge(charge)
    if disputed is not None and kind in ("missing_here", "disputed"):
        for dispute in payments.listed("disputes", {"charge": disputed}):
            yield "charge.dispute.closed", dispute
