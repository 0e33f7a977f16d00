"""The embed snippets (tracker.embeds.snippets, the one set the README, the demo page and
the admin hand out) show the whole widget, button included, at every width from a 320 px
phone's up, in every shipped language; screenshots of each look go to test-artifacts/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import time_machine

from tests import browsers
from tests.factories import make_campaign, make_donation, make_supporters
from tracker import embeds, i18n
from tracker.embeds import WidgetOptions

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDTHS = (320, 375, 768, 1200)
# The longest days-left line of the month: 29 days left, in December (and a long amount).
DEC_2 = datetime(2026, 12, 2, 12, tzinfo=UTC)

pytestmark = browsers.MARKS


class Host:
    """The news site: another origin, serving whatever page a test puts at a path."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path, b"not found")
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_port}"


@pytest.fixture()
def host() -> Iterator[Host]:
    site = Host()
    thread = threading.Thread(target=site.httpd.serve_forever, daemon=True)
    thread.start()
    yield site
    site.httpd.shutdown()
    site.httpd.server_close()


@pytest.fixture(params=["plain", "supporters"])
def served(request, make_app, db) -> Iterator[tuple[str, object]]:
    """The widget as it is, and with its supporters line ("1,234 MONTHLY SUPPORTERS")."""
    with time_machine.travel(DEC_2, tick=False):
        campaign = make_campaign(
            "southfront",
            currency="EUR",
            milestones=[0, 2500000, 5000000],
            show_supporters=request.param == "supporters",
        )
        make_donation(campaign, 2180055)
        if request.param == "supporters":
            make_supporters(campaign, 1234)
        with browsers.serving(make_app()) as base:
            yield base, campaign


def _host_page(host: Host, base: str, campaign, kind: str) -> str:
    """A page with the `kind` snippet once per shipped language, each in a column."""
    blocks = []
    for lang in i18n.SHIPPED:
        snippet = embeds.snippets(base + "/", campaign, WidgetOptions(lang=lang))[kind]
        blocks.append(f'<div class="col" data-lang="{lang}">{snippet}</div>')
    host.pages[f"/{kind}"] = (
        "<!doctype html><meta charset=utf-8><title>Article</title>"
        "<style>body{margin:0}.col{margin:0 0 24px}</style>" + "".join(blocks)
    ).encode()
    return f"{host.origin}/{kind}"


def _wait_fitted(element, timeout_s: float = 20) -> None:
    import time

    frame = element.content_frame()
    frame.wait_for_selector(".btn")
    deadline = time.monotonic() + timeout_s
    while True:
        wanted = frame.evaluate(
            "Math.ceil(document.documentElement.getBoundingClientRect().height)"
        )
        if abs(element.bounding_box()["height"] - wanted) <= 1:
            return
        assert time.monotonic() < deadline, f"the frame never took its height ({wanted}px)"
        time.sleep(0.02)


def _button_inside(page, frame_element) -> tuple[bool, str]:
    frame = frame_element.content_frame()
    frame.wait_for_selector(".btn")
    box = frame_element.bounding_box()
    button = frame.evaluate(
        "() => { const r = document.querySelector('.btn').getBoundingClientRect();"
        " return [r.top, r.bottom, r.left, r.right]; }"
    )
    top, bottom, left, right = button
    inside = (
        bottom <= box["height"] + 0.5 and right <= box["width"] + 0.5 and top >= 0 and left >= 0
    )
    return inside, f"button {button} in a frame of {box['width']}x{box['height']}"


@pytest.mark.parametrize("kind", ["iframe", "script"])
def test_the_snippet_shows_the_button_at_every_width_in_every_language(served, host, kind) -> None:
    base, campaign = served
    url = _host_page(host, base, campaign, kind)
    problems = []
    with browsers.chromium() as browser:
        for width in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(url)
            frames = page.query_selector_all("iframe")
            assert len(frames) == len(i18n.SHIPPED)
            for lang, element in zip(i18n.SHIPPED, frames, strict=True):
                if kind == "script":  # it sizes itself: wait until the frame fits its page
                    _wait_fitted(element)
                inside, detail = _button_inside(page, element)
                if not inside:
                    problems.append(f"{kind} {lang} at {width}px: {detail}")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.close()
    assert problems == []


def test_the_image_snippet_links_to_the_donate_page_and_fits_its_column(served, host) -> None:
    base, campaign = served
    url = _host_page(host, base, campaign, "image")
    with browsers.chromium() as browser:
        page = browser.new_page(viewport={"width": 320, "height": 900})
        page.goto(url)
        page.wait_for_function("() => [...document.images].every(i => i.complete)")
        sizes = page.evaluate(
            "() => [...document.images].map(i => [i.getBoundingClientRect().width,"
            " i.closest('a').getAttribute('href')])"
        )
    assert len(sizes) == len(i18n.SHIPPED)
    for width, href in sizes:
        assert width <= 320
        assert href.startswith(f"{base}/donate/southfront")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_of_every_language(served, theme) -> None:
    base, campaign = served
    ARTIFACTS.mkdir(exist_ok=True)
    with browsers.chromium() as browser:
        for width in (375, 1200):
            page = browser.new_page(
                viewport={"width": width, "height": 400}, reduced_motion="reduce"
            )
            for lang in i18n.SHIPPED:
                page.goto(f"{base}/embed/southfront?lang={lang}&theme={theme}")
                extra = "-supporters" if campaign.show_supporters else ""
                target = ARTIFACTS / f"widget-{lang}-{theme}-{width}{extra}.png"
                page.locator(".w").screenshot(path=str(target))
                assert target.stat().st_size > 1000
                direction = page.evaluate("document.documentElement.dir")
                assert direction == ("rtl" if lang == "ar" else "ltr")
            page.close()


def test_arabic_fills_from_the_right(served) -> None:
    base, _ = served
    with browsers.chromium() as browser:
        page = browser.new_page(viewport={"width": 600, "height": 300}, reduced_motion="reduce")
        page.goto(f"{base}/embed/southfront?lang=ar")
        bar, fill = page.evaluate(
            "() => ['.bar', '.fill'].map(s => { const r = document.querySelector(s)"
            ".getBoundingClientRect(); return [r.left, r.right]; })"
        )
        page.locator(".w").screenshot(path=str(ARTIFACTS / "widget-ar-rtl.png"))
    assert abs(fill[1] - bar[1]) < 1  # the fill starts at the bar's right end...
    assert fill[0] > bar[0] + 100  # ...and 43.6 % of it is far from the left end
