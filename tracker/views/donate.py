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
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from tracker import embeds, headers, i18n, payments, services
from tracker.domain import money
from tracker.domain.text import Message, Refusal, message, plural_message
from tracker.errors import error_response
from tracker.models import Campaign
from tracker.throttle import CHECKOUTS, throttle

log = logging.getLogger(__name__)

donate = Blueprint("donate", __name__)

FREQUENCIES = ("once", "monthly")
ATTEMPT_RE = re.compile(r"[0-9a-f]{32}")


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
    body = render_template(
        "donate/page.html",
        campaign=campaign,
        bar=embeds.widget_model(campaign, services.now(), embeds.WidgetOptions(lang=locale)),
        presets=presets,
        error=error,
        attempt=uuid.uuid4().hex,
        amount=form.get("amount", ""),
        frequency=form.get("frequency", "once"),
        symbol=money.format_money(0, campaign.currency, locale).replace("0", "").strip(),
        example=money.format_major(10 ** money.exponent(campaign.currency) * 10, campaign.currency),
        lang=request.args.get("lang") and locale,
        stripe_ready=payments.configured(),
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
    wait_s = _checkout_wait_s(address)
    if wait_s is not None:
        minutes = (wait_s + 59) // 60
        response = error_response(
            429,
            plural_message(
                "Too many payment attempts from your address. "
                "Please try again in %(num)s minute.",
                "Too many payment attempts from your address. "
                "Please try again in %(num)s minutes.",
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
        )
    if not payments.configured():
        return _stripe_missing(campaign)
    back = {"lang": locale} if request.args.get("lang") else {}
    req = payments.CheckoutRequest(
        campaign_slug=campaign.slug,
        campaign_name=campaign.name,
        currency=campaign.currency,
        amount_minor=choice.amount_minor,
        frequency=choice.frequency,
        success_url=url_for("donate.thanks", slug=campaign.slug, _external=True, **back),
        cancel_url=url_for("donate.page", slug=campaign.slug, _external=True, **back),
        idempotency_key=idempotency_key(campaign, _attempt(request.form), choice),
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
    _count_checkout(address)  # only a session made counts against the address
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


def _checkout_wait_s(address: str) -> int | None:
    try:
        return throttle().wait_s(CHECKOUTS, "checkout", address)
    except Exception:  # the counter's storage (Redis) is away: take the donation, say so
        log.exception("checkout rate limit storage unreachable; not limiting")
        return None


def _count_checkout(address: str) -> None:
    try:
        throttle().hit(CHECKOUTS, "checkout", address)
    except Exception:
        log.exception("checkout rate limit storage unreachable; not counted")


@donate.get("/donate/<slug>/thanks")
def thanks(slug: str) -> Response:
    campaign, locale = _campaign(slug)
    bar = embeds.widget_model(campaign, services.now(), embeds.WidgetOptions(lang=locale))
    return _html(render_template("donate/thanks.html", campaign=campaign, bar=bar))


def _html(body: str, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = headers.DONATE_CSP
    return response
