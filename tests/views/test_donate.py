"""GET/POST /donate/<slug>: the page, validation, the exact Checkout call, errors, rate limit."""

from __future__ import annotations

import logging
import re

import pytest

from tests.factories import make_campaign


@pytest.fixture()
def campaign(db):
    return make_campaign("southfront", preset_amounts=[500, 1000, 2500])


def form_tokens(client, slug="southfront") -> dict[str, str]:
    html = client.get(f"/donate/{slug}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    attempt = re.search(r'name="attempt" value="([^"]+)"', html).group(1)
    return {"csrf_token": token, "attempt": attempt}


def post(client, slug="southfront", tokens=None, **fields):
    data = dict(tokens if tokens is not None else form_tokens(client, slug))
    data.update(fields)
    return client.post(f"/donate/{slug}", data=data)


# --- the page ------------------------------------------------------------------


def test_page_shows_presets_custom_and_frequency(client, campaign) -> None:
    response = client.get("/donate/southfront")
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    for value, label in (("5", "5 $"), ("10", "10 $"), ("25", "25 $")):
        assert f'type="radio" name="amount" value="{value}"' in html
        assert f"<span>{label}</span>" in html
    assert 'id="custom-amount" name="amount"' in html
    assert 'name="frequency" value="once" checked' in html
    assert 'name="frequency" value="monthly"' in html
    assert 'name="csrf_token"' in html
    assert "<h1>Support us</h1>" in html  # the campaign's name, as it is
    assert "width=device-width" in html


def test_page_in_the_campaigns_locale(client, db) -> None:
    make_campaign("berlin", currency="EUR", locale="de", preset_amounts=[1050, 250000])
    html = client.get("/donate/berlin").get_data(as_text=True)
    assert "10,50 €" in html
    assert "2.500 €" in html
    assert 'value="10.50"' in html  # values stay plain decimals, as the parser reads them


def test_unknown_campaign_is_a_small_404_page(client, db) -> None:
    response = client.get("/donate/nope")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "no campaign" in response.get_data(as_text=True)
    assert response.headers["X-Frame-Options"] == "DENY"


def test_thank_you_page(client, campaign) -> None:
    response = client.get("/donate/southfront/thanks?session_id=cs_test_1")
    assert response.status_code == 200
    assert "Thank you" in response.get_data(as_text=True)
    assert response.headers["X-Frame-Options"] == "DENY"


# --- creating the Checkout Session ---------------------------------------------


def test_one_off_donation_creates_the_session_spec_describes(client, campaign, stripe_api) -> None:
    tokens = form_tokens(client)
    response = post(client, tokens=tokens, amount="12.50", frequency="once")
    assert response.status_code == 303
    [call] = stripe_api.calls
    assert response.headers["Location"] == call.answer["url"]
    assert call.answer["url"].startswith("https://checkout.stripe.com/")
    assert (call.method, call.path) == ("POST", "/v1/checkout/sessions")
    assert call.headers["Authorization"] == "Bearer sk_test_123"
    assert call.headers["Idempotency-Key"] == (
        f"checkout-{campaign.id}-{tokens['attempt']}-1250-once"
    )
    assert call.form == {
        "mode": "payment",
        "submit_type": "donate",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "1250",
        "line_items[0][price_data][product_data][name]": "Donation to Support us",
        "line_items[0][quantity]": "1",
        "adaptive_pricing[enabled]": "false",
        "metadata[campaign]": "southfront",
        "payment_intent_data[metadata][campaign]": "southfront",
        "success_url": "http://localhost/donate/southfront/thanks?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://localhost/donate/southfront",
    }


def test_monthly_donation_is_a_subscription(client, campaign, stripe_api) -> None:
    response = post(client, amount="10", frequency="monthly")
    assert response.status_code == 303
    params = stripe_api.calls[0].form
    assert params["mode"] == "subscription"
    assert params["line_items[0][price_data][recurring][interval]"] == "month"
    assert params["line_items[0][price_data][unit_amount]"] == "1000"
    assert params["subscription_data[metadata][campaign]"] == "southfront"
    assert params["metadata[campaign]"] == "southfront"
    assert params["adaptive_pricing[enabled]"] == "false"
    assert not any(key.startswith("payment_intent_data") for key in params)
    assert "submit_type" not in params
    assert params["success_url"] == (
        "http://localhost/donate/southfront/thanks?monthly=1&session_id={CHECKOUT_SESSION_ID}"
    )


def test_a_typed_amount_wins_over_a_preset(client, campaign, stripe_api) -> None:
    data = form_tokens(client)
    response = client.post(
        "/donate/southfront", data={**data, "amount": ["10", "42"], "frequency": "once"}
    )
    assert response.status_code == 303
    assert stripe_api.calls[0].form["line_items[0][price_data][unit_amount]"] == "4200"


@pytest.mark.parametrize(
    ("currency", "typed", "sent"),
    [("JPY", "1500", "1500"), ("ISK", "2000", "200000"), ("KWD", "5.250", "5250")],
)
def test_amount_in_stripe_units(client, db, stripe_api, currency, typed, sent) -> None:
    make_campaign("c", currency=currency, milestones=[0, 10**6])
    assert post(client, "c", amount=typed, frequency="once").status_code == 303
    params = stripe_api.calls[0].form
    assert params["line_items[0][price_data][unit_amount]"] == sent
    assert params["line_items[0][price_data][currency]"] == currency.lower()


def test_double_click_reuses_the_key_a_new_page_does_not(client, campaign, stripe_api) -> None:
    tokens = form_tokens(client)
    post(client, tokens=tokens, amount="20", frequency="once")
    post(client, tokens=tokens, amount="20", frequency="once")
    keys = [c.headers["Idempotency-Key"] for c in stripe_api.calls]
    assert keys[0] == keys[1]
    post(client, tokens=tokens, amount="30", frequency="once")  # changed their mind
    post(client, amount="20", frequency="once")  # a new visit to the page
    keys = [c.headers["Idempotency-Key"] for c in stripe_api.calls]
    assert len(set(keys)) == 3


def test_spec_fields_alone_are_enough(client, campaign, stripe_api) -> None:
    tokens = form_tokens(client)
    response = client.post(
        "/donate/southfront",
        data={"csrf_token": tokens["csrf_token"], "amount": "12.50", "frequency": "monthly"},
    )
    assert response.status_code == 303
    assert stripe_api.calls[0].headers["Idempotency-Key"].endswith("-1250-monthly")


# --- bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": "", "frequency": "once"}, "choose an amount"),
        ({"amount": "0", "frequency": "once"}, "greater than zero"),
        ({"amount": "-5", "frequency": "once"}, "greater than zero"),
        ({"amount": "1e3", "frequency": "once"}, "exponent"),
        ({"amount": "NaN", "frequency": "once"}, "finite"),
        ({"amount": "12.345", "frequency": "once"}, "at most 2 decimal places"),
        ({"amount": "abc", "frequency": "once"}, "plain decimal"),
        ({"amount": "1,000", "frequency": "once"}, "commas"),
        ({"amount": "0.20", "frequency": "once"}, "smallest donation is 0.50 $"),
        ({"amount": "1000000", "frequency": "once"}, "largest donation is 999,999.99 $"),
        ({"amount": "10", "frequency": "weekly"}, "'once' or 'monthly'"),
    ],
)
def test_bad_input_is_400_and_no_stripe_call(client, campaign, stripe_api, fields, message) -> None:
    response = post(client, **fields)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html.replace("&#39;", "'")
    assert 'name="csrf_token"' in html  # the form again, to correct it
    assert stripe_api.calls == []


def test_missing_csrf_token_is_400(client, campaign, stripe_api) -> None:
    response = client.post("/donate/southfront", data={"amount": "10", "frequency": "once"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert stripe_api.calls == []


def test_unknown_campaign_post_is_404(client, db, stripe_api) -> None:
    make_campaign("other")
    response = post(client, "other", amount="10", frequency="once")
    assert response.status_code == 303
    tokens = form_tokens(client, "other")
    response = client.post("/donate/nope", data={**tokens, "amount": "10"})
    assert response.status_code == 404
    assert len(stripe_api.calls) == 1


# --- Stripe failing ------------------------------------------------------------


def test_stripe_error_is_a_friendly_502(client, campaign, stripe_api, caplog, monkeypatch) -> None:
    # migrations/env.py's fileConfig disables loggers that exist when the schema is built.
    monkeypatch.setattr(logging.getLogger("tracker.payments"), "disabled", False)
    refused = {"error": {"type": "invalid_request_error", "message": "secret detail"}}
    stripe_api.on("POST", "/v1/checkout/sessions", lambda call: (400, refused))
    with caplog.at_level(logging.WARNING, logger="tracker"):
        response = post(client, amount="10", frequency="once")
    assert response.status_code == 502
    html = response.get_data(as_text=True)
    assert "payment provider" in html
    assert "secret detail" not in html
    assert "checkout session failed" in caplog.text


def test_stripe_unreachable_is_a_friendly_502(database_url, db) -> None:
    from tracker.app import create_app

    # Nothing listens on port 9 of this host: the connection is refused.
    unreachable = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "STRIPE_SECRET_KEY": "sk_test_123",
            "STRIPE_API_BASE": "http://127.0.0.1:9",
            "STRIPE_MAX_NETWORK_RETRIES": 0,
        }
    )
    with unreachable.app_context():
        make_campaign("southfront")
    client = unreachable.test_client()
    response = post(client, amount="10", frequency="once")
    assert response.status_code == 502
    assert "Nothing was charged" in response.get_data(as_text=True)


def test_session_without_url_is_502(client, campaign, stripe_api) -> None:
    answer = {"id": "cs_x", "object": "checkout.session", "url": None}
    stripe_api.on("POST", "/v1/checkout/sessions", lambda call: (200, answer))
    assert post(client, amount="10", frequency="once").status_code == 502


@pytest.mark.parametrize("url", ["http://evil.example/pay", "javascript:alert(1)", "//evil"])
def test_never_redirects_to_anything_but_https(client, campaign, stripe_api, url) -> None:
    answer = {"id": "cs_x", "object": "checkout.session", "url": url}
    stripe_api.on("POST", "/v1/checkout/sessions", lambda call: (200, answer))
    response = post(client, amount="10", frequency="once")
    assert response.status_code == 502
    assert "Location" not in response.headers


# --- card testing --------------------------------------------------------------


def test_twenty_sessions_per_ten_minutes_per_address(client, campaign, stripe_api) -> None:
    tokens = form_tokens(client)
    for n in range(20):
        response = post(client, tokens=tokens, amount=str(10 + n), frequency="once")
        assert response.status_code == 303
    # Bad input does not create a session and does not use up the allowance...
    assert post(client, tokens=tokens, amount="abc").status_code == 429
    blocked = post(client, tokens=tokens, amount="99", frequency="once")
    assert blocked.status_code == 429
    assert "Too many requests" in blocked.get_data(as_text=True)
    assert len(stripe_api.calls) == 20
    # ...and another address is not affected.
    other = client.post(
        "/donate/southfront",
        data={**tokens, "amount": "5", "frequency": "once"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert other.status_code == 303
