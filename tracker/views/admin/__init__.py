"""The admin dashboard (/admin/...): every page behind a login, every form with CSRF.

This module holds the blueprint, its guards and helpers, and logging in; the pages are in
campaign_pages, donation_pages and review_pages, imported at the end to register them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_decimal, format_percent
from flask import (
    Blueprint,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, lazy_gettext
from flask_login import current_user, login_user, logout_user
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from tracker import accounts, embeds, errors, i18n, services
from tracker import admin_services as ops
from tracker.domain import money
from tracker.domain.periods import Period as Month
from tracker.domain.text import Message, message, plural_message
from tracker.errors import error_response
from tracker.extensions import db
from tracker.extensions import login as login_manager
from tracker.forms import LoginForm
from tracker.models import Admin, Campaign

log = logging.getLogger(__name__)

admin = Blueprint("admin", __name__, url_prefix="/admin")

PUBLIC_ENDPOINTS = {"admin.login", "admin.language"}


login_manager.login_view = "admin.login"
login_manager.login_message = lazy_gettext("Please log in to see the dashboard.")


def load_admin(user_id: str) -> Admin | None:
    """The logged-in admin, unless the password changed since this session logged in."""
    try:
        account = db.session.get(Admin, int(user_id))
    except (TypeError, ValueError):
        return None
    if account is None or session.get("admin_key") != accounts.session_key(account):
        return None
    return account


login_manager.user_loader(load_admin)


def actor() -> str:
    return str(current_user.email)


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site; None for anything that could leave it."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    # Browsers drop tabs and newlines and read "\" as "/", so "/\t/evil" is "//evil".
    if any(ord(c) < 0x21 or c in "\\\x7f" for c in target) or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@admin.before_request
def require_login() -> BaseResponse | None:
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    result: BaseResponse = login_manager.unauthorized()
    return result


@admin.errorhandler(HTTPException)
@admin.errorhandler(services.NotFound)
def admin_error(exc: Exception) -> Any:
    """4xx inside the dashboard's layout (error.html's inline style would break the CSP)."""
    status = (exc.code or 500) if isinstance(exc, HTTPException) else 404
    if status >= 500:
        return errors.handle(exc)
    db.session.rollback()
    page = render_template(
        "admin/refused.html",
        title=errors.title(status),
        message=errors.explanation(exc),
        back=back_url(),
    )
    return page, status


def refused(message: Message | str, status: int = 422) -> tuple[str, int]:
    """An action that was refused: the reason inside the dashboard's layout."""
    db.session.rollback()
    return render_template("admin/refused.html", message=message, back=back_url()), status


def back_url() -> str:
    """Where "Go back" leads: the page the admin came from, if it is ours; else the overview."""
    came_from = request.referrer or ""
    if came_from.startswith(request.host_url):
        path = safe_next("/" + came_from[len(request.host_url) :])
        if path:
            return path
    return url_for("admin.overview")


def selected_campaign(slug: str | None = None) -> Campaign | None:
    """The campaign named in ?campaign= (404 if unknown), else the first one."""
    slug = slug if slug is not None else request.args.get("campaign")
    if slug:
        return services.require_campaign(slug)
    found = ops.campaigns()
    return found[0] if found else None


def page_arg() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@admin.context_processor
def formatting() -> dict[str, Any]:
    """Formatting helpers for admin templates, in the admin's locale (templates only format)."""
    locale = str(get_locale() or i18n.DEFAULT)

    def money_text(minor: int, campaign: Campaign, currency: str | None = None) -> str:
        return money.format_money(minor, currency or campaign.currency, locale)

    def major(minor: int, currency: str) -> str:
        try:
            return money.format_major(minor, currency)
        except ValueError:  # a code ISO 4217 does not list: show what Stripe sent
            return f"{minor}"

    def local(at: datetime, campaign: Campaign | None = None) -> str:
        zone = services.campaign_zone(campaign) if campaign else UTC
        return str(format_datetime(at.astimezone(zone), "short", locale=locale))

    def month_label(month: Month) -> str:
        return month.label(locale)

    def number(value: int) -> str:
        return str(format_decimal(value, locale=locale))

    def percent(value: float) -> str:
        return str(format_percent(value / 100, "#,##0.#%", locale=locale))

    def action_label(action: str) -> str:
        found = AUDIT_ACTIONS.get(action)
        return i18n.text(found) if found else action

    return {
        "money": money_text,
        "major": major,
        "local": local,
        "month_label": month_label,
        "number": number,
        "percent": percent,
        "action_label": action_label,
        "frame_height": embeds.frame_height,  # previews never clip the button
        "net": services.net,
        "languages": LANGUAGES,
        "current_language": i18n.language(locale),
    }


# What the audit log's actions read as.
AUDIT_ACTIONS = {
    "login": message("logged in"),
    "logout": message("logged out"),
    "admin_created": message("admin created"),
    "admin_password_reset": message("password reset"),
    "campaign_created": message("campaign created"),
    "campaign_edited": message("campaign changed"),
    "csv_exported": message("CSV exported"),
    "donation_added": message("manual donation added"),
    "donation_voided": message("manual donation voided"),
    "donation_refunded": message("manual donation refunded"),
    "stripe_refund_started": message("Stripe refund started"),
    "review_assigned": message("payment assigned from review"),
    "rejected_event_seen": message("rejected event marked seen"),
    "reconcile_run": message("reconciled with Stripe"),
    "reconcile_failed": message("reconciling with Stripe failed"),
    "notification_resent": message("notification sent again"),
}

# The languages an admin may pick, each named in itself.
LANGUAGES = tuple(
    (code, Locale.parse(code).get_display_name(code) or code) for code in i18n.SHIPPED
)


# --- login ---------------------------------------------------------------------


@admin.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    target = safe_next(request.args.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(target or url_for("admin.overview"))
        return render_template("admin/login.html", form=form)
    email = (form.email.data or "").strip().lower()
    address = request.remote_addr or "-"
    try:
        wait_s = accounts.login_wait_s(email, address)
    except Exception:  # the counter's storage (Redis) is down: refuse rather than not count
        log.exception("admin login: rate limit storage unreachable")
        return error_response(
            503, message("Logging in is unavailable for a moment. Try again soon.")
        )
    if wait_s is not None:
        log.warning("admin login throttled")
        minutes = (wait_s + 59) // 60
        form.form_errors.append(
            plural_message(
                "Too many failed logins for this email or address. Try again in %(num)s minute.",
                "Too many failed logins for this email or address. Try again in %(num)s minutes.",
                minutes,
                num=minutes,
            )
        )
        page = render_template("admin/login.html", form=form)
        return page, 429, {"Retry-After": str(wait_s)}
    account = accounts.authenticate(email, form.password.data or "") if form.validate() else None
    if account is None:
        try:
            accounts.login_failed(email, address)
        except Exception:
            log.exception("admin login: rate limit storage unreachable")
        db.session.rollback()
        log.info("admin login failed")
        form.form_errors.append(message("Wrong email or password."))
        return render_template("admin/login.html", form=form), 401
    language = session.get(i18n.ADMIN_LANGUAGE_KEY)
    session.clear()  # a fresh session (and CSRF token) for the logged-in admin
    if language:
        session[i18n.ADMIN_LANGUAGE_KEY] = language
    session["admin_key"] = accounts.session_key(account)
    login_user(account)
    ops.audit(account.email, "login")
    db.session.commit()
    return redirect(target or url_for("admin.overview"))


@admin.post("/language")
def language() -> Any:
    """Remember the language an admin picked, for this session."""
    picked = request.form.get("lang", "")
    if picked not in i18n.SHIPPED:
        return refused(message("unknown language '%(lang)s'", lang=picked[:20]), 400)
    session[i18n.ADMIN_LANGUAGE_KEY] = picked
    return redirect(safe_next(request.args.get("next")) or url_for("admin.overview"), code=303)


@admin.post("/logout")
def logout() -> Any:
    ops.audit(actor(), "logout")
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("admin.login"), code=303)


# The pages register themselves on the blueprint above.
from tracker.views.admin import (  # noqa: E402, F401
    campaign_pages,
    donation_pages,
    newsroom_pages,
    review_pages,
)
