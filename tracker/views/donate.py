"""The donate page: choose an amount, once or monthly, then on to Stripe Checkout.

Every page here is in the campaign's locale, or the one `lang=` names (the widget passes
its own on), with the month's bar at the top so a donor sees what they join.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from tracker import embeds, headers, i18n, payments, services
from tracker.domain import money
from tracker.domain.text import Message, Refusal, message, plural_message
from tracker.errors import error_response
from tracker.extensions import db
from tracker.models import Campaign
from tracker.throttle import CHECKOUTS, PORTALS, throttle

log = logging.getLogger(__name__)

donate = Blueprint("donate", __name__)

FREQUENCIES = ("once", "monthly")
ATTEMPT_RE = re.compile(r"[0-9a-f]{32}")
# How long after a monthly donation its thanks page can open the customer portal.
MANAGE_WITHIN = timedelta(hours=24)


@dataclass(frozen=True)
class Choice:
    """A valid donation request from the form."""

    amount_minor: int
    frequency: str


class FormError(Refusal):
    """The donate form was filled in wrongly; the message says how."""


def parse_form(form: Any, campaign: Campaign) -> Choice:
    """Validate `amount` (major units) and `frequency` like the CLI does."""
    frequency = (form.get("frequency") or "once").strip()
    if frequency not in FREQUENCIES:
        raise FormError(message("frequency must be 'once' or 'monthly'"))
    # Preset radios and the custom field share the name `amount`; a typed amount wins.
    typed = [value.strip() for value in form.getlist("amount") if value.strip()]
    if not typed:
        raise FormError(message("choose an amount or type one"))
    try:
        minor = money.parse_amount(typed[-1], campaign.currency)
        payments.check_amount(minor, campaign.currency)
    except money.AmountError as exc:
        raise FormError(exc.message) from exc
    return Choice(minor, frequency)


def idempotency_key(campaign: Campaign, attempt: str, choice: Choice) -> str:
    """Same page, same choice: the same key (a double click makes one session)."""
    return f"checkout-{campaign.id}-{attempt}-{choice.amount_minor}-{choice.frequency}"


def _attempt(form: Any) -> str:
    attempt = (form.get("attempt") or "").strip()
    if ATTEMPT_RE.fullmatch(attempt):
        return attempt
    # A client that posts only the SPEC fields: its CSRF token stands for the attempt.
    token = form.get("csrf_token") or uuid.uuid4().hex
    return hashlib.sha256(token.encode()).hexdigest()[:32]


ATTRIBUTION = ("ref", "utm_source", "utm_medium", "utm_campaign")
MAX_ATTRIBUTION = 500  # Stripe's longest metadata value


def attribution(values: Any) -> dict[str, str]:
    """Where a donation comes from, as the widget's button passed it on: `ref` (the page:
    an http(s) URL) and the utm_ tags, each at most 500 characters; anything else is
    dropped, and nothing about the visitor is kept."""
    found: dict[str, str] = {}
    for key in ATTRIBUTION:
        value = "".join(ch for ch in str(values.get(key) or "") if ch.isprintable()).strip()
        value = value[:MAX_ATTRIBUTION]
        if key == "ref" and not re.match(r"https?://[^/\s]+", value):
            continue
        if value:
            found[key] = value
    return found


def _campaign(slug: str) -> tuple[Campaign, str]:
    """The campaign, and the locale its pages are read in (it is also set for Flask-Babel)."""
    campaign = services.require_campaign(slug)
    asked = request.args.get("lang", "")
    try:
        locale = money.parse_locale(asked) if asked else campaign.locale
    except money.LocaleError:
        locale = campaign.locale
    i18n.use_locale(locale)
    return campaign, locale


def _page(
    campaign: Campaign,
    locale: str,
    status: int = 200,
    error: Message | None = None,
    **form: Any,
) -> Response:
    presets = [
        {
            "value": money.format_major(minor, campaign.currency),
            "label": money.format_money(minor, campaign.currency, locale),
        }
        for minor in campaign.preset_amounts
    ]
    bar = embeds.widget_model(campaign, services.now(), embeds.WidgetOptions(lang=locale))
    db.session.commit()  # the month's period may have just been created
    body = render_template(
        "donate/page.html",
        campaign=campaign,
        bar=bar,
        presets=presets,
        error=error,
        attempt=uuid.uuid4().hex,
        amount=form.get("amount", ""),
        frequency=form.get("frequency", "once"),
        symbol=money.format_money(0, campaign.currency, locale).replace("0", "").strip(),
        example=money.format_major(10 ** money.exponent(campaign.currency) * 10, campaign.currency),
        lang=request.args.get("lang") and locale,
        stripe_ready=payments.configured(),
        portal_login=current_app.config.get("STRIPE_PORTAL_LOGIN_URL") or None,
        source=form.get("source") or attribution(request.args),
    )
    return _html(body, status)


@donate.get("/donate/<slug>")
def page(slug: str) -> Response:
    campaign, locale = _campaign(slug)
    return _page(campaign, locale)


@donate.post("/donate/<slug>")
def checkout(slug: str) -> BaseResponse:
    campaign, locale = _campaign(slug)
    address = request.remote_addr or "-"
    wait_s = _wait_s(CHECKOUTS, "checkout", address)
    if wait_s is not None:
        minutes = (wait_s + 59) // 60
        response = error_response(
            429,
            plural_message(
                "Too many payment attempts from your address. Please try again in %(num)s minute.",
                "Too many payment attempts from your address. Please try again in %(num)s minutes.",
                minutes,
                num=minutes,
            ),
        )
        response.headers["Retry-After"] = str(wait_s)
        return response
    try:
        choice = parse_form(request.form, campaign)
    except FormError as exc:
        typed = [v.strip() for v in request.form.getlist("amount") if v.strip()]
        return _page(
            campaign,
            locale,
            400,
            exc.message,
            amount=(typed[-1] if typed else "")[:40],
            frequency=request.form.get("frequency", "once")
            if request.form.get("frequency") in FREQUENCIES
            else "once",
            source=attribution(request.form),
        )
    if not payments.configured():
        return _stripe_missing(campaign)
    back = {"lang": locale} if request.args.get("lang") else {}
    monthly = {"monthly": "1"} if choice.frequency == "monthly" else {}
    thanks_url = url_for("donate.thanks", slug=campaign.slug, _external=True, **back, **monthly)
    req = payments.CheckoutRequest(
        campaign_slug=campaign.slug,
        campaign_name=campaign.name,
        currency=campaign.currency,
        amount_minor=choice.amount_minor,
        frequency=choice.frequency,
        # Stripe puts the session's id in place of {CHECKOUT_SESSION_ID} (not URL-escaped).
        success_url=thanks_url
        + ("&" if "?" in thanks_url else "?")
        + "session_id={CHECKOUT_SESSION_ID}",
        cancel_url=url_for("donate.page", slug=campaign.slug, _external=True, **back),
        idempotency_key=idempotency_key(campaign, _attempt(request.form), choice),
        attribution=attribution(request.form),
    )
    try:
        url = payments.create_checkout_session(req)
    except payments.PaymentError:
        log.warning("checkout not started campaign_id=%s", campaign.id)
        return error_response(
            502,
            message(
                "We could not reach our payment provider. Nothing was charged; "
                "please try again in a few minutes."
            ),
        )
    _hit(CHECKOUTS, "checkout", address)  # only a session made counts against the address
    return redirect(url, code=303)


def _stripe_missing(campaign: Campaign) -> Response:
    """No Stripe key: say what to set (in full while developing), and log it."""
    log.error(
        "checkout refused campaign_id=%s: STRIPE_SECRET_KEY is not set (see README, Stripe)",
        campaign.id,
    )
    if current_app.config.get("TRACKER_ENV") == "development" or current_app.debug:
        body = render_template("donate/setup.html", campaign=campaign)
        return _html(body, 503)
    return error_response(
        503,
        message("Online donations are not set up on this site yet. Nothing was charged."),
    )


def _wait_s(limit: Any, name: str, address: str) -> int | None:
    try:
        return throttle().wait_s(limit, name, address)
    except Exception:  # the counter's storage (Redis) is away: take the donation, say so
        log.exception("%s rate limit storage unreachable; not limiting", name)
        return None


def _hit(limit: Any, name: str, address: str) -> None:
    try:
        throttle().hit(limit, name, address)
    except Exception:
        log.exception("%s rate limit storage unreachable; not counted", name)


@donate.get("/donate/<slug>/thanks")
def thanks(slug: str) -> Response:
    campaign, locale = _campaign(slug)
    bar = embeds.widget_model(campaign, services.now(), embeds.WidgetOptions(lang=locale))
    db.session.commit()  # the month's period may have just been created
    session_id = request.args.get("session_id", "")
    manage = (
        request.args.get("monthly") == "1"
        and payments.configured()
        and payments.SESSION_ID_RE.fullmatch(session_id) is not None
    )
    return _html(
        render_template(
            "donate/thanks.html",
            campaign=campaign,
            bar=bar,
            session_id=session_id if manage else None,
            lang=request.args.get("lang") and locale,
        )
    )


@donate.post("/donate/<slug>/manage")
def manage(slug: str) -> BaseResponse:
    """Open Stripe's customer portal for the monthly donation just made (SPEC.md)."""
    campaign, _locale = _campaign(slug)
    address = request.remote_addr or "-"
    if _wait_s(PORTALS, "portal", address) is not None:
        return error_response(
            429, message("Too many attempts from your address. Please try again later.")
        )
    if not payments.configured():
        return _stripe_missing(campaign)
    _hit(PORTALS, "portal", address)
    try:
        found = payments.retrieve_checkout(request.form.get("session_id", "").strip())
    except LookupError:
        return error_response(400, message("We cannot find that donation at Stripe."))
    except payments.PaymentError:
        return _provider_away()
    refusal = _manage_refusal(found, campaign)
    if refusal is not None or found.customer_id is None:
        return error_response(400, refusal or message("Stripe has no customer for that donation."))
    back = url_for("donate.page", slug=campaign.slug, _external=True)
    try:
        url = payments.create_portal_session(found.customer_id, back)
    except payments.PaymentError:
        return _provider_away()
    log.info("portal session created campaign_id=%s", campaign.id)
    return redirect(url, code=303)


def _manage_refusal(found: payments.FinishedCheckout, campaign: Campaign) -> Message | None:
    """Why this Checkout Session may not open the portal, or None when it may."""
    if not found.complete:
        return message("That donation is not complete.")
    if found.mode != "subscription":
        return message("That was a one-time donation: there is nothing to manage.")
    if found.campaign != campaign.slug:
        return message("That donation was not made to %(name)s.", name=campaign.name)
    if found.created_at is None or services.now() - found.created_at > MANAGE_WITHIN:
        return message(
            "This link works for 24 hours after a donation. Use the link in Stripe's "
            "receipt email to manage your monthly donation."
        )
    if found.customer_id is None:
        return message("Stripe has no customer for that donation.")
    return None


def _provider_away() -> Response:
    return error_response(
        502,
        message(
            "We could not reach our payment provider. Nothing was changed; "
            "please try again in a few minutes."
        ),
    )


def _html(body: str, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = headers.DONATE_CSP
    return response
