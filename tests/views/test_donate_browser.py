"""The donate page in a real browser (phone-sized): presets, a typed amount, on to Checkout."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator

import pytest

from tests import browsers
from tests import stripe_events as se
from tests.factories import make_campaign

pytestmark = browsers.MARKS


@pytest.fixture()
def server(make_app, db: object, stripe_api) -> Iterator[tuple[str, object]]:
    # Plain http here: the session cookie may not be Secure.
    with browsers.serving(make_app(SESSION_COOKIE_SECURE=False)) as base:
        yield base, stripe_api


def test_donate_in_chromium(server) -> None:
    base, stub = server
    make_campaign("southfront", preset_amounts=[500, 1000, 2500])
    with browsers.chromium() as browser:
        page = browser.new_page(viewport={"width": 375, "height": 740})
        page.route(
            "https://checkout.stripe.com/**",
            lambda route: route.fulfill(status=200, body="<h1>Stripe Checkout</h1>"),
        )
        page.goto(f"{base}/donate/southfront")
        # Nothing overflows sideways on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.click("text=10 $")
        assert page.is_checked('input[name=amount][value="10"]')
        page.fill("#custom-amount", "12.50")
        assert not page.is_checked('input[name=amount][value="10"]')  # typing clears presets
        page.click("text=Monthly")
        page.click("button:has-text('Continue to payment')")
        page.wait_for_url("https://checkout.stripe.com/**")
        assert page.inner_text("h1") == "Stripe Checkout"
        params = stub.calls[0].form
        assert params["line_items[0][price_data][unit_amount]"] == "1250"
        assert params["mode"] == "subscription"

        # A preset alone, once; then bad input comes back with the reason.
        page.goto(f"{base}/donate/southfront")
        page.click("text=25 $")
        page.click("button:has-text('Continue to payment')")
        page.wait_for_url("https://checkout.stripe.com/**")
        assert stub.calls[1].form["line_items[0][price_data][unit_amount]"] == "2500"
        assert stub.calls[1].form["mode"] == "payment"
        page.goto(f"{base}/donate/southfront")
        page.fill("#custom-amount", "0.10")
        page.click("button:has-text('Continue to payment')")
        assert "smallest donation is 0.50 $" in page.inner_text(".error")
        assert len(stub.calls) == 2


def test_thanks_then_manage_then_the_portal_then_back(server) -> None:
    """After a monthly donation: thanks → "Manage your monthly donation" → Stripe's customer
    portal (stubbed at the HTTP level: the stand-in API, then the portal page routed) → its
    return link → the donate page."""
    base, stub = server
    make_campaign("southfront", preset_amounts=[500, 1000, 2500])
    session = se.example("checkout.session")
    session.update(
        id="cs_test_browser",
        mode="subscription",
        status="complete",
        customer="cus_test_browser",
        created=int(time.time()) - 60,
        metadata={"campaign": "southfront"},
    )
    stub.objects["cs_test_browser"] = session

    def portal(route) -> None:
        [made] = stub.calls_to("POST", "/v1/billing_portal/sessions")
        back = html.escape(made.form["return_url"])
        route.fulfill(
            status=200,
            content_type="text/html",
            body=f"<h1>Customer portal</h1><a id='back' href='{back}'>Return to Support us</a>",
        )

    with browsers.chromium() as browser:
        page = browser.new_page(viewport={"width": 375, "height": 740})
        page.route("https://billing.stripe.com/**", portal)
        page.goto(f"{base}/donate/southfront/thanks?monthly=1&session_id=cs_test_browser")
        page.screenshot(path=str(browsers.ARTIFACTS / "thanks-monthly-375.png"), full_page=True)
        page.click("button:has-text('Manage your monthly donation')")
        page.wait_for_url("https://billing.stripe.com/**")
        assert page.inner_text("h1") == "Customer portal"
        [made] = stub.calls_to("POST", "/v1/billing_portal/sessions")
        assert made.form["customer"] == "cus_test_browser"
        page.click("#back")
        page.wait_for_url(f"{base}/donate/southfront")
        assert page.inner_text("h1") == "Support us"
