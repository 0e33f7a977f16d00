"""The donate page: choose an amount, once or monthly, then on to Stripe Checkout."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from tracker import headers, payments, services
from tracker.domain import money
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


class FormError(ValueError):
    """The donate form was filled in wrongly; the message says how."""


def parse_form(form: Any, campaign: Campaign) -> Choice:
    """Validate `amount` (major units) and `frequency` like the CLI does."""
    frequency = (form.get("frequency") or "once").strip()
    if frequency not in FREQUENCIES:
        raise FormError("frequency must be 'once' or 'monthly'")
    # Preset radios and the custom field share the name `amount`; a typed amount wins.
    typed = [value.strip() for value in form.getlist("amount") if value.strip()]
    if not typed:
        raise FormError("choose an amount or type one")
    try:
        minor = money.parse_amount(typed[-1], campaign.currency)
        payments.check_amount(minor, campaign.currency)
    except money.AmountError as exc:
        raise FormError(str(exc)) from exc
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


def _page(campaign: Campaign, status: int = 200, error: str | None = None, **form: Any) -> Response:
    presets = [
        {
            "value": money.format_major(minor, campaign.currency),
            "label": money.format_money(minor, campaign.currency, campaign.locale),
        }
        for minor in campaign.preset_amounts
    ]
    body = render_template(
        "donate/page.html",
        campaign=campaign,
        presets=presets,
        error=error,
        attempt=uuid.uuid4().hex,
        amount=form.get("amount", ""),
        frequency=form.get("frequency", "once"),
        symbol=money.format_money(0, campaign.currency, campaign.locale).replace("0", "").strip(),
        example=money.format_major(10 ** money.exponent(campaign.currency) * 10, campaign.currency),
    )
    return _html(body, status)


@donate.get("/donate/<slug>")
def page(slug: str) -> Response:
    return _page(services.require_campaign(slug))


@donate.post("/donate/<slug>")
def checkout(slug: str) -> BaseResponse:
    campaign = services.require_campaign(slug)
    address = request.remote_addr or "-"
    wait_s = _checkout_wait_s(address)
    if wait_s is not None:
        response = error_response(
            429,
            "Too many payment attempts from your address. "
            f"Please try again in {(wait_s + 59) // 60} minutes.",
        )
        response.headers["Retry-After"] = str(wait_s)
        return response
    try:
        choice = parse_form(request.form, campaign)
    except FormError as exc:
        typed = [v.strip() for v in request.form.getlist("amount") if v.strip()]
        return _page(
            campaign,
            400,
            str(exc),
            amount=(typed[-1] if typed else "")[:40],
            frequency=request.form.get("frequency", "once")
            if request.form.get("frequency") in FREQUENCIES
            else "once",
        )
    req = payments.CheckoutRequest(
        campaign_slug=campaign.slug,
        campaign_name=campaign.name,
        currency=campaign.currency,
        amount_minor=choice.amount_minor,
        frequency=choice.frequency,
        success_url=url_for("donate.thanks", slug=campaign.slug, _external=True),
        cancel_url=url_for("donate.page", slug=campaign.slug, _external=True),
        idempotency_key=idempotency_key(campaign, _attempt(request.form), choice),
    )
    try:
        url = payments.create_checkout_session(req)
    except payments.PaymentError:
        log.warning("checkout not started campaign_id=%s", campaign.id)
        return error_response(
            502,
            "We could not reach our payment provider. Nothing was charged; "
            "please try again in a few minutes.",
        )
    _count_checkout(address)  # only a session made counts against the address
    return redirect(url, code=303)


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
    campaign = services.require_campaign(slug)
    return _html(render_template("donate/thanks.html", campaign=campaign))


def _html(body: str, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = headers.DONATE_CSP
    return response
