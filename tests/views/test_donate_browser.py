"""The donate page in a real browser (phone-sized): presets, a typed amount, on to Checkout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import browsers
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
