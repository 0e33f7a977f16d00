"""Admin use cases: accounts, audit log, donations by month, review queue, CSV, chart.

Like tracker.services, these add and flush; the caller (view or command) commits once.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from tracker import ledger, payments, services
from tracker.domain import money
from tracker.domain.periods import Period as Month
from tracker.domain.periods import periods_between
from tracker.extensions import db
from tracker.models import (
    Admin,
    AuditEntry,
    Campaign,
    Donation,
    Period,
    ReviewPayment,
)
from tracker.throttle import LOGIN_FAILURES, throttle

log = logging.getLogger(__name__)

EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
PAGE_SIZE = 50

_STRONG = PasswordHasher()  # argon2id, 64 MiB, 3 passes (RFC 9106's second choice)
_CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
_dummy_hashes: dict[int, str] = {}


def hasher() -> PasswordHasher:
    """The password hasher; tests may ask for a cheap one (never outside TESTING)."""
    if current_app.testing and current_app.config.get("TRACKER_CHEAP_PASSWORD_HASH"):
        return _CHEAP
    return _STRONG


def _dummy_hash(chosen: PasswordHasher) -> str:
    # Verified when the email is unknown, so a wrong email costs as much as a wrong password.
    if id(chosen) not in _dummy_hashes:
        _dummy_hashes[id(chosen)] = chosen.hash("not the password of anyone")
    return _dummy_hashes[id(chosen)]


class AdminError(ValueError):
    """An admin action was refused; the message says why."""


# --- accounts ------------------------------------------------------------------


def normalize_email(text: str) -> str:
    """Lower-cased, trimmed email; AdminError when it does not look like one."""
    email = (text or "").strip().lower()
    if not EMAIL_RE.fullmatch(email):
        raise AdminError(f"invalid email {email[:80]!r}")
    return email


def check_password(password: str) -> str:
    """A new password: at least 12 characters (and not absurdly long)."""
    if len(password) < MIN_PASSWORD:
        raise AdminError(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AdminError(f"password must be at most {MAX_PASSWORD} characters")
    return password


def set_admin_password(email: str, password: str, actor: str = "cli") -> tuple[Admin, bool]:
    """Create the admin, or reset its password; returns (admin, created)."""
    email = normalize_email(email)
    digest = hasher().hash(check_password(password))
    admin = find_admin(email)
    created = admin is None
    if admin is None:
        admin = Admin(email=email, password_hash=digest)
        db.session.add(admin)
    else:
        admin.password_hash = digest
    db.session.flush()
    audit(actor, "admin_created" if created else "admin_password_reset", email=email)
    return admin, created


def find_admin(email: str) -> Admin | None:
    """The admin with this (normalised) email, or None."""
    result: Admin | None = db.session.execute(
        select(Admin).where(Admin.email == email.strip().lower())
    ).scalar_one_or_none()
    return result


def authenticate(email: str, password: str) -> Admin | None:
    """The admin when email and password match; None otherwise (in about the same time)."""
    admin = find_admin(email) if email and len(email) <= 254 else None
    if not password or len(password) > MAX_PASSWORD:
        return None
    chosen = hasher()
    try:
        chosen.verify(admin.password_hash if admin else _dummy_hash(chosen), password)
    except (VerificationError, InvalidHashError):
        return None
    if admin is None:
        return None
    if chosen.check_needs_rehash(admin.password_hash):
        admin.password_hash = chosen.hash(password)
        db.session.flush()
    return admin


def session_key(admin: Admin) -> str:
    """Changes when the password does: a reset logs out every session of that admin."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, admin.password_hash.encode(), hashlib.sha256).hexdigest()[:32]


# --- audit ---------------------------------------------------------------------


def audit(actor: str, action: str, **detail: Any) -> AuditEntry:
    """Add one line to the audit log (who, what, when)."""
    entry = AuditEntry(at=services.now(), actor=actor[:254], action=action[:64], detail=detail)
    db.session.add(entry)
    db.session.flush()
    log.info("audit entry_id=%s action=%s", entry.id, action)
    return entry


def audit_page(page: int) -> Page[AuditEntry]:
    """The audit log, newest first."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return paginate(query, select(func.count(AuditEntry.id)), page)


# --- listing -------------------------------------------------------------------


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):  # noqa: UP046 (Python 3.11 has no PEP 695 syntax)
    items: list[T]
    page: int
    pages: int
    total: int


def paginate(query: Any, count_query: Any, page: int, size: int = PAGE_SIZE) -> Page[Any]:
    total = int(db.session.execute(count_query).scalar_one())
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    items = list(db.session.execute(query.limit(size).offset((page - 1) * size)).scalars())
    return Page(items=items, page=page, pages=pages, total=total)


def campaigns() -> list[Campaign]:
    """Every campaign, by slug."""
    return list(db.session.execute(select(Campaign).order_by(Campaign.slug)).scalars())


def parse_month(text: str | None, campaign: Campaign) -> Month:
    """A month written YYYY-MM; empty means the campaign's current month."""
    if not text:
        return Month.containing(services.now(), services.campaign_zone(campaign))
    match = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text.strip())
    if not match:
        raise AdminError(f"invalid month {text[:20]!r}: use YYYY-MM, like 2026-11")
    try:
        return Month(int(match.group(1)), int(match.group(2)))
    except ValueError as err:
        raise AdminError(f"invalid month {text[:20]!r}: use YYYY-MM, like 2026-11") from err


def donations_page(campaign: Campaign, month: Month, search: str, page: int) -> Page[Donation]:
    """One month's donations of a campaign, newest first, filtered by a search text."""
    period = services.find_period(campaign, month)
    period_id = period.id if period else -1
    where = [Donation.campaign_id == campaign.id, Donation.period_id == period_id]
    text = search.strip()[:100]
    if text:
        where.append(
            or_(
                Donation.donor_name.icontains(text, autoescape=True),
                Donation.external_key.icontains(text, autoescape=True),
                Donation.payment_intent_id.icontains(text, autoescape=True),
                Donation.note.icontains(text, autoescape=True),
            )
        )
    query = select(Donation).where(*where).order_by(Donation.received_at.desc(), Donation.id.desc())
    return paginate(query, select(func.count(Donation.id)).where(*where), page)


def latest_donations(limit: int = 10) -> list[Donation]:
    """The last donations recorded, any campaign."""
    query = select(Donation).order_by(Donation.created_at.desc(), Donation.id.desc()).limit(limit)
    return list(db.session.execute(query).scalars())


def months(campaign: Campaign) -> list[Period]:
    """Every month of a campaign, newest first (the current one always included)."""
    services.period_for(campaign, services.now())
    query = (
        select(Period)
        .where(Period.campaign_id == campaign.id)
        .order_by(Period.year.desc(), Period.month.desc())
    )
    return list(db.session.execute(query).scalars())


# --- chart ---------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    title: str
    x: int
    y: int
    height: int
    goal_y: int | None


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bar_width: int
    bars: list[Bar]
    top_label: str


CHART_WIDTH = 600
CHART_HEIGHT = 160
CHART_MONTHS = 12


def chart(campaign: Campaign, at: datetime, count: int = CHART_MONTHS) -> Chart:
    """Bars of the last `count` months' raised amounts, each with its goal mark (SVG units)."""
    last = Month.containing(at, services.campaign_zone(campaign))
    first = last
    for _ in range(count - 1):
        first = first.previous()
    rows = {
        (p.year, p.month): p
        for p in db.session.execute(
            select(Period).where(
                Period.campaign_id == campaign.id,
                (Period.year * 100 + Period.month) >= first.year * 100 + first.month,
                (Period.year * 100 + Period.month) <= last.year * 100 + last.month,
            )
        ).scalars()
    }
    data: list[tuple[Month, int, int | None]] = []
    for month in periods_between(first, last):
        row = rows.get((month.year, month.month))
        data.append((month, row.raised_minor if row else 0, row.goal_minor if row else None))
    return chart_geometry(data, campaign.currency, campaign.locale)


def chart_geometry(data: list[tuple[Month, int, int | None]], currency: str, locale: str) -> Chart:
    """Integer SVG geometry for (month, raised, goal) triples; the tallest value fills it."""
    top = max([0] + [raised for _, raised, _ in data] + [goal or 0 for _, _, goal in data])
    scale = top or 1
    slot = CHART_WIDTH // max(1, len(data))
    bar_width = max(1, slot * 3 // 4)
    bars = []
    for index, (month, raised, goal) in enumerate(data):
        height = raised * CHART_HEIGHT // scale
        goal_y = None if goal is None else CHART_HEIGHT - goal * CHART_HEIGHT // scale
        title = f"{month.label(locale)}: {money.format_money(raised, currency, locale)}"
        if goal is not None:
            title += f" of {money.format_money(goal, currency, locale)}"
        bars.append(
            Bar(
                label=month.first_day.strftime("%b"),
                title=title,
                x=index * slot + (slot - bar_width) // 2,
                y=CHART_HEIGHT - height,
                height=height,
                goal_y=goal_y,
            )
        )
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        bar_width=bar_width,
        bars=bars,
        top_label=money.format_money(top, currency, locale),
    )


# --- donations -----------------------------------------------------------------


def require_donation(donation_id: int) -> Donation:
    donation = db.session.get(Donation, donation_id)
    if donation is None:
        raise services.NotFound(f"no donation {donation_id}")
    return donation


def add_manual_donation(
    campaign: Campaign, amount_minor: int, received_at: datetime, donor: str | None, actor: str
) -> Donation:
    """Record an offline donation and log who did it."""
    donation = services.record_manual_donation(campaign, amount_minor, received_at, donor)
    audit(
        actor,
        "donation_added",
        campaign=campaign.slug,
        donation_id=donation.id,
        amount_minor=amount_minor,
        received_at=received_at.isoformat(),
    )
    return donation


def void_manual_donation(donation: Donation, actor: str) -> None:
    """Delete a manual donation (entered by mistake); Stripe ones are refunded instead."""
    if donation.source != "manual":
        raise AdminError("only manual donations can be voided; refund a Stripe payment instead")
    detail = {
        "campaign": donation.campaign.slug,
        "donation_id": donation.id,
        "amount_minor": donation.amount_minor,
    }
    services.remove_donation(donation)
    audit(actor, "donation_voided", **detail)


def refundable_minor(donation: Donation) -> int:
    """What can still be refunded of a donation."""
    return max(0, donation.amount_minor - donation.refunded_minor)


def refund_amount(donation: Donation, text: str) -> int:
    """The refund a person typed (empty: all that is left), checked against what is left."""
    left = refundable_minor(donation)
    if left == 0:
        raise AdminError(f"donation {donation.id} is already refunded in full")
    if not text.strip():
        return left
    amount = money.parse_amount(text, donation.currency)
    if amount > left:
        shown = money.format_major(left, donation.currency)
        raise AdminError(f"at most {shown} {donation.currency} is left to refund")
    return amount


def refund_manual_donation(donation: Donation, amount_minor: int, actor: str) -> None:
    """Record a refund of a manual donation; its own month's total follows."""
    if donation.source != "manual":
        raise AdminError("a Stripe donation is refunded through Stripe")
    services.adjust_donation(donation, refunded_minor=donation.refunded_minor + amount_minor)
    audit(
        actor,
        "donation_refunded",
        campaign=donation.campaign.slug,
        donation_id=donation.id,
        amount_minor=amount_minor,
    )


def start_stripe_refund(donation: Donation, amount_minor: int, actor: str) -> str:
    """Ask Stripe to refund; the charge.refunded webhook then records it. Returns the id."""
    if donation.source != "stripe" or not donation.payment_intent_id:
        raise AdminError("this donation has no Stripe payment to refund")
    whole = amount_minor == refundable_minor(donation) and donation.refunded_minor == 0
    # Same donation and same target figure: a double click cannot refund twice.
    key = f"admin-refund-{donation.id}-{donation.refunded_minor + amount_minor}"
    try:
        refund_id = payments.create_refund(
            donation.payment_intent_id, None if whole else amount_minor, donation.currency, key
        )
    except Exception as err:  # stripe's errors; stripe is imported in payments.py only
        log.warning("stripe refund failed donation_id=%s: %s", donation.id, type(err).__name__)
        message = getattr(err, "user_message", None) or str(err) or type(err).__name__
        raise AdminError(f"Stripe did not accept the refund: {message}") from err
    audit(
        actor,
        "stripe_refund_started",
        campaign=donation.campaign.slug,
        donation_id=donation.id,
        payment_intent_id=donation.payment_intent_id,
        amount_minor=amount_minor,
        refund_id=refund_id,
    )
    return refund_id


# --- review queue --------------------------------------------------------------


def review_queue(include_resolved: bool = False) -> list[ReviewPayment]:
    """Payments kept for review, oldest first (resolved ones too when asked)."""
    query = select(ReviewPayment).order_by(ReviewPayment.received_at, ReviewPayment.id)
    if not include_resolved:
        query = query.where(ReviewPayment.resolved_at.is_(None))
    return list(db.session.execute(query).scalars())


def require_review(review_id: int) -> ReviewPayment:
    review = db.session.get(ReviewPayment, review_id)
    if review is None:
        raise services.NotFound(f"no payment under review {review_id}")
    return review


def assign_review(review: ReviewPayment, campaign: Campaign, actor: str) -> Donation:
    """Count a payment kept for review in a campaign, in the month it was paid."""
    if review.resolved_at is not None:
        raise AdminError(f"payment {review.external_key} was already assigned")
    if review.currency.upper() != campaign.currency.upper():
        raise AdminError(
            f"payment {review.external_key} is in {review.currency.upper()}, campaign "
            f"{campaign.slug!r} counts {campaign.currency}: assign it to a "
            f"{review.currency.upper()} campaign"
        )
    taken = db.session.execute(
        select(Donation.id).where(Donation.external_key == review.external_key)
    ).scalar_one_or_none()
    if taken is not None:
        raise AdminError(f"payment {review.external_key} is already counted (donation {taken})")
    # Claim the row in one UPDATE, so two admins assigning at once cannot both count it.
    claimed = db.session.execute(
        update(ReviewPayment)
        .where(ReviewPayment.id == review.id, ReviewPayment.resolved_at.is_(None))
        .values(resolved_at=services.now())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise AdminError(f"payment {review.external_key} was already assigned")
    # Any refund or lost dispute Stripe reported before the payment was assigned.
    refunded, disputed = ledger.pending_adjustment(review.payment_intent_id)
    donation = services.record_donation(
        campaign,
        amount_minor=review.amount_minor,
        received_at=review.received_at,
        source="stripe",
        external_key=review.external_key,
        payment_intent_id=review.payment_intent_id,
        currency=review.currency.upper(),
        frequency=review.frequency,
        donor_name=review.donor_name,
        refunded_minor=refunded,
        disputed_minor=disputed,
    )
    db.session.execute(
        update(ReviewPayment).where(ReviewPayment.id == review.id).values(donation_id=donation.id)
    )
    db.session.expire(review)
    audit(
        actor,
        "review_assigned",
        review_id=review.id,
        external_key=review.external_key,
        campaign=campaign.slug,
        donation_id=donation.id,
        amount_minor=review.amount_minor,
    )
    return donation


# --- CSV -----------------------------------------------------------------------

CSV_COLUMNS = (
    "id",
    "received_at",
    "amount",
    "currency",
    "net",
    "refunded",
    "disputed",
    "source",
    "external_key",
    "donor",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading single quote."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def csv_export(campaign: Campaign, month: Month) -> Iterator[str]:
    """A generator of the month's donations as CSV lines; it reads with its own session,
    so the response can stream after the request's session is gone."""
    period = services.find_period(campaign, month)
    return csv_lines(
        Session(db.engine), period.id if period else None, services.campaign_zone(campaign)
    )


def csv_lines(session: Session, period_id: int | None, zone: ZoneInfo) -> Iterator[str]:
    """CSV text, one line at a time (header first); closes `session` when done."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: list[str]) -> str:
        writer.writerow([neutralise(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    try:
        yield line(list(CSV_COLUMNS))
        if period_id is None:
            return
        query = (
            select(Donation)
            .where(Donation.period_id == period_id)
            .order_by(Donation.received_at, Donation.id)
            .execution_options(yield_per=500)
        )
        for donation in session.execute(query).scalars():
            cur = donation.currency
            yield line(
                [
                    str(donation.id),
                    donation.received_at.astimezone(zone).isoformat(),
                    money.format_major(donation.amount_minor, cur),
                    cur,
                    money.format_major(services.net(donation), cur),
                    money.format_major(donation.refunded_minor, cur),
                    money.format_major(donation.disputed_minor, cur),
                    donation.source,
                    donation.external_key,
                    donation.donor_name or "",
                ]
            )
    finally:
        session.close()


def embed_snippets(campaign: Campaign, base: str) -> dict[str, str]:
    """The three ways to embed a campaign's widget, ready to paste."""
    base = base.rstrip("/")
    slug = campaign.slug
    name = campaign.name.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return {
        "iframe": (
            f'<iframe src="{base}/embed/{slug}" title="{name}" width="100%" height="120" '
            f'style="border:0;max-width:640px" loading="lazy"></iframe>'
        ),
        "script": f'<script src="{base}/embed/{slug}.js" async></script>',
        "image": f'<img src="{base}/embed/{slug}.svg" alt="{name}: donation progress this month">',
    }


# --- login throttle ------------------------------------------------------------


def _login_keys(email: str, address: str) -> list[tuple[str, str]]:
    found = [("email", (email or "").strip().lower()[:254]), ("address", address or "-")]
    return [(kind, value) for kind, value in found if value]


def login_wait_s(email: str, address: str) -> int | None:
    """Seconds until a login for this email, from this address, may be tried again."""
    for kind, value in _login_keys(email, address):
        wait = throttle().wait_s(LOGIN_FAILURES, "admin-login", kind, value)
        if wait is not None:
            return wait
    return None


def login_failed(email: str, address: str) -> None:
    """Count one failed login against the email and against the address."""
    for kind, value in _login_keys(email, address):
        throttle().hit(LOGIN_FAILURES, "admin-login", kind, value)
