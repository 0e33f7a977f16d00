"""Response headers, set in one place (tracker.headers) for every answer."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.adminkit import log_in, make_admin
from tests.factories import make_campaign, make_donation
from tracker import headers

PUBLIC_PAGES = [
    "/donate/southfront",
    "/donate/southfront/thanks",
    "/donate/nope",
    "/embed/southfront",
    "/embed/southfront/demo",
    "/embed/nope",
    "/no-such-page",
    "/metrics",  # 403 to a stranger, below
]
ADMIN_PAGES = [
    "/admin/",
    "/admin/campaigns",
    "/admin/campaigns/southfront",
    "/admin/campaigns/southfront/embed",
    "/admin/donations",
    "/admin/months",
    "/admin/review",
    "/admin/audit",
    "/admin/nope",
]


def _script_sources(csp: str) -> str:
    found = re.search(r"script-src ([^;]*)", csp) or re.search(r"default-src ([^;]*)", csp)
    assert found, csp
    return found.group(1)


def _check_html(response, url: str) -> None:
    assert response.mimetype == "text/html", url
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp, url
    sources = _script_sources(csp)
    assert "unsafe-inline" not in sources and "*" not in sources, url
    assert "frame-ancestors" in csp, url
    assert response.headers["Permissions-Policy"] == headers.PERMISSIONS_POLICY, url
    assert response.headers["X-Content-Type-Options"] == "nosniff", url
    if "frame-ancestors 'none'" in csp:
        assert response.headers["X-Frame-Options"] == "DENY", url


@pytest.fixture()
def campaign(db):
    made = make_campaign("southfront")
    make_donation(made, 1000)
    return made


@pytest.mark.parametrize("url", PUBLIC_PAGES)
def test_every_public_html_page_restricts_scripts(client, campaign, url) -> None:
    response = client.get(url, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    _check_html(response, url)


def test_every_admin_page_restricts_scripts_and_is_never_framed(client, campaign) -> None:
    make_admin()
    log_in(client)
    for url in ADMIN_PAGES + ["/admin/login"]:
        response = client.get(url)
        _check_html(response, url)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store", url
        assert response.headers["Referrer-Policy"] == "same-origin", url


def test_the_widget_may_be_framed_the_rest_not(client, campaign) -> None:
    widget = client.get("/embed/southfront").headers["Content-Security-Policy"]
    assert (
        "frame-ancestors *" in widget
        and "X-Frame-Options" not in client.get("/embed/southfront").headers
    )
    for url in ("/donate/southfront", "/embed/southfront/demo", "/no-such-page"):
        assert "frame-ancestors 'none'" in client.get(url).headers["Content-Security-Policy"]


def test_the_donate_form_may_lead_on_to_stripe_only(client, campaign) -> None:
    csp = client.get("/donate/southfront").headers["Content-Security-Policy"]
    assert "form-action 'self' https://checkout.stripe.com https://billing.stripe.com" in csp


def test_json_and_text_answers_carry_the_common_headers(client, campaign) -> None:
    for url in ("/api/v1/campaigns/southfront/progress", "/healthz", "/embed/nope.js"):
        response = client.get(url)
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["Permissions-Policy"] == headers.PERMISSIONS_POLICY, url
        assert "default-src 'none'" in response.headers["Content-Security-Policy"], url


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("PUT", "/webhooks/stripe", {"POST", "OPTIONS"}),
        ("POST", "/api/v1/campaigns/southfront/progress", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/embed/southfront", {"GET", "HEAD", "OPTIONS"}),
        ("PATCH", "/donate/southfront", {"GET", "HEAD", "POST", "OPTIONS"}),
    ],
)
def test_a_405_names_the_allowed_methods(client, campaign, method, url, allowed) -> None:
    response = client.open(url, method=method)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    body = response.get_json()["message"] if response.is_json else response.get_data(as_text=True)
    assert f"{method} is not allowed here; use " in body


def test_https_answers_carry_hsts_on_both_paths(client, campaign) -> None:
    path = "/api/v1/campaigns/southfront/progress"
    first = client.get(path, base_url="https://localhost")  # Flask builds the entry
    second = client.get(path, base_url="https://localhost")  # the fast path serves it
    for response in (first, second):
        assert response.headers["Strict-Transport-Security"] == headers.HSTS
    assert "Strict-Transport-Security" not in client.get(path).headers


def test_completed_adds_only_what_is_missing(app: Flask) -> None:
    given = [("Content-Security-Policy", "default-src 'none'; frame-ancestors *")]
    out = headers.completed(given, "text/html", secure=False, private=False)
    assert out[0] == given[0]
    assert ("X-Frame-Options", "DENY") not in out
    names = [name for name, _ in out]
    assert len(names) == len(set(names))
    private = headers.completed(
        [("Referrer-Policy", "no-referrer")], "text/html", secure=True, private=True
    )
    assert ("Referrer-Policy", "same-origin") in private
    assert ("Referrer-Policy", "no-referrer") not in private
    assert ("Cache-Control", "no-store") in private
    assert ("Strict-Transport-Security", headers.HSTS) in private
