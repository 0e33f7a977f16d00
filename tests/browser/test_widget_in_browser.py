"""The widget in a real browser (Debian chromium through Playwright).

A host page on another origin embeds the widget with the script tag; the iframe must
appear, fit its content, and open the donate page; the SVG must render in an <img>.
Screenshots of each look go to test-artifacts/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from tests import browsers
from tests.factories import make_campaign, make_donation
from tracker import services

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = browsers.MARKS

NOV_24 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 6 days left
NOV_30 = datetime(2026, 11, 30, 14, 20, tzinfo=UTC)  # last day, 10 hours left


@pytest.fixture(scope="module")
def server(app) -> Iterator[str]:
    """The app on a free port in a thread, for the browser to load."""
    with browsers.serving(app) as base:
        yield base


class HostPages:
    """A second web server: the news site's origin (another port, so another origin)."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_port}"


@pytest.fixture(scope="module")
def host() -> Iterator[HostPages]:
    pages = HostPages()
    thread = threading.Thread(target=pages.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield pages
    finally:
        pages.httpd.shutdown()
        pages.httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with browsers.chromium() as chromium:
        yield chromium


@pytest.fixture()
def context(browser) -> Iterator[object]:
    ctx = browser.new_context(viewport={"width": 900, "height": 700}, device_scale_factor=2)
    try:
        yield ctx
    finally:
        ctx.close()


def frozen(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    """Set the app's clock (services.now is the only clock it reads)."""
    monkeypatch.setattr(services, "now", lambda: at)


def host_page(context, host: HostPages, html: str, path: str = "/article") -> object:
    """Open a page on the host origin whose body is `html`."""
    page = context.new_page()
    document = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Article</title>"
        "<style>body{font:17px/1.6 Georgia,serif;max-width:680px;margin:32px auto;"
        "padding:0 16px;color:#222}</style></head><body>" + html + "</body></html>"
    )
    host.pages[path] = document.encode()
    page.goto(f"{host.origin}{path}")
    return page


def widget_frame(page, index: int = 0):
    page.wait_for_function(
        "n => document.querySelectorAll('iframe').length > n", arg=index, timeout=10_000
    )
    handle = page.query_selector_all("iframe")[index]
    frame = handle.content_frame()
    assert frame is not None
    frame.wait_for_selector(".btn", timeout=10_000)
    return handle, frame


def wait_for_fitted_height(page, handle, frame) -> None:
    """Wait until the host has applied the height the frame reported."""
    wanted = frame.evaluate("Math.ceil(document.documentElement.getBoundingClientRect().height)")
    page.wait_for_function(
        "([el, h]) => Math.round(el.getBoundingClientRect().height) === h",
        arg=[handle, wanted],
        timeout=10_000,
    )


def test_script_tag_embeds_a_fitted_iframe_that_opens_the_donate_page(
    server, host, context, db, monkeypatch
) -> None:
    frozen(monkeypatch, NOV_24)
    campaign = make_campaign("southfront")
    for minor in (150000, 50000, 18000):
        make_donation(campaign, minor)
    page = host_page(
        context,
        host,
        "<script>window.__before = Object.getOwnPropertyNames(window);</script>"
        "<h1>Local news</h1><p>Article text.</p>"
        f"<script src='{server}/embed/southfront.js' async></script>"
        "<p>More article text.</p>"
        f"<script src='{server}/embed/southfront.js?theme=dark&amp;lang=de' async></script>",
    )
    handle, frame = widget_frame(page, 0)
    dark_handle, dark_frame = widget_frame(page, 1)

    # The iframe sits where its script tag stands, and shows the reference content.
    assert (
        page.evaluate("() => document.querySelectorAll('script')[1].nextElementSibling.tagName")
        == "IFRAME"
    )
    assert frame.inner_text(".mk") == "2,180 $"
    assert frame.inner_text(".sc").split("\n") == ["0 $", "2,500 $", "5,000 $"]
    assert frame.inner_text(".dl") == "6 DAYS LEFT UNTIL THE END OF NOVEMBER"
    bar = frame.query_selector("[role=progressbar]")
    assert bar.get_attribute("aria-valuetext") == "2,180 $ of 5,000 $ raised, 6 days left"
    assert dark_frame.inner_text(".dl") == "NOCH 6 TAGE BIS ENDE NOVEMBER"
    assert dark_frame.inner_text(".mk") == "2.180 $"

    # Its height fits its content: no scrollbars, nothing cut off.
    for h, f in ((handle, frame), (dark_handle, dark_frame)):
        wait_for_fitted_height(page, h, f)
        assert f.evaluate(
            "() => document.documentElement.scrollHeight <= window.innerHeight"
            " && document.documentElement.scrollWidth <= window.innerWidth"
        )
    # Narrower host column: the footer wraps, and the frame grows to fit.
    before = handle.bounding_box()["height"]
    page.set_viewport_size({"width": 330, "height": 700})
    page.wait_for_function(
        "([el, h]) => el.getBoundingClientRect().height > h", arg=[handle, before], timeout=10_000
    )
    wait_for_fitted_height(page, handle, frame)

    # Height messages from anyone but the widget's own frame are ignored.
    page.evaluate(
        """() => new Promise(resolve => {
            window.addEventListener("message", e => { if (e.data === "done") resolve(); });
            window.postMessage({type: "tracker:height", height: 999}, "*");
            window.postMessage("done", "*");
        })"""
    )
    assert round(handle.bounding_box()["height"]) != 999

    # No globals leaked, no cookies set.
    leaked = page.evaluate(
        "() => Object.getOwnPropertyNames(window)"
        "  .filter(n => !window.__before.includes(n) && n !== '__before' && !/^[0-9]+$/.test(n))"
    )
    assert leaked == []
    assert context.cookies() == []

    # "Support us" opens the donate page in a new tab, with the article as where it came from.
    with context.expect_page() as new_tab:
        frame.click(".btn")
    donate = new_tab.value
    donate.wait_for_load_state()
    article = quote(f"{host.origin}/article", safe="")
    assert donate.url == f"{server}/donate/southfront?ref={article}"


def test_svg_renders_in_an_img(server, host, context, db, monkeypatch) -> None:
    frozen(monkeypatch, NOV_24)
    campaign = make_campaign("southfront", name='<script>alert(1)</script>" onmouseover="x')
    make_donation(campaign, 218000)
    page = host_page(
        context,
        host,
        f"<a href='{server}/donate/southfront'><img id='w' alt='widget'"
        f" src='{server}/embed/southfront.svg'></a>",
    )
    page.wait_for_function("() => document.getElementById('w').complete", timeout=10_000)
    size = page.evaluate(
        "() => [document.getElementById('w').naturalWidth,"
        " document.getElementById('w').naturalHeight]"
    )
    assert size == [560, 124]
    page.query_selector("#w").screenshot(path=str(ARTIFACTS / "widget-svg.png"))


def test_a_reduced_motion_visitor_gets_no_animation(
    server, host, browser, context, db, monkeypatch
) -> None:
    frozen(monkeypatch, NOV_24)
    make_campaign("southfront")

    def animation(page) -> str:
        page.goto(f"{server}/embed/southfront")
        return page.evaluate(
            "() => getComputedStyle(document.querySelector('.fill')).animationName"
        )

    page = context.new_page()
    page.emulate_media(reduced_motion="reduce")
    assert animation(page) == "none"
    page.emulate_media(reduced_motion="no-preference")
    assert animation(page) == "grow"
    # A link preview, or anything that reads the page without running scripts, gets the
    # final bar at once.
    no_script = browser.new_context(java_script_enabled=False)
    try:
        assert animation(no_script.new_page()) == "none"
    finally:
        no_script.close()


def test_auto_theme_follows_the_visitors_colour_scheme(
    server, host, context, db, monkeypatch
) -> None:
    frozen(monkeypatch, NOV_24)
    make_campaign("southfront")
    page = context.new_page()
    page.goto(f"{server}/embed/southfront?theme=auto")
    background = "() => getComputedStyle(document.body).backgroundColor"
    page.emulate_media(color_scheme="light")
    assert page.evaluate(background) == "rgb(255, 255, 255)"
    page.emulate_media(color_scheme="dark")
    assert page.evaluate(background) == "rgb(21, 24, 29)"


LOOKS = [
    ("light", NOV_24, 218000, ""),
    ("dark", NOV_24, 218000, "?theme=dark"),
    ("german", NOV_24, 218000, "?lang=de&accent=c2410c"),
    ("goal-reached", NOV_24, 612500, ""),
    ("last-day", NOV_30, 218000, "?accent=1d4ed8"),
]


@pytest.mark.parametrize(("look", "at", "raised", "query"), LOOKS, ids=[x[0] for x in LOOKS])
def test_screenshots(server, host, context, db, monkeypatch, look, at, raised, query) -> None:
    frozen(monkeypatch, at)
    campaign = make_campaign("southfront")
    make_donation(campaign, raised)
    page = host_page(
        context,
        host,
        f"<p>Support local journalism.</p><script src='{server}/embed/southfront.js"
        f"{query.replace('&', '&amp;')}' async></script>",
    )
    handle, frame = widget_frame(page)
    wait_for_fitted_height(page, handle, frame)
    text = frame.inner_text(".w")
    expected = {
        "light": "6 DAYS LEFT UNTIL THE END OF NOVEMBER",
        "dark": "6 DAYS LEFT UNTIL THE END OF NOVEMBER",
        "german": "NOCH 6 TAGE BIS ENDE NOVEMBER",
        "goal-reached": "6,125 $ · Goal reached",
        "last-day": "LAST DAY OF NOVEMBER · 10 HOURS LEFT",
    }[look]
    assert expected in text
    if look == "goal-reached":
        assert frame.evaluate(
            "() => document.querySelector('.fill').offsetWidth"
            " === document.querySelector('.bar').clientWidth"
        )
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"widget-{look}.png"
    handle.screenshot(path=str(target), animations="disabled")
    assert target.stat().st_size > 1000


def test_demo_page_shows_all_three_embeds(server, host, context, db, monkeypatch) -> None:
    frozen(monkeypatch, NOV_24)
    campaign = make_campaign("demo", name="Support independent news")
    make_donation(campaign, 218000)
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{server}/embed/demo/demo")
    handle, frame = widget_frame(page, 0)
    assert frame.inner_text(".mk") == "2,180 $"
    page.wait_for_function(
        "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)",
        timeout=10_000,
    )
    assert len(page.query_selector_all("iframe")) == 2
    assert len(page.query_selector_all("textarea")) == 3
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "embed-demo.png"), full_page=True, animations="disabled")


def test_a_hostile_name_stays_text_in_the_browser(server, host, context, db, monkeypatch) -> None:
    frozen(monkeypatch, NOV_24)
    name = '<img src=x onerror=alert(1)>" onmouseover="alert(2)'
    make_campaign("evil", name=name)
    dialogs: list[str] = []
    context.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page = host_page(
        context,
        host,
        f"<script src='{server}/embed/evil.js' async></script>"
        f"<img id='w' src='{server}/embed/evil.svg'>",
    )
    handle, frame = widget_frame(page)
    page.wait_for_function("() => document.getElementById('w').complete", timeout=10_000)
    assert handle.get_attribute("title") == name + ": donation progress"
    assert frame.title() == name
    assert frame.query_selector("[role=progressbar]").get_attribute("aria-label") == name
    assert frame.evaluate("() => document.images.length") == 0
    assert page.evaluate("() => document.getElementById('w').naturalWidth") == 560
    frame.hover(".bar")
    assert dialogs == []
