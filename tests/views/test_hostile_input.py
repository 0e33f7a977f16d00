"""Malformed requests get a clear 4xx and never a trace."""

from __future__ import annotations

import re

import pytest

PATHS = [
    "/api/v1/campaigns/%ff%fe/progress",
    "/api/v1/campaigns/a%00b/progress",
    "/api/v1/campaigns/" + "a" * 10000 + "/progress",
    "/api/v1/campaigns/%C0%AF/periods",
    "/api/v1/campaigns/../../etc/passwd/progress",
    "/" + "x" * 20000,
    "/embed/%00",
]


@pytest.mark.parametrize("path", PATHS)
def test_malformed_paths_are_4xx(client, path) -> None:
    response = client.get(path)
    assert 400 <= response.status_code < 500
    assert b"Traceback" not in response.data
    assert len(response.data) < 2000


def test_query_with_invalid_bytes_is_harmless(client) -> None:
    response = client.get("/api/v1/campaigns/nope/progress?a=%ff&b=%00")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


BIG = b"x" * (1024 * 1024 + 1)


def test_webhook_body_over_1_mib_is_413_json(client) -> None:
    response = client.post(
        "/webhooks/stripe",
        data=BIG,
        headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"


def _token(client, url: str) -> bytes:
    match = re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', client.get(url).get_data(as_text=True)
    )
    assert match, url
    return match.group(1).encode()


def _post_form(client, path: str, body: bytes):
    return client.post(path, data=body, content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("path", ["/donate/southfront", "/admin/login"])
def test_form_body_over_1_mib_is_413(client, path) -> None:
    from tests.factories import make_campaign

    make_campaign("southfront")
    token = _token(client, path)
    response = _post_form(client, path, b"csrf_token=" + token + b"&amount=" + BIG)
    assert response.status_code == 413
    assert b"Traceback" not in response.data


def test_nul_and_invalid_utf8_in_form_fields_are_4xx(client, stripe_api) -> None:
    from tests.factories import make_campaign

    make_campaign("southfront")
    token = b"csrf_token=" + _token(client, "/donate/southfront")
    for data in (b"&amount=1%00&frequency=once", b"&amount=%ff%fe&frequency=once"):
        response = _post_form(client, "/donate/southfront", token + data)
        assert response.status_code == 400
        assert "amount" in response.get_data(as_text=True)
    assert stripe_api.calls == []
    # The same token with a good amount goes on to Stripe: the 400s above were the field's.
    good = _post_form(client, "/donate/southfront", token + b"&amount=10&frequency=once")
    assert good.status_code == 303
