"""Every page passes two outside auditors: the Nu Html Checker (no error) and axe-core (no
critical or serious finding).

Both come from npm (package.json, package-lock.json; .ci/run installs them with `npm ci`);
the Nu checker runs on Java, axe inside Debian's chromium through Playwright. The pages
are the public ones (the widget in each look and an Arabic one, the donate, thanks, error
and demo pages) and every dashboard page, each with data on it, at a phone's width and a
desktop's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests import browsers
from tests import stripe_events as se
from tests.adminkit import EMAIL, PASSWORD, fill_dashboard, make_admin
from tests.factories import make_campaign, make_donation
from tracker.extensions import db as sa_db
from tracker.models import ReviewPayment

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = browsers.ARTIFACTS
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
NOV_24 = datetime(2026, 11, 24, 12, tzinfo=UTC)

pytestmark = [
    *browsers.MARKS,
    pytest.mark.audit,
    pytest.mark.skipif(
        (not AXE.exists() or not VNU.exists() or not shutil.which("java"))
        and not os.environ.get("CI"),
        reason="needs `npm ci` (axe-core, vnu-jar) and Java",
    ),
]

PUBLIC = [
    "/",
    "/embed/southfront",
    "/embed/southfront?theme=dark",
    "/embed/southfront?theme=auto&accent=777777",
    "/embed/southfront?lang=ar",
    "/embed/southfront/demo",
    "/embed/nope",
    "/embed/southfront?theme=pink",
    "/donate/southfront",
    "/donate/southfront?lang=ar",
    "/donate/southfront/thanks",
    "/donate/nope",
    "/no-such-page",
]
ADMIN = [
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
    "/admin/campaigns/nope",
]


@pytest.fixture()
def site(make_app, db) -> Iterator[str]:
    """An app on a port, with a campaign, donations, a payment for review, a rejected event."""
    served = make_app(
        SESSION_COOKIE_SECURE=False,
        TRACKER_NOTIFY_WEBHOOK_URL="http://127.0.0.1:9/hook",
        TRACKER_NOTIFY_WEBHOOK_SECRET="audit",
    )
    campaign = make_campaign("southfront", preset_amounts=[500, 1000, 2500])
    make_campaign("berlin", currency="EUR", locale="de_DE", timezone="Europe/Berlin")
    make_donation(campaign, 150000, NOV_24, donor_name="Ada")
    make_donation(
        campaign, 5000, NOV_24, source="stripe", external_key="pi_a", payment_intent_id="pi_a"
    )
    sa_db.session.add(
        ReviewPayment(
            external_key="pi_r",
            payment_intent_id="pi_r",
            reason="unassigned",
            campaign_slug="south\\x00front",
            amount_minor=2500,
            currency="USD",
            received_at=NOV_24,
        )
    )
    sa_db.session.commit()
    make_admin()
    client = served.test_client()
    big = se.payment_intent(intent_id="pi_big", amount=2**62, created=NOV_24)
    assert se.deliver(client, se.event("payment_intent.succeeded", big, event_id="evt_big"))
    fill_dashboard(client, campaign)
    with browsers.serving(served) as base:
        yield base


def _log_in(page, base: str) -> None:
    page.goto(f"{base}/admin/login")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/admin/")


def _axe(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
             .filter(v => v.impact === "critical" || v.impact === "serious")
             .map(v => v.id + " (" + v.impact + "): "
                       + v.nodes.map(n => n.target.join(" ")).join(", "))"""
    )
    return list(found)


def test_axe_finds_what_it_should(site) -> None:
    """The axe run above is not vacuous: on a page with a known fault it reports it."""
    with browsers.chromium() as browser:
        page = browser.new_context(bypass_csp=True).new_page()
        page.goto(site + "/no-such-page")
        page.evaluate("() => { document.body.innerHTML += '<img src=x>'; }")
        assert any(f.startswith("image-alt (critical)") for f in _axe(page))


def _vnu(files: list[Path]) -> list[str]:
    result = subprocess.run(
        [
            "java",
            "-jar",
            str(VNU),
            "--format",
            "json",
            "--stdout",
            "--also-check-svg",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = json.loads(result.stdout)["messages"]
    return [
        f"{Path(m.get('url', '')).name}:{m.get('lastLine')}: {m['message']}"
        for m in messages
        if m["type"] == "error"
    ]


def test_every_page_passes_the_nu_checker_and_axe(site, tmp_path) -> None:
    from playwright.sync_api import sync_playwright  # noqa: F401 (browsers.chromium imports it)

    findings: list[str] = []
    files: list[Path] = []
    with browsers.chromium() as browser:
        for width in (375, 1200):
            context = browser.new_context(
                viewport={"width": width, "height": 900}, bypass_csp=True, reduced_motion="reduce"
            )
            page = context.new_page()
            for n, url in enumerate(PUBLIC + ["LOGIN"] + ADMIN):
                if url == "LOGIN":
                    _log_in(page, site)
                    continue
                page.goto(site + url)
                page.wait_for_load_state("load")
                if width == 1200 and url.startswith("/admin"):  # the desktop's look, to see
                    name = url.strip("/").replace("/", "-").split("?")[0]
                    page.screenshot(path=str(ARTIFACTS / f"{name}-1200.png"), full_page=True)
                findings += [f"{url} at {width}px: {f}" for f in _axe(page)]
                if width == 1200:  # the markup is the same at any width
                    source = context.request.get(site + url).text()
                    path = tmp_path / f"page{n:02d}.html"
                    path.write_text(source)
                    files.append(path)
            context.close()
    svg = tmp_path / "widget.svg"
    with browsers.chromium() as browser:
        svg.write_bytes(browser.new_context().request.get(site + "/embed/southfront.svg").body())
    canary = tmp_path / "canary.html"  # the checker must find this page's error, or it did not run
    canary.write_text('<!doctype html><html lang="en"><title>x</title><p autocomplete="None">x')
    errors = _vnu([*files, svg, canary])
    assert [e for e in errors if e.startswith("canary.html")], errors
    errors = [e for e in errors if not e.startswith("canary.html")]
    names = {f"page{n:02d}.html": url for n, url in enumerate(PUBLIC + ["LOGIN"] + ADMIN)}
    findings += [f"Nu: {names.get(e.split(':', 1)[0], e.split(':', 1)[0])}: {e}" for e in errors]
    assert findings == []
