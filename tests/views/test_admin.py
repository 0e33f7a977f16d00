"""The admin dashboard: login, guards, pages and actions."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime

import markupsafe
import pytest
import time_machine
from flask import Flask
from sqlalchemy import func, select

from tests.adminkit import EMAIL, PASSWORD, csrf_token, log_in, make_admin
from tests.factories import make_campaign, make_donation
from tracker import accounts, embeds, reports, services
from tracker.extensions import db as sa_db
from tracker.models import (
    AuditEntry,
    Campaign,
    Donation,
    PaymentAdjustment,
    Period,
    ReviewPayment,
)
from tracker.views.admin import safe_next

NOV_23 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
URL_ARGS = {
    "slug": "southfront",
    "donation_id": 1,
    "review_id": 1,
    "notification_id": 1,
    "event_id": "evt_1",
}


@pytest.fixture()
def nov23():
    """Frozen at 23 Nov 2026; requested before admin_client, so the login is signed then."""
    with time_machine.travel(NOV_23, tick=False):
        yield


@pytest.fixture()
def admin_client(client):
    make_admin()
    log_in(client)
    return client


def count(model: type) -> int:
    return sa_db.session.execute(select(func.count()).select_from(model)).scalar_one()


def admin_rules(app: Flask, method: str) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        # An anonymous visitor may log in, and pick the login page's language.
        if not rule.endpoint.startswith("admin.") or rule.endpoint in (
            "admin.login",
            "admin.language",
        ):
            continue
        if method in rule.methods:
            path = rule.rule
            for name, value in URL_ARGS.items():
                path = path.replace(f"<{name}>", str(value)).replace(f"<int:{name}>", str(value))
            urls.append(path)
    return sorted(urls)


def audit_actions() -> list[str]:
    return list(sa_db.session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())


# --- guards --------------------------------------------------------------------


def test_every_admin_page_refuses_an_anonymous_user(app, client) -> None:
    make_campaign("southfront")
    urls = admin_rules(app, "GET")
    assert {"/admin/", "/admin/campaigns", "/admin/donations", "/admin/review"} <= set(urls)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/admin/login?next="), url


def test_every_admin_action_refuses_an_anonymous_user(app, client) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 1000)
    token = csrf_token(client)
    urls = admin_rules(app, "POST")
    assert "/admin/donations/1/void" in urls
    for url in urls:
        response = client.post(
            url,
            data={"csrf_token": token, "amount": "1", "campaign": "southfront", "name": "x"},
        )
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/admin/login"), url
    assert count(Donation) == 1
    assert count(Campaign) == 1
    assert services.require_campaign("southfront").name == "Support us"


def test_every_post_without_csrf_token_is_refused(app, admin_client) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 1000)
    before = audit_actions()
    for url in admin_rules(app, "POST") + ["/admin/login"]:
        response = admin_client.post(
            url,
            data={"amount": "1", "campaign": "southfront", "name": "x", "email": EMAIL},
        )
        assert response.status_code == 400, url
        assert "CSRF" in response.get_data(as_text=True), url
    assert count(Donation) == 1
    assert services.require_campaign("southfront").name == "Support us"
    assert audit_actions() == before
    assert admin_client.get("/admin/").status_code == 200  # still logged in


def test_a_token_from_another_session_is_refused(app, admin_client) -> None:
    other = app.test_client()
    foreign = csrf_token(other)
    response = admin_client.post(
        "/admin/campaigns",
        data={
            "csrf_token": foreign,
            "slug": "x",
            "name": "x",
            "currency": "USD",
            "milestones": "0,10",
        },
    )
    assert response.status_code == 400
    assert count(Campaign) == 0


def test_admin_pages_send_security_headers(admin_client) -> None:
    for url in ("/admin/", "/admin/login", "/admin/no-such-page"):
        response = admin_client.get(url)
        assert response.headers["X-Frame-Options"] == "DENY", url
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, url
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert response.headers["Permissions-Policy"].startswith("accelerometer=()"), url
        assert response.headers["Cache-Control"] == "no-store", url
        assert response.headers["Referrer-Policy"] == "same-origin", url


def test_stylesheet_is_served_from_self(admin_client) -> None:
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert '<link rel="stylesheet" href="/static/admin/admin.css">' in page
    assert "<style" not in page and " style=" not in page  # the CSP would block them
    css = admin_client.get("/static/admin/admin.css")
    assert css.status_code == 200
    assert css.mimetype == "text/css"


# --- login ---------------------------------------------------------------------


def test_login_redirects_into_admin_with_safe_cookies(client) -> None:
    make_admin()
    token = csrf_token(client)
    response = client.post(
        "/admin/login",
        data={"email": "  ADA@example.org ", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert client.get("/admin/").status_code == 200
    assert audit_actions() == ["admin_created", "login"]


def test_wrong_password_is_refused(client) -> None:
    make_admin()
    token = csrf_token(client)
    response = client.post(
        "/admin/login", data={"email": EMAIL, "password": "wrong password!", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Wrong email or password" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_password_is_stored_hashed_with_argon2(make_app, db) -> None:
    strong = make_app(TRACKER_CHEAP_PASSWORD_HASH=False)
    with strong.app_context():
        make_admin()
    admin = accounts.find_admin(EMAIL)
    assert admin is not None
    assert admin.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in admin.password_hash
    assert accounts.authenticate(EMAIL, PASSWORD) is admin
    assert accounts.authenticate(EMAIL, PASSWORD + "!") is None


def test_cheap_hash_only_when_testing(app, make_app) -> None:
    with app.app_context():
        assert accounts.hasher() is not accounts._STRONG
    with make_app(TESTING=False).app_context():
        assert accounts.hasher() is accounts._STRONG


def _fail(client, email: str, address: str = "10.0.0.1", password: str = "nope nope nope"):
    token = csrf_token(client)
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def test_ten_failures_for_one_email_answer_429(client) -> None:
    make_admin()
    for attempt in range(10):  # from ten different addresses
        assert _fail(client, EMAIL, f"10.0.0.{attempt}").status_code == 401
    blocked = _fail(client, EMAIL, "10.0.1.1", PASSWORD)  # even the right password
    assert blocked.status_code == 429
    assert "Too many failed logins for this email or address" in blocked.get_data(as_text=True)
    assert 'name="password"' in blocked.get_data(as_text=True)  # the form, to try later
    assert int(blocked.headers["Retry-After"]) > 0
    assert client.get("/admin/").status_code == 302
    # another email from another address is not blocked
    make_admin("grace@example.org")
    assert _fail(client, "grace@example.org", "10.0.2.1", PASSWORD).status_code == 302


def test_ten_failures_from_one_address_answer_429(client) -> None:
    make_admin()
    for attempt in range(10):  # ten different emails
        assert _fail(client, f"user{attempt}@example.org", "10.9.9.9").status_code == 401
    assert _fail(client, EMAIL, "10.9.9.9", PASSWORD).status_code == 429
    assert _fail(client, EMAIL, "10.9.9.10", PASSWORD).status_code == 302


def test_failures_are_forgotten_after_fifteen_minutes(client) -> None:
    make_admin()
    with time_machine.travel(NOV_23, tick=False):
        for _ in range(10):
            assert _fail(client, EMAIL).status_code == 401
        assert _fail(client, EMAIL).status_code == 429
    with time_machine.travel(datetime(2026, 11, 23, 15, 16, tzinfo=UTC), tick=False):
        assert _fail(client, EMAIL, password=PASSWORD).status_code == 302


def test_login_refuses_when_the_counter_is_unreachable(make_app, db) -> None:
    make_admin()
    # Nothing listens on port 1: the counter's Redis is away.
    client = make_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0").test_client()
    response = _fail(client, EMAIL, password=PASSWORD)
    assert response.status_code == 503
    assert client.get("/admin/").status_code == 302


def test_nine_failures_then_success_logs_in(client) -> None:
    make_admin()
    for _ in range(9):
        assert _fail(client, EMAIL).status_code == 401
    assert _fail(client, EMAIL, password=PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/admin/",
        "http:evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "///evil.example",
        "/%0a/evil.example",
        "/%09/evil.example",
        "/%5Cevil.example",
    ],
)
def test_next_never_leaves_the_site(client, target) -> None:
    make_admin()
    token = csrf_token(client)
    response = client.post(
        f"/admin/login?next={target}" if "%" in target else "/admin/login",
        query_string=None if "%" in target else {"next": target},
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_next_to_a_local_path_is_followed(client) -> None:
    make_admin()
    first = client.get("/admin/donations?campaign=x")
    location = first.headers["Location"]
    assert location == "/admin/login?next=%2Fadmin%2Fdonations%3Fcampaign%3Dx"
    token = csrf_token(client)
    response = client.post(
        location, data={"email": EMAIL, "password": PASSWORD, "csrf_token": token}
    )
    assert response.headers["Location"] == "/admin/donations?campaign=x"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/admin/campaigns", "/admin/campaigns"),
        ("/admin/donations?month=2026-11", "/admin/donations?month=2026-11"),
        ("//evil", None),
        ("/\\evil", None),
        ("https://x", None),
        ("", None),
        (None, None),
        ("/a\r\nSet-Cookie: x", None),
    ],
)
def test_safe_next(target, expected) -> None:
    assert safe_next(target) == expected


def test_login_page_when_logged_in_goes_on(admin_client) -> None:
    response = admin_client.get("/admin/login?next=/admin/review")
    assert response.headers["Location"] == "/admin/review"
    response = admin_client.get("/admin/login?next=//evil.example")
    assert response.headers["Location"] == "/admin/"


def test_a_password_reset_ends_existing_sessions(admin_client) -> None:
    assert admin_client.get("/admin/").status_code == 200
    accounts.set_admin_password(EMAIL, "a brand new password")
    sa_db.session.commit()
    assert admin_client.get("/admin/").status_code == 302


def test_logout(admin_client) -> None:
    token = csrf_token(admin_client, "/admin/")
    response = admin_client.post("/admin/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert admin_client.get("/admin/").status_code == 302
    assert audit_actions()[-1] == "logout"


# --- campaigns -----------------------------------------------------------------

CAMPAIGN = {
    "slug": "southfront",
    "name": "Support us",
    "currency": "usd",
    "timezone": "Europe/Berlin",
    "locale": "de_DE",
    "milestones": "0,2500,5000",
    "presets": "5,10,25",
    "allowed_origins": "https://news.example, https://blog.example/",
}


def test_create_campaign(admin_client) -> None:
    token = csrf_token(admin_client, "/admin/campaigns")
    response = admin_client.post("/admin/campaigns", data={**CAMPAIGN, "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/campaigns/southfront"
    campaign = services.require_campaign("southfront")
    assert campaign.currency == "USD"
    assert campaign.timezone == "Europe/Berlin"
    assert campaign.locale == "de_DE"
    assert campaign.milestones == [0, 250000, 500000]
    assert campaign.preset_amounts == [500, 1000, 2500]
    assert campaign.allowed_origins == ["https://news.example", "https://blog.example"]
    assert audit_actions()[-1] == "campaign_created"
    page = admin_client.get("/admin/campaigns/southfront").get_data(as_text=True)
    assert 'value="0,2500,5000"' in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slug", "Bad Slug", "invalid slug"),
        ("slug", "", "invalid slug"),
        ("name", "", "This field is required"),
        ("currency", "XYZ", "unknown currency"),
        ("timezone", "Mars/Olympus", "unknown timezone"),
        ("locale", "xx_YY_ZZ!", "unknown locale"),
        ("milestones", "0,5000,2500", "strictly ascending"),
        ("milestones", "0,1e3", "exponent"),
        ("milestones", "0,10.555", "at most 2 decimal places"),
        ("presets", "5,-1", "greater than zero"),
        ("allowed_origins", "javascript:alert(1)", "invalid origin"),
    ],
)
def test_create_campaign_shows_errors_on_the_form(admin_client, field, value, message) -> None:
    token = csrf_token(admin_client, "/admin/campaigns")
    response = admin_client.post(
        "/admin/campaigns", data={**CAMPAIGN, field: value, "csrf_token": token}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    field_block = re.search(
        rf'<div class="field invalid">\s*<label for="{field}">.*?</div>', page, re.S
    )
    assert field_block, page
    assert message in field_block.group(0).replace("&#39;", "'")
    assert count(Campaign) == 0


def test_existing_slug_is_refused_on_the_form(admin_client) -> None:
    make_campaign("southfront")
    token = csrf_token(admin_client, "/admin/campaigns")
    response = admin_client.post("/admin/campaigns", data={**CAMPAIGN, "csrf_token": token})
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert services.require_campaign("southfront").timezone == "UTC"


def test_edit_campaign_changes_this_month_not_the_past(nov23, admin_client) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 1000, datetime(2026, 10, 5, tzinfo=UTC))
    token = csrf_token(admin_client, "/admin/campaigns/southfront")
    response = admin_client.post(
        "/admin/campaigns/southfront",
        data={
            "csrf_token": token,
            "name": "New name",
            "timezone": "UTC",
            "locale": "en",
            "milestones": "0,100,200.50",
            "presets": "",
            "allowed_origins": "",
            "currency": "EUR",  # not editable: ignored
        },
    )
    assert response.status_code == 303
    sa_db.session.expire_all()
    campaign = services.require_campaign("southfront")
    assert campaign.name == "New name"
    assert campaign.currency == "USD"
    assert campaign.milestones == [0, 10000, 20050]
    periods = {
        (p.year, p.month): p.milestones for p in sa_db.session.execute(select(Period)).scalars()
    }
    assert periods[(2026, 11)] == [0, 10000, 20050]
    assert periods[(2026, 10)] == [0, 250000, 500000]
    entry = sa_db.session.execute(
        select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)
    ).scalar_one()
    assert entry.action == "campaign_edited"
    assert entry.actor == EMAIL
    assert entry.detail["changed"]["name"] == ["Support us", "New name"]


def test_edit_campaign_error_changes_nothing(admin_client) -> None:
    make_campaign("southfront")
    token = csrf_token(admin_client, "/admin/campaigns/southfront")
    response = admin_client.post(
        "/admin/campaigns/southfront",
        data={
            "csrf_token": token,
            "name": "New",
            "timezone": "UTC",
            "locale": "en",
            "milestones": "0,-5",
        },
    )
    assert response.status_code == 422
    assert "must not be negative" in response.get_data(as_text=True) or "greater than zero" in (
        response.get_data(as_text=True)
    )
    sa_db.session.expire_all()
    assert services.require_campaign("southfront").name == "Support us"


def test_unknown_campaign_is_404(admin_client) -> None:
    response = admin_client.get("/admin/campaigns/nope")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "no campaign &#39;nope&#39;" in page
    assert "/static/admin/admin.css" in page and "<style" not in page  # styled under the CSP
    assert admin_client.get("/admin/donations?campaign=nope").status_code == 404


# --- donations -----------------------------------------------------------------


def test_add_manual_donation(nov23, admin_client) -> None:
    make_campaign("southfront", timezone="America/Los_Angeles")
    token = csrf_token(admin_client, "/admin/donations")
    response = admin_client.post(
        "/admin/donations",
        data={
            "csrf_token": token,
            "campaign": "southfront",
            "amount": "12.50",
            "received_at": "2026-10-31T23:30",
            "donor": "Ada",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/donations?campaign=southfront&month=2026-10"
    donation = sa_db.session.execute(select(Donation)).scalar_one()
    assert donation.amount_minor == 1250
    assert donation.source == "manual"
    assert donation.received_at == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert (donation.period.year, donation.period.month, donation.period.raised_minor) == (
        2026,
        10,
        1250,
    )
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "12.50 $" in page and "Ada" in page
    assert audit_actions()[-1] == "donation_added"


@pytest.mark.parametrize(
    ("amount", "received_at", "message"),
    [
        ("-5", "", "greater than zero"),
        ("0", "", "greater than zero"),
        ("abc", "", "plain decimal"),
        ("1e3", "", "exponent"),
        ("1.005", "", "at most 2 decimal places"),
        ("NaN", "", "finite"),
        ("10", "yesterday", "ISO 8601"),
        ("10", "2027-01-01T00:00", "future"),
    ],
)
def test_bad_manual_donation_is_refused(nov23, admin_client, amount, received_at, message) -> None:
    make_campaign("southfront")
    token = csrf_token(admin_client, "/admin/donations")
    response = admin_client.post(
        "/admin/donations",
        data={
            "csrf_token": token,
            "campaign": "southfront",
            "amount": amount,
            "received_at": received_at,
        },
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(Donation) == 0


@pytest.mark.parametrize(
    ("received_at", "status"),
    [("2026-11-23T15:04:59Z", 303), ("2026-11-23T15:05:01Z", 422), ("2030-01-01", 422)],
)
def test_a_manual_donation_up_to_five_minutes_ahead_is_clock_skew(
    nov23, admin_client, received_at, status
) -> None:
    make_campaign("southfront")
    token = csrf_token(admin_client, "/admin/donations")
    response = admin_client.post(
        "/admin/donations",
        data={
            "csrf_token": token,
            "campaign": "southfront",
            "amount": "10",
            "received_at": received_at,
        },
    )
    assert response.status_code == status
    assert count(Donation) == (1 if status == 303 else 0)
    assert sa_db.session.scalar(select(func.max(Period.year))) in (None, 2026)  # none in 2030


def test_donations_of_any_month_paginated_and_searchable(nov23, admin_client) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 700, datetime(2026, 10, 3, tzinfo=UTC), donor_name="Octavia")
    for i in range(55):
        services.record_donation(
            campaign,
            amount_minor=100 + i,
            received_at=datetime(2026, 11, 1, 0, i, tzinfo=UTC),
            source="manual",
            donor_name=f"Donor {i:02d}",
        )
    make_donation(campaign, 999, donor_name="Grace_Hopper 100%")
    page1 = admin_client.get("/admin/donations?campaign=southfront").get_data(as_text=True)
    assert "page 1 of 2 (56)" in page1
    assert "Octavia" not in page1
    assert "Grace_Hopper" in page1  # newest first
    page2 = admin_client.get("/admin/donations?campaign=southfront&page=2").get_data(as_text=True)
    assert "Donor 00" in page2 and "Donor 54" not in page2
    october = admin_client.get("/admin/donations?campaign=southfront&month=2026-10")
    assert "Octavia" in october.get_data(as_text=True)
    found = admin_client.get("/admin/donations?campaign=southfront&q=hopper 100%")
    text = found.get_data(as_text=True)
    assert "Grace_Hopper" in text and "Donor 01" not in text
    # LIKE wildcards are matched literally
    none = admin_client.get("/admin/donations?campaign=southfront&q=_%25").get_data(as_text=True)
    assert "Donor 01" not in none
    bad = admin_client.get("/admin/donations?campaign=southfront&month=2026-13")
    assert bad.status_code == 400
    assert "invalid month" in bad.get_data(as_text=True)


def _post(client, url: str, **data: str):
    token = csrf_token(client, "/admin/")
    return client.post(url, data={"csrf_token": token, **data})


def test_void_manual_donation(nov23, admin_client) -> None:
    campaign = make_campaign("southfront")
    keep = make_donation(campaign, 1000)
    gone = make_donation(campaign, 500)
    response = _post(admin_client, f"/admin/donations/{gone.id}/void")
    assert response.status_code == 303
    sa_db.session.expire_all()
    period = services.period_for(campaign, NOV_23)
    assert (period.raised_minor, period.donations) == (1000, 1)
    assert sa_db.session.get(Donation, keep.id) is not None
    assert audit_actions()[-1] == "donation_voided"


def test_refund_manual_donation_partly_then_rest(nov23, admin_client) -> None:
    campaign = make_campaign("southfront")
    donation = make_donation(campaign, 1000)
    url = f"/admin/donations/{donation.id}/refund"
    assert _post(admin_client, url, amount="2.50").status_code == 303
    sa_db.session.expire_all()
    assert sa_db.session.get(Donation, donation.id).refunded_minor == 250
    assert services.period_for(campaign, NOV_23).raised_minor == 750
    too_much = _post(admin_client, f"/admin/donations/{donation.id}/refund", amount="8")
    assert too_much.status_code == 422
    assert "at most 7.50 USD is left to refund" in too_much.get_data(as_text=True)
    assert _post(admin_client, url, amount="").status_code == 303
    sa_db.session.expire_all()
    assert sa_db.session.get(Donation, donation.id).refunded_minor == 1000
    assert services.period_for(campaign, NOV_23).raised_minor == 0
    again = _post(admin_client, f"/admin/donations/{donation.id}/refund", amount="")
    assert again.status_code == 422
    assert "already refunded in full" in again.get_data(as_text=True)


def test_stripe_donation_is_refunded_through_stripe(nov23, admin_client, stripe_api) -> None:
    campaign = make_campaign("southfront")
    donation = make_donation(
        campaign, 5000, source="stripe", external_key="pi_abc", payment_intent_id="pi_abc"
    )
    void = _post(admin_client, f"/admin/donations/{donation.id}/void")
    assert void.status_code == 422
    assert "only manual donations can be voided" in void.get_data(as_text=True)
    response = _post(admin_client, f"/admin/donations/{donation.id}/refund", amount="")
    assert response.status_code == 303
    partial = _post(admin_client, f"/admin/donations/{donation.id}/refund", amount="10")
    assert partial.status_code == 303
    sent = [
        (c.form, c.headers["Idempotency-Key"]) for c in stripe_api.calls_to("POST", "/v1/refunds")
    ]
    assert sent == [
        ({"payment_intent": "pi_abc"}, f"admin-refund-{donation.id}-5000"),
        ({"payment_intent": "pi_abc", "amount": "1000"}, f"admin-refund-{donation.id}-1000"),
    ]
    sa_db.session.expire_all()
    # the charge.refunded webhook records it, not the dashboard
    assert sa_db.session.get(Donation, donation.id).refunded_minor == 0
    assert services.period_for(campaign, NOV_23).raised_minor == 5000
    assert audit_actions()[-2:] == ["stripe_refund_started", "stripe_refund_started"]


@pytest.mark.parametrize(
    ("currency", "typed", "stripe_amount"),
    [("USD", "12.50", "1250"), ("JPY", "1000", "1000"), ("ISK", "1000", "100000")],
)
def test_a_partial_stripe_refund_reaches_stripe_in_its_units(
    nov23, admin_client, stripe_api, currency, typed, stripe_amount
) -> None:
    campaign = make_campaign("south", currency=currency, milestones=[0, 10**9])
    donation = make_donation(
        campaign, 500_000, source="stripe", external_key="pi_u", payment_intent_id="pi_u"
    )
    response = _post(admin_client, f"/admin/donations/{donation.id}/refund", amount=typed)
    assert response.status_code == 303
    [call] = stripe_api.calls_to("POST", "/v1/refunds")
    assert call.form == {"payment_intent": "pi_u", "amount": stripe_amount}


def test_stripe_refund_error_is_shown(admin_client, stripe_api) -> None:
    refused = {
        "error": {
            "type": "invalid_request_error",
            "code": "charge_already_refunded",
            "message": "Charge ch_1 has already been refunded.",
        }
    }
    stripe_api.on("POST", "/v1/refunds", lambda call: (400, refused))
    campaign = make_campaign("southfront")
    donation = make_donation(
        campaign, 5000, source="stripe", external_key="pi_x", payment_intent_id="pi_x"
    )
    response = _post(admin_client, f"/admin/donations/{donation.id}/refund", amount="")
    assert response.status_code == 422
    assert (
        "Stripe did not accept the refund: Charge ch_1 has already been refunded."
        in response.get_data(as_text=True)
    )
    assert "stripe_refund_started" not in audit_actions()


def test_unknown_donation_is_404(admin_client) -> None:
    assert _post(admin_client, "/admin/donations/999/void").status_code == 404


# --- CSV -----------------------------------------------------------------------


def test_csv_export_streams_the_month_neutralised(nov23, admin_client) -> None:
    campaign = make_campaign("southfront", timezone="Europe/Berlin")
    evil = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx", 'plain, "quoted"']
    for i, name in enumerate(evil):
        make_donation(campaign, 1000 + i, datetime(2026, 11, 2, i, tzinfo=UTC), donor_name=name)
    refunded = make_donation(campaign, 2500, datetime(2026, 11, 3, tzinfo=UTC))
    services.adjust_donation(refunded, refunded_minor=1000)
    sa_db.session.commit()
    make_donation(campaign, 1, datetime(2026, 10, 3, tzinfo=UTC))  # another month
    response = admin_client.get("/admin/campaigns/southfront/export.csv?month=2026-11")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert 'filename="southfront-2026-11.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == [
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
        "ref",
        "utm_campaign",
    ]
    assert len(rows) == 1 + len(evil) + 1
    assert rows[1][1] == "2026-11-02T01:00:00+01:00"
    assert rows[1][2:5] == ["10", "USD", "10"]
    assert [row[9] for row in rows[1:8]] == [
        '\'=HYPERLINK("http://x")',
        "'+1+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        'plain, "quoted"',
    ]
    assert rows[8][2:7] == ["25", "USD", "15", "10", "0"]
    for row in rows[1:]:
        assert not any(cell[:1] in "=+-@\t\r" for cell in row if cell)
    assert audit_actions()[-1] == "csv_exported"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ada", "Ada"),
        ("", ""),
        ("1=1", "1=1"),
    ],
)
def test_neutralise(cell, expected) -> None:
    assert reports.neutralise(cell) == expected


def test_csv_of_an_empty_month_has_the_header(admin_client) -> None:
    make_campaign("southfront")
    response = admin_client.get("/admin/campaigns/southfront/export.csv?month=2020-01")
    assert response.get_data(as_text=True).splitlines() == [
        "id,received_at,amount,currency,net,refunded,disputed,source,external_key,donor,"
        "ref,utm_campaign"
    ]


# --- overview, months, snippets, audit -------------------------------------------


def test_overview_shows_each_campaign(nov23, admin_client) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 218000, donor_name="Ada")
    make_campaign("north", currency="EUR", locale="de")
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert 'data-raised-minor="218000"' in page
    assert "2,180 $" in page and "5,000 $" in page
    assert "7 days left" in page
    assert '<iframe class="preview" src="/embed/southfront"' in page
    assert '<iframe class="preview" src="/embed/north"' in page
    assert "Ada" in page


def test_months_page_lists_months_and_draws_a_chart(nov23, admin_client) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 100000, datetime(2026, 10, 5, tzinfo=UTC))
    make_donation(campaign, 50000, datetime(2026, 11, 5, tzinfo=UTC))
    october = services.find_period(campaign, services.Month(2026, 10))
    october.closed = True
    october.closed_raised_minor = 120000
    sa_db.session.commit()
    page = admin_client.get("/admin/months?campaign=southfront").get_data(as_text=True)
    assert "October 2026" in page and "November 2026" in page
    assert "1,200 $" in page  # closed_raised
    assert page.count('<rect class="bar"') == 12
    assert page.count('<line class="goal"') == 2
    bars = re.findall(r'<rect class="bar" x="\d+" y="(\d+)" width="\d+" height="(\d+)"', page)
    assert bars[-2] == ("128", "32")  # 1,000 of 5,000 (the goal, the top) in 160 units
    assert bars[-1] == ("144", "16")
    assert bars[0] == ("160", "0")


def test_chart_geometry_scales_to_the_tallest() -> None:
    Month = services.Month
    chart = reports.chart_geometry(
        [(Month(2026, 10), 600, 400), (Month(2026, 11), 0, None)], "USD", "en"
    )
    assert [bar.height for bar in chart.bars] == [160, 0]
    assert chart.bars[0].goal_y == 160 - 400 * 160 // 600
    assert chart.bars[1].goal_y is None
    assert chart.top_label == "6 $"
    empty = reports.chart_geometry([(Month(2026, 11), 0, None)], "USD", "en")
    assert [bar.height for bar in empty.bars] == [0]
    assert empty.top_label == "0 $"


def test_snippets_page_shows_the_one_set_of_snippets(admin_client) -> None:
    campaign = make_campaign("southfront", name='Support "us" <now>')
    page = admin_client.get("/admin/campaigns/southfront/embed").get_data(as_text=True)
    snippets = embeds.snippets("http://localhost/", campaign, embeds.WidgetOptions())
    assert set(snippets) == {"script", "iframe", "image"}
    for snippet in snippets.values():  # the public ones, shown as text to copy
        assert str(markupsafe.escape(snippet)) in page
    assert "<now>" not in page
    assert 'src="/embed/southfront.svg"' in page


def test_audit_log_page(admin_client) -> None:
    make_campaign("southfront")
    admin_client.get("/admin/campaigns/southfront/export.csv").get_data()
    page = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "CSV exported" in page and EMAIL in page and "southfront" in page


# --- review queue --------------------------------------------------------------


def review_row(**overrides) -> ReviewPayment:
    values = {
        "external_key": "pi_review1",
        "payment_intent_id": "pi_review1",
        "reason": "unassigned",
        "campaign_slug": None,
        "amount_minor": 2500,
        "currency": "usd",
        "received_at": datetime(2026, 10, 31, 23, 30, tzinfo=UTC),
    }
    values.update(overrides)
    row = ReviewPayment(**values)
    sa_db.session.add(row)
    sa_db.session.commit()
    return row


def test_review_queue_lists_payments(nov23, admin_client) -> None:
    review_row()
    review_row(
        external_key="in_eur",
        payment_intent_id=None,
        reason="currency",
        currency="eur",
        amount_minor=700,
        campaign_slug="southfront",
    )
    review_row(external_key="pi_live", payment_intent_id="pi_live", reason="livemode")
    page = admin_client.get("/admin/review").get_data(as_text=True)
    assert "pi_review1" in page and "in_eur" in page and "pi_live" in page
    assert "no campaign" in page and "other currency" in page and "other mode" in page
    assert "25" in page and "EUR" in page


def test_payload_text_reaches_the_review_page_with_control_characters_made_visible(
    nov23, admin_client
) -> None:
    from tests import stripe_events as se

    make_campaign("southfront")
    found = se.payment_intent(intent_id="pi_nul", amount=2500, created=NOV_23)
    found["metadata"] = {"campaign": "south\u0000front\u202e<b>x</b>"}
    evt = se.event("payment_intent.succeeded", found, event_id="evt_nul")
    assert se.deliver(admin_client, evt).get_json()["outcome"] == "review_unassigned"
    page = admin_client.get("/admin/review").get_data(as_text=True)
    assert "\x00" not in page and "\u202e" not in page and "<b>x</b>" not in page
    assert "south\\x00front\\u202e&lt;b&gt;x&lt;/b&gt;" in page


def test_rejected_events_are_listed_until_marked_seen(nov23, admin_client) -> None:
    from tests import stripe_events as se

    found = se.payment_intent(intent_id="pi_big", amount=2**62, created=NOV_23)
    evt = se.event("payment_intent.succeeded", found, event_id="evt_big")
    assert se.deliver(admin_client, evt).get_json()["outcome"] == "rejected"
    page = admin_client.get("/admin/review").get_data(as_text=True)
    assert 'id="event-evt_big"' in page
    assert "past 10^12 minor units" in page
    token = csrf_token(admin_client, "/admin/review")
    refused = admin_client.post("/admin/review/events/evt_big/seen")
    assert refused.status_code == 400  # no CSRF token
    seen = admin_client.post("/admin/review/events/evt_big/seen", data={"csrf_token": token})
    assert seen.status_code == 303
    assert 'id="event-evt_big"' not in admin_client.get("/admin/review").get_data(as_text=True)
    shown = admin_client.get("/admin/review?seen=1").get_data(as_text=True)
    assert 'id="event-evt_big"' in shown and "seen 11/23/26, 3:00\u202fPM UTC" in shown
    assert audit_actions()[-1] == "rejected_event_seen"
    missing = admin_client.post("/admin/review/events/evt_none/seen", data={"csrf_token": token})
    assert missing.status_code == 404


def test_assign_counts_in_the_month_paid(nov23, admin_client) -> None:
    campaign = make_campaign("southfront", timezone="Europe/Berlin")
    row = review_row()  # 31 Oct 23:30 UTC is 1 Nov in Berlin
    response = _post(admin_client, f"/admin/review/{row.id}/assign", campaign="southfront")
    assert response.status_code == 303
    sa_db.session.expire_all()
    donation = sa_db.session.execute(select(Donation)).scalar_one()
    assert (donation.source, donation.external_key, donation.payment_intent_id) == (
        "stripe",
        "pi_review1",
        "pi_review1",
    )
    assert donation.currency == "USD"
    assert (donation.period.year, donation.period.month) == (2026, 11)
    assert services.period_for(campaign, NOV_23).raised_minor == 2500
    row = sa_db.session.get(ReviewPayment, row.id)
    assert row.resolved_at == NOV_23
    assert row.donation_id == donation.id
    assert 'id="review-' not in admin_client.get("/admin/review").get_data(as_text=True)
    again = _post(admin_client, f"/admin/review/{row.id}/assign", campaign="southfront")
    assert again.status_code == 422
    assert "already assigned" in again.get_data(as_text=True)
    assert count(Donation) == 1
    assert audit_actions()[-1] == "review_assigned"


def test_foreign_currency_goes_only_to_its_currency(nov23, admin_client) -> None:
    make_campaign("southfront")
    make_campaign("north", currency="EUR")
    row = review_row(reason="currency", currency="eur", campaign_slug="southfront")
    wrong = _post(admin_client, f"/admin/review/{row.id}/assign", campaign="southfront")
    assert wrong.status_code == 422
    assert "is in EUR, campaign 'southfront' counts USD" in html.unescape(wrong.get_data(True))
    assert count(Donation) == 0
    sa_db.session.expire_all()
    assert sa_db.session.get(ReviewPayment, row.id).resolved_at is None
    right = _post(admin_client, f"/admin/review/{row.id}/assign", campaign="north")
    assert right.status_code == 303
    donation = sa_db.session.execute(select(Donation)).scalar_one()
    assert donation.currency == "EUR"
    assert donation.campaign.slug == "north"


@pytest.mark.parametrize(
    ("status", "disputed", "raised"), [(None, 0, 1500), ("lost", 500, 1000), ("won", 500, 1500)]
)
def test_assign_applies_an_earlier_refund(nov23, admin_client, status, disputed, raised) -> None:
    campaign = make_campaign("southfront")
    sa_db.session.add(PaymentAdjustment(payment_intent_id="pi_review1", refunded_minor=1000))
    sa_db.session.flush()
    if status is not None:  # the dispute's decision, kept as the ledger keeps it
        from tracker import ledger
        from tracker.payments.events import Dispute

        decided = Dispute("pi_review1", None, status, disputed, "USD", NOV_23)
        assert ledger.apply_dispute(decided) == "dispute_pending"
    sa_db.session.commit()
    row = review_row(received_at=datetime(2026, 11, 2, tzinfo=UTC))
    response = _post(admin_client, f"/admin/review/{row.id}/assign", campaign="southfront")
    assert response.status_code == 303
    donation = sa_db.session.execute(select(Donation)).scalar_one()
    assert donation.refunded_minor == 1000
    assert services.period_for(campaign, NOV_23).raised_minor == raised


def test_assign_refuses_a_payment_already_counted(nov23, admin_client) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 2500, source="stripe", external_key="pi_review1")
    row = review_row()
    response = _post(admin_client, f"/admin/review/{row.id}/assign", campaign="southfront")
    assert response.status_code == 422
    assert "already counted" in response.get_data(as_text=True)
    assert count(Donation) == 1


def test_assign_unknown_campaign_is_404(admin_client) -> None:
    row = review_row()
    make_campaign("southfront")
    response = _post(admin_client, f"/admin/review/{row.id}/assign", campaign="nope")
    assert response.status_code == 422
    assert count(Donation) == 0


# --- command line --------------------------------------------------------------


def test_create_admin_then_reset(runner) -> None:
    result = runner.invoke(
        args=["tracker", "create-admin", "Grace@Example.org", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "created admin grace@example.org" in result.output
    first = accounts.find_admin("grace@example.org").password_hash
    assert accounts.authenticate("grace@example.org", "a long enough password")
    result = runner.invoke(
        args=["tracker", "create-admin", "grace@example.org", "--password-stdin"],
        input="another long password\n",
    )
    assert result.exit_code == 0, result.output
    assert "reset the password" in result.output
    sa_db.session.expire_all()
    assert accounts.find_admin("grace@example.org").password_hash != first
    assert accounts.authenticate("grace@example.org", "a long enough password") is None
    assert accounts.authenticate("grace@example.org", "another long password")


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("grace@example.org", "short\n", "at least 12 characters"),
        ("grace@example.org", "\n", "at least 12 characters"),
        ("not-an-email", "a long enough password\n", "invalid email"),
    ],
)
def test_create_admin_refuses_bad_input(runner, email, password, message) -> None:
    result = runner.invoke(
        args=["tracker", "create-admin", email, "--password-stdin"], input=password
    )
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert count(AuditEntry) == 0
    assert accounts.find_admin(email) is None
