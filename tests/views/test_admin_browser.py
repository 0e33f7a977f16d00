"""The dashboard in a real browser: log in, create, donate, export, assign."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests import browsers
from tests.adminkit import EMAIL, PASSWORD, fill_dashboard, make_admin
from tracker.extensions import db as sa_db
from tracker.models import ReviewPayment

pytestmark = browsers.MARKS
ARTIFACTS = browsers.ARTIFACTS


@pytest.fixture()
def server(make_app, db: object) -> Iterator[str]:
    """An app on a free local port (http, so the session cookie may not be Secure here)."""
    with browsers.serving(make_app(SESSION_COOKIE_SECURE=False)) as base:
        yield base


@pytest.fixture()
def browser():
    with browsers.chromium() as launched:
        yield launched


def raised_on_overview(page, base: str, slug: str) -> str:
    page.goto(f"{base}/admin/")
    return page.locator(f'section[data-slug="{slug}"] .raised').inner_text()


def test_admin_flow_in_chromium(server, browser, tmp_path) -> None:
    base = server
    make_admin()
    context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )

    # Log in: an anonymous visit lands on the login form, then comes back.
    page.goto(f"{base}/admin/campaigns")
    assert "/admin/login?next=" in page.url
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Log in')")
    assert page.url == f"{base}/admin/campaigns"

    # Create a campaign; an error first, shown on the form.
    page.fill("#slug", "southfront")
    page.fill("#name", "Support us")
    page.fill("#currency", "USD")
    page.fill("#timezone", "Europe/Berlin")
    page.fill("#milestones", "0,5000,2500")
    page.click("button:has-text('Create campaign')")
    assert "strictly ascending" in page.locator(".field.invalid").inner_text()
    page.fill("#milestones", "0,2500,5000")
    page.click("button:has-text('Create campaign')")
    assert page.url == f"{base}/admin/campaigns/southfront"
    assert "Created campaign southfront" in page.locator(".flash").inner_text()

    # The overview shows it at zero, with the widget preview pointing at the embed page.
    assert raised_on_overview(page, base, "southfront") == "0 $"
    preview = page.locator('section[data-slug="southfront"] iframe.preview')
    assert preview.get_attribute("src") == "/embed/southfront"

    # A manual donation moves it.
    page.goto(f"{base}/admin/donations?campaign=southfront")
    page.fill("#amount", "12.50")
    page.fill("#donor", '=HYPERLINK("http://x")')
    page.click("button:has-text('Add donation')")
    assert "Recorded 12.50 $ for southfront" in page.locator(".flash").inner_text()
    assert raised_on_overview(page, base, "southfront") == "12.50 $"

    # Export this month's CSV, neutralised.
    page.goto(f"{base}/admin/donations?campaign=southfront")
    with page.expect_download() as download_info:
        page.click("a:has-text('Export CSV')")
    download = download_info.value
    assert re.fullmatch(r"southfront-\d{4}-\d{2}\.csv", download.suggested_filename)
    target = tmp_path / "export.csv"
    download.save_as(target)
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert rows[0][:3] == ["id", "received_at", "amount"]
    assert rows[1][2] == "12.50" and rows[1][9] == '\'=HYPERLINK("http://x")'

    # A payment kept for review is assigned and counts in the month it was paid.
    paid_at = datetime.now(UTC) - timedelta(minutes=5)
    sa_db.session.add(
        ReviewPayment(
            external_key="pi_browser",
            payment_intent_id="pi_browser",
            reason="unassigned",
            amount_minor=2000,
            currency="usd",
            received_at=paid_at,
        )
    )
    sa_db.session.commit()
    page.goto(f"{base}/admin/review")
    row = page.locator("#review-1")
    assert "pi_browser" in row.inner_text()
    row.locator("select").select_option("southfront")
    row.locator("button:has-text('Assign')").click()
    assert "Assigned payment pi_browser to southfront" in page.locator(".flash").inner_text()
    assert page.locator("#review-1").count() == 0
    assert raised_on_overview(page, base, "southfront") == "32.50 $"

    # The snippets are ready to copy.
    page.goto(f"{base}/admin/campaigns/southfront/embed")
    assert f'src="{base}/embed/southfront.js"' in page.locator("#snippet-script").input_value()
    page.click("button[data-copy='snippet-script']")
    page.wait_for_function(
        "document.querySelector(\"button[data-copy='snippet-script']\").textContent === 'Copied'"
    )

    # Usable on a phone: nothing wider than the screen.
    page.set_viewport_size({"width": 375, "height": 740})
    for path in ("/admin/", "/admin/donations?campaign=southfront", "/admin/months"):
        page.goto(f"{base}{path}")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, path

    assert csp_errors == []
    context.close()


ADMIN_PAGES = [
    "/admin/",
    "/admin/campaigns",
    "/admin/campaigns/southfront",
    "/admin/campaigns/southfront/embed",
    "/admin/donations?campaign=southfront",
    "/admin/months?campaign=southfront",
    "/admin/review?all=1",
    "/admin/audit",
    "/admin/supporters?campaign=southfront",
    "/admin/reconcile?campaign=southfront",
    "/admin/notifications",
    "/admin/sources?campaign=southfront",
]


@pytest.mark.parametrize("lang", ["en", "de", "ar"])
def test_on_a_phone_nothing_is_cut_off(app, server, browser, lang) -> None:
    """At 375 px every page fits the screen: tables become cards, the actions stay in view."""
    from tests.factories import make_campaign, make_donation

    campaign = make_campaign("southfront", preset_amounts=[500, 1000])
    for n in range(3):
        make_donation(campaign, 1234567 + n, donor_name=f"Donor with a long name {n}")
    make_donation(
        campaign, 5000, source="stripe", external_key="pi_phone", payment_intent_id="pi_phone"
    )
    sa_db.session.add(
        ReviewPayment(
            external_key="pi_review_with_a_long_identifier_1234567890",
            payment_intent_id="pi_review_with_a_long_identifier_1234567890",
            reason="currency",
            campaign_slug="southfront",
            amount_minor=2500,
            currency="EUR",
            received_at=datetime.now(UTC) - timedelta(days=1),
        )
    )
    sa_db.session.commit()
    fill_dashboard(app.test_client(), campaign)
    make_admin()
    context = browser.new_context(
        viewport={"width": 375, "height": 800}, locale=lang, reduced_motion="reduce"
    )
    page = context.new_page()
    page.goto(f"{server}/admin/login")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server}/admin/")
    assert page.evaluate("document.documentElement.lang") == lang
    too_wide = []
    for url in ADMIN_PAGES:
        page.goto(server + url)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 375:
            too_wide.append(f"{url}: {width}px wide")
        # Every action button and link is inside the screen, not off to its side.
        off = page.evaluate(
            "() => [...document.querySelectorAll('main button, main a, main input')]"
            ".filter(e => e.offsetParent !== null && e.getBoundingClientRect().right > 376)"
            ".map(e => e.outerHTML.slice(0, 80))"
        )
        too_wide += [f"{url}: {element}" for element in off]
        name = url.strip("/").replace("/", "-").split("?")[0] or "overview"
        page.screenshot(path=str(ARTIFACTS / f"admin-{lang}-375-{name}.png"), full_page=True)
    context.close()
    assert too_wide == []
