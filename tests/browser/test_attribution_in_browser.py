"""A reader on an article page with `?utm_campaign=x` clicks the widget's button (the script
embed): the donate page opens with the article as `ref`, and the Checkout request (the
stand-in Stripe) carries `ref` and `utm_campaign`. The widget's own request never does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import browsers
from tests.browser.test_snippets_in_browser import Host
from tests.factories import make_campaign
from tracker import embeds
from tracker.embeds import WidgetOptions

pytestmark = browsers.MARKS


@pytest.fixture()
def host() -> Iterator[Host]:
    import threading

    site = Host()
    thread = threading.Thread(target=site.httpd.serve_forever, daemon=True)
    thread.start()
    yield site
    site.httpd.shutdown()
    site.httpd.server_close()


def test_the_button_carries_the_article_to_checkout(make_app, db, stripe_api, host) -> None:
    campaign = make_campaign("southfront", preset_amounts=[500, 1000])
    with browsers.serving(make_app(SESSION_COOKIE_SECURE=False)) as base:
        snippet = embeds.snippets(base + "/", campaign, WidgetOptions())["script"]
        host.pages["/2026/story?utm_campaign=x&utm_source=home&fbclid=secret"] = (
            "<!doctype html><meta charset=utf-8><title>Story</title><p>Text.</p>" + snippet
        ).encode()
        article = f"{host.origin}/2026/story"
        with browsers.chromium() as browser:
            page = browser.new_page(viewport={"width": 375, "height": 800})
            seen: list[str] = []
            page.on("request", lambda request: seen.append(request.url))
            page.route(
                "https://checkout.stripe.com/**",
                lambda route: route.fulfill(status=200, body="<h1>Stripe Checkout</h1>"),
            )
            page.goto(f"{article}?utm_campaign=x&utm_source=home&fbclid=secret")
            frame = page.wait_for_selector("iframe").content_frame()
            frame.wait_for_selector(".btn")
            with page.context.expect_page() as opened:
                frame.click(".btn")
            donate = opened.value
            donate.route(
                "https://checkout.stripe.com/**",
                lambda route: route.fulfill(status=200, body="<h1>Stripe Checkout</h1>"),
            )
            donate.wait_for_load_state()
            assert donate.url.startswith(f"{base}/donate/southfront?")
            donate.click("text=10 $")
            donate.click("button:has-text('Continue to payment')")
            donate.wait_for_url("https://checkout.stripe.com/**")
    [call] = stripe_api.calls_to("POST", "/v1/checkout/sessions")
    assert call.form["metadata[ref]"] == article
    assert call.form["metadata[utm_campaign]"] == "x"
    assert call.form["metadata[utm_source]"] == "home"
    assert call.form["payment_intent_data[metadata][utm_campaign]"] == "x"
    assert not any("fbclid" in v or "secret" in v for v in call.form.values())
    widget_requests = [u for u in seen if u.startswith(f"{base}/embed/southfront")]
    assert widget_requests and all("utm" not in u and "ref=" not in u for u in widget_requests)
