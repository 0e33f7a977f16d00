"""The admin dashboard (/admin/...): every page behind a login, every form with CSRF.

This module holds the blueprint, its guards and helpers, and logging in; the pages are in
campaign_pages, donation_pages and review_pages, imported at the end to register them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from tracker import accounts, errors, services
from tracker import admin_services as ops
from tracker.domain import money
from tracker.errors import error_response
from tracker.extensions import db
from tracker.extensions import login as login_manager
from tracker.forms import LoginForm
from tracker.models import Admin, Campaign

log = logging.getLogger(__name__)

admin = Blueprint("admin", __name__, url_prefix="/admin")

PUBLIC_ENDPOINTS = {"admin.login"}


login_manager.login_view = "admin.login"
login_manager.login_message = "Please log in to see the dashboard."


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
    message = exc.description if isinstance(exc, HTTPException) else str(exc)
    db.session.rollback()
    title = errors.TITLES.get(status, "Error")
    page = render_template("admin/refused.html", title=title, message=message)
    return page, status


def refused(message: str, status: int = 422) -> tuple[str, int]:
    """An action that was refused: the reason inside the dashboard's layout."""
    db.session.rollback()
    return render_template("admin/refused.html", message=message), status


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
    """Formatting helpers for admin templates (templates only format)."""

    def money_text(minor: int, campaign: Campaign, currency: str | None = None) -> str:
        return money.format_money(minor, currency or campaign.currency, campaign.locale)

    def major(minor: int, currency: str) -> str:
        try:
            return money.format_major(minor, currency)
        except ValueError:  # a code Babel does not know: show what Stripe sent
            return f"{minor} (minor units)"

    def local(at: datetime, campaign: Campaign) -> str:
        return at.astimezone(services.campaign_zone(campaign)).strftime("%Y-%m-%d %H:%M")

    return {"money": money_text, "major": major, "local": local, "net": services.net}


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
        return error_response(503, "Logging in is unavailable for a moment. Try again soon.")
    if wait_s is not None:
        log.warning("admin login throttled")
        form.form_errors.append(
            "Too many failed logins for this email or address. "
            f"Try again in {(wait_s + 59) // 60} minutes."
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
        form.form_errors.append("Wrong email or password.")
        return render_template("admin/login.html", form=form), 401
    session.clear()  # a fresh session (and CSRF token) for the logged-in admin
    session["admin_key"] = accounts.session_key(account)
    login_user(account)
    ops.audit(account.email, "login")
    db.session.commit()
    return redirect(target or url_for("admin.overview"))


@admin.post("/logout")
def logout() -> Any:
    ops.audit(actor(), "logout")
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("admin.login"), code=303)


# The pages register themselves on the blueprint above.
from tracker.views.admin import campaign_pages, donation_pages, review_pages  # noqa: E402, F401
