"""The admin dashboard (/admin/...): every page behind a login, every form with CSRF."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from tracker import accounts, embeds, errors, inbox, reports, services
from tracker import admin_services as ops
from tracker.domain import money
from tracker.errors import error_response
from tracker.extensions import db
from tracker.extensions import login as login_manager
from tracker.forms import (
    AssignForm,
    CampaignForm,
    DonationForm,
    LoginForm,
    RefundForm,
)
from tracker.models import Admin, Campaign

log = logging.getLogger(__name__)

admin = Blueprint("admin", __name__, url_prefix="/admin")

PUBLIC_ENDPOINTS = {"admin.login"}


login_manager.login_view = "admin.login"
login_manager.login_message = "Please log in to see the dashboard."


@login_manager.user_loader
def load_admin(user_id: str) -> Admin | None:
    """The logged-in admin, unless the password changed since this session logged in."""
    try:
        account = db.session.get(Admin, int(user_id))
    except (TypeError, ValueError):
        return None
    if account is None or session.get("admin_key") != accounts.session_key(account):
        return None
    return account


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


# --- overview ------------------------------------------------------------------


@admin.get("/")
def overview() -> Any:
    at = services.now()
    cards = []
    for campaign in ops.campaigns():
        snap = services.snapshot(campaign, at)
        cards.append({"campaign": campaign, "snap": snap, "month": services.month_of(snap.period)})
    latest = ops.latest_donations(10)
    db.session.commit()  # the current months may have just been created
    return render_template("admin/overview.html", cards=cards, latest=latest)


# --- campaigns -----------------------------------------------------------------


@admin.route("/campaigns", methods=["GET", "POST"])
def campaigns() -> Any:
    form = CampaignForm()
    if request.method == "POST":
        if not form.validate():
            status = 400 if form.csrf_token.errors else 422
            return render_template(
                "admin/campaigns.html", form=form, campaigns=ops.campaigns()
            ), status
        values = form.parsed
        campaign = services.create_campaign(
            values["slug"],
            name=values["name"],
            currency=values["currency"],
            timezone=values["timezone"],
            locale=values["locale"],
            milestones=values["milestones"],
            allowed_origins=values["allowed_origins"],
            preset_amounts=values["preset_amounts"],
        )
        services.period_for(campaign, services.now())
        ops.audit(actor(), "campaign_created", campaign=campaign.slug, settings=_settings(campaign))
        db.session.commit()
        flash(f"Created campaign {campaign.slug}.")
        return redirect(url_for("admin.edit_campaign", slug=campaign.slug), code=303)
    return render_template("admin/campaigns.html", form=form, campaigns=ops.campaigns())


def _settings(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "currency": campaign.currency,
        "timezone": campaign.timezone,
        "locale": campaign.locale,
        "milestones": list(campaign.milestones),
        "preset_amounts": list(campaign.preset_amounts),
        "allowed_origins": list(campaign.allowed_origins),
    }


@admin.route("/campaigns/<slug>", methods=["GET", "POST"])
def edit_campaign(slug: str) -> Any:
    campaign = services.require_campaign(slug)
    form = CampaignForm(campaign=campaign)
    if request.method == "POST":
        if not form.validate():
            status = 400 if form.csrf_token.errors else 422
            return render_template("admin/campaign.html", form=form, campaign=campaign), status
        before = _settings(campaign)
        services.edit_campaign(campaign, services.now(), **form.parsed)
        after = _settings(campaign)
        changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        ops.audit(actor(), "campaign_edited", campaign=campaign.slug, changed=changed)
        db.session.commit()
        flash(f"Saved campaign {campaign.slug}.")
        return redirect(url_for("admin.edit_campaign", slug=campaign.slug), code=303)
    form.fill(campaign)
    return render_template("admin/campaign.html", form=form, campaign=campaign)


@admin.get("/campaigns/<slug>/embed")
def snippets(slug: str) -> Any:
    campaign = services.require_campaign(slug)
    snippets = embeds.snippets(request.url_root, campaign, embeds.WidgetOptions())
    return render_template("admin/snippets.html", campaign=campaign, snippets=snippets)


# --- donations -----------------------------------------------------------------


def _donations_page(form: DonationForm | None = None, status: int = 200) -> Any:
    campaign = selected_campaign()
    all_campaigns = ops.campaigns()
    form = form or DonationForm(campaigns=all_campaigns)
    if campaign is None:
        return render_template("admin/donations.html", campaign=None, form=form), status
    try:
        month = ops.parse_month(request.args.get("month"), campaign)
    except ops.AdminError as err:
        return refused(str(err), 400)
    search = request.args.get("q", "")
    listing = ops.donations_page(campaign, month, search, page_arg())
    if not form.campaign.data:
        form.campaign.data = campaign.slug
    return render_template(
        "admin/donations.html",
        campaign=campaign,
        campaigns=all_campaigns,
        month=month,
        previous_month=month.previous(),
        next_month=month.next(),
        search=search,
        listing=listing,
        form=form,
        period=services.find_period(campaign, month),
        refund_form=RefundForm(),
    ), status


@admin.route("/donations", methods=["GET", "POST"])
def donations() -> Any:
    if request.method == "GET":
        return _donations_page()
    form = DonationForm(campaigns=ops.campaigns())
    if not form.validate():
        return _donations_page(form, 400 if form.csrf_token.errors else 422)
    campaign = form.by_slug[form.campaign.data]
    donation = ops.add_manual_donation(
        campaign,
        form.parsed["amount_minor"],
        form.parsed["received_at"],
        form.donor.data,
        actor(),
    )
    db.session.commit()
    amount = money.format_money(donation.amount_minor, campaign.currency, campaign.locale)
    flash(f"Recorded {amount} for {campaign.slug} (donation {donation.id}).")
    month = services.month_of(donation.period).key
    return redirect(url_for("admin.donations", campaign=campaign.slug, month=month), code=303)


def _back_to(donation: Any) -> BaseResponse:
    month = services.month_of(donation.period).key
    return redirect(
        url_for("admin.donations", campaign=donation.campaign.slug, month=month), code=303
    )


@admin.post("/donations/<int:donation_id>/void")
def void_donation(donation_id: int) -> Any:
    donation = ops.require_donation(donation_id)
    slug, month = donation.campaign.slug, services.month_of(donation.period).key
    try:
        ops.void_manual_donation(donation, actor())
    except ops.AdminError as err:
        return refused(str(err))
    db.session.commit()
    flash(f"Voided donation {donation_id}.")
    return redirect(url_for("admin.donations", campaign=slug, month=month), code=303)


@admin.post("/donations/<int:donation_id>/refund")
def refund_donation(donation_id: int) -> Any:
    form = RefundForm()
    donation = ops.require_donation(donation_id)
    try:
        amount_minor = ops.refund_amount(donation, form.amount.data or "")
        if donation.source == "manual":
            ops.refund_manual_donation(donation, amount_minor, actor())
            message = f"Recorded a refund on donation {donation.id}."
        else:
            refund_id = ops.start_stripe_refund(donation, amount_minor, actor())
            message = (
                f"Stripe accepted refund {refund_id} for donation {donation.id}; "
                "it counts once Stripe confirms it."
            )
    except ValueError as err:
        return refused(str(err.args[0] if err.args else err))
    db.session.commit()
    flash(message)
    return _back_to(donation)


@admin.get("/campaigns/<slug>/export.csv")
def export_csv(slug: str) -> Any:
    campaign = services.require_campaign(slug)
    try:
        month = ops.parse_month(request.args.get("month"), campaign)
    except ops.AdminError as err:
        return refused(str(err), 400)
    ops.audit(actor(), "csv_exported", campaign=campaign.slug, month=month.key)
    db.session.commit()
    filename = f"{campaign.slug}-{month.key}.csv"
    return Response(
        reports.csv_export(campaign, month),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- months --------------------------------------------------------------------


@admin.get("/months")
def months() -> Any:
    campaign = selected_campaign()
    if campaign is None:
        return render_template("admin/months.html", campaign=None)
    rows = ops.months(campaign)
    chart = reports.chart(campaign, services.now())
    db.session.commit()
    return render_template(
        "admin/months.html",
        campaign=campaign,
        campaigns=ops.campaigns(),
        rows=rows,
        chart=chart,
        month_of=services.month_of,
    )


# --- review queue --------------------------------------------------------------


@admin.get("/review")
def review() -> Any:
    show_all = request.args.get("all") == "1"
    show_seen = request.args.get("seen") == "1"
    return render_template(
        "admin/review.html",
        payments=ops.review_queue(include_resolved=show_all),
        show_all=show_all,
        rejected=inbox.rejected_events(include_seen=show_seen),
        show_seen=show_seen,
        form=AssignForm(campaigns=ops.campaigns()),
    )


@admin.post("/review/events/<event_id>/seen")
def event_seen(event_id: str) -> Any:
    stored = inbox.mark_seen(event_id)
    ops.audit(actor(), "rejected_event_seen", event_id=stored.id)
    db.session.commit()
    flash(f"Marked event {stored.id} as seen.")
    return redirect(url_for("admin.review") + "#rejected", code=303)


@admin.post("/review/<int:review_id>/assign")
def assign(review_id: int) -> Any:
    form = AssignForm(campaigns=ops.campaigns())
    if not form.validate():
        return refused("choose a campaign to assign the payment to")
    payment = ops.require_review(review_id)
    campaign = services.require_campaign(form.campaign.data)
    try:
        donation = ops.assign_review(payment, campaign, actor())
    except ValueError as err:
        return refused(str(err.args[0] if err.args else err))
    db.session.commit()
    flash(f"Assigned payment {donation.external_key} to {campaign.slug} (donation {donation.id}).")
    return redirect(url_for("admin.review"), code=303)


# --- audit log -----------------------------------------------------------------


@admin.get("/audit")
def audit() -> Any:
    return render_template("admin/audit.html", listing=ops.audit_page(page_arg()))
