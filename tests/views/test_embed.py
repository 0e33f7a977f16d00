"""GET /embed/<slug> (iframe page), .js (script tag), .svg, and the demo page."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
import time_machine
from sqlalchemy import event
from werkzeug.datastructures import MultiDict

from tests.factories import make_campaign, make_donation
from tracker import embeds, services
from tracker.extensions import db as sa_db

NOV_24 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 6 days left in November
HOSTILE = "<script>alert(1)</script>\" onmouseover=\"alert(2)' x='&amp;"
SVG_NS = "{http://www.w3.org/2000/svg}"
KINDS = ["", ".svg", ".js"]


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside each <style>/<script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.raw: dict[str, list[str]] = {"style": [], "script": []}
        self._open: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open = tag if tag in self.raw else None

    def handle_endtag(self, tag) -> None:
        self._open = None

    def handle_data(self, data) -> None:
        if self._open:
            self.raw[self._open].append(data)


def parse_html(text: str) -> Elements:
    parser = Elements()
    parser.feed(text)
    return parser


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.fixture()
def southfront(db):
    with time_machine.travel(NOV_24, tick=False):
        campaign = make_campaign("southfront")
        for minor in (150000, 50000, 18000):
            make_donation(campaign, minor)
    return campaign


@time_machine.travel(NOV_24, tick=False)
def test_iframe_page_shows_the_reference_widget(client, southfront) -> None:
    response = client.get("/embed/southfront")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    page = parse_html(response.get_data(as_text=True))
    text = response.get_data(as_text=True)
    assert re.findall(r'<span class="lb m\d">([^<]*)</span>', text) == ["0 $", "2,500 $", "5,000 $"]
    assert '<span class="mk">2,180 $</span>' in text
    assert ">6 DAYS LEFT UNTIL THE END OF NOVEMBER<" in text
    bar = next(attrs for tag, attrs in page.tags if attrs.get("role") == "progressbar")
    assert bar["aria-valuemin"] == "0"
    assert bar["aria-valuemax"] == "5000"
    assert bar["aria-valuenow"] == "2180"
    assert bar["aria-valuetext"] == "2,180 $ of 5,000 $ raised, 6 days left"
    button = next(attrs for tag, attrs in page.tags if tag == "a")
    assert button["target"] == "_blank"
    assert "noopener" in button["rel"]
    # Relative to /embed/southfront, so it works under any host or prefix.
    assert button["href"] == "../donate/southfront"
    assert ">Support us</a>" in text


@time_machine.travel(NOV_24, tick=False)
def test_iframe_page_loads_nothing_else_and_says_so_in_its_csp(client, southfront) -> None:
    response = client.get("/embed/southfront")
    text = response.get_data(as_text=True)
    page = parse_html(text)
    assert not [attrs for tag, attrs in page.tags if "src" in attrs]
    assert [tag for tag, attrs in page.tags if tag == "link"] == []
    assert "url(" not in text and "@import" not in text
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == csp_hash("".join(page.raw["style"]))
    assert directives["script-src"] == csp_hash("".join(page.raw["script"]))
    assert directives["frame-ancestors"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in response.headers


def test_frame_ancestors_are_the_campaigns_allowed_origins(client, db) -> None:
    make_campaign("framed", allowed_origins=["https://news.example", "https://b.example:8443"])
    csp = client.get("/embed/framed").headers["Content-Security-Policy"]
    assert csp.endswith("frame-ancestors 'self' https://news.example https://b.example:8443")


def test_changing_the_allowed_origins_changes_the_header_at_once(client, db) -> None:
    campaign = make_campaign("framed")
    assert client.get("/embed/framed").headers["Content-Security-Policy"].endswith("*")
    services.edit_campaign(campaign, services.now(), allowed_origins="https://news.example")
    sa_db.session.commit()
    csp = client.get("/embed/framed").headers["Content-Security-Policy"]
    assert csp.endswith("frame-ancestors 'self' https://news.example")


@pytest.mark.parametrize(
    ("at", "line", "spoken"),
    [
        (
            datetime(2026, 11, 29, 9, tzinfo=UTC),
            "1 DAY LEFT UNTIL THE END OF NOVEMBER",
            "1 day left",
        ),
        (
            datetime(2026, 11, 30, 14, 20, tzinfo=UTC),
            "LAST DAY OF NOVEMBER · 10 HOURS LEFT",
            "last day",
        ),
    ],
)
def test_days_left_line_near_the_end(client, db, at, line, spoken) -> None:
    with time_machine.travel(at, tick=False):
        make_campaign("southfront")
        text = client.get("/embed/southfront").get_data(as_text=True)
    assert f">{line}<" in text
    assert f'aria-valuetext="0 $ of 5,000 $ raised, {spoken}"' in text


@time_machine.travel(NOV_24, tick=False)
def test_goal_reached_fills_the_bar_and_says_so(client, db) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 612500)
    text = client.get("/embed/southfront").get_data(as_text=True)
    assert ".fill{position:absolute;left:0;top:0;bottom:0;width:100.0%" in text
    assert '<span class="mk">6,125 $ · Goal reached</span>' in text
    assert 'aria-valuenow="5000"' in text  # within min..max
    assert 'aria-valuetext="6,125 $ raised, goal of 5,000 $ reached, 6 days left"' in text
    svg = client.get("/embed/southfront.svg").get_data(as_text=True)
    assert 'width="528.0" height="12"' in svg  # the fill spans the whole bar
    assert "6,125 $ · Goal reached" in svg


@time_machine.travel(NOV_24, tick=False)
def test_german(client, southfront) -> None:
    text = client.get("/embed/southfront?lang=de").get_data(as_text=True)
    assert '<html lang="de" dir="ltr">' in text
    assert re.findall(r'<span class="lb m\d">([^<]*)</span>', text) == ["0 $", "2.500 $", "5.000 $"]
    assert '<span class="mk">2.180 $</span>' in text
    assert ">NOCH 6 TAGE BIS ENDE NOVEMBER<" in text
    assert 'aria-valuetext="2.180 $ von 5.000 $ gesammelt, noch 6 Tage"' in text
    assert ">Jetzt unterstützen</a>" in text
    svg = client.get("/embed/southfront.svg?lang=de_AT").get_data(as_text=True)
    assert "NOCH 6 TAGE BIS ENDE NOVEMBER" in svg
    assert ">$ 2.180<" in svg  # CLDR's Austrian pattern puts the symbol first


@time_machine.travel(NOV_24, tick=False)
def test_the_campaigns_locale_is_the_default_language(client, db) -> None:
    campaign = make_campaign("fr", locale="fr", currency="EUR")
    make_donation(campaign, 218000)
    text = client.get("/embed/fr").get_data(as_text=True)
    assert '<html lang="fr" dir="ltr">' in text
    assert ">PLUS QUE 6 JOURS EN NOVEMBRE<" in text
    assert "2 180 €" in text


@time_machine.travel(NOV_24, tick=False)
def test_theme_and_accent(client, southfront) -> None:
    light = client.get("/embed/southfront").get_data(as_text=True)
    dark = client.get("/embed/southfront?theme=dark&accent=C2410C").get_data(as_text=True)
    auto = client.get("/embed/southfront?theme=auto").get_data(as_text=True)
    assert "--bg:#ffffff" in light and "--ac:#16794f" in light
    assert "--bg:#15181d" in dark and "--ac:#c2410c" in dark and "--on:#ffffff" in dark
    assert "@media (prefers-color-scheme:dark)" in auto and "--bg:#ffffff" in auto
    assert "@media (prefers-color-scheme:dark)" not in light
    for text in (light, dark, auto):
        assert "@media (prefers-reduced-motion:reduce){.grow .fill{animation:none}" in text
    svg = client.get("/embed/southfront.svg?theme=auto&accent=ffd400").get_data(as_text=True)
    assert "@media (prefers-color-scheme:dark)" in svg
    assert ".ac{fill:#ffd400}.on{fill:#111111}" in svg


@time_machine.travel(NOV_24, tick=False)
def test_svg_is_well_formed_and_complete(client, southfront) -> None:
    response = client.get("/embed/southfront.svg")
    assert response.status_code == 200
    assert response.content_type == "image/svg+xml; charset=utf-8"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    root = ET.fromstring(response.data)
    assert root.tag == f"{SVG_NS}svg"
    assert (root.get("width"), root.get("height")) == ("560", "124")
    texts = [el.text for el in root.iter(f"{SVG_NS}text")]
    assert texts == [
        "0 $",
        "2,500 $",
        "5,000 $",
        "2,180 $",
        "6 DAYS LEFT UNTIL THE END OF NOVEMBER",
        "Support us",
    ]
    assert root.find(f"{SVG_NS}title").text == "Support us"
    assert "2,180 $ of 5,000 $ raised, 6 days left" in root.find(f"{SVG_NS}desc").text
    assert not [el for el in root.iter() if "href" in el.attrib and "://" in el.attrib["href"]]


@time_machine.travel(NOV_24, tick=False)
def test_script_inserts_the_iframe_with_the_same_options(client, southfront) -> None:
    response = client.get("/embed/southfront.js?lang=de&theme=dark")
    assert response.status_code == 200
    assert response.content_type == "text/javascript; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    text = response.get_data(as_text=True)
    assert 'new URL("southfront?theme=dark\\u0026lang=de", script.src)' in text
    assert "document.currentScript" in text
    assert "event.origin !== frameUrl.origin" in text
    assert "event.source !== iframe.contentWindow" in text
    assert "cookie" not in text.lower() and "localStorage" not in text
    # Everything lives in one function expression: nothing is declared at the top level.
    code = re.sub(r"/\*.*?\*/", "", text, flags=re.S).strip()
    assert code.startswith("(function () {") and code.endswith("})();")


@time_machine.travel(NOV_24, tick=False)
def test_hostile_campaign_names_are_inert(client, db) -> None:
    make_campaign("evil", name=HOSTILE)
    html = client.get("/embed/evil").get_data(as_text=True)
    page = parse_html(html)
    assert [tag for tag, _ in page.tags].count("script") == 1
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34; onmouseover=&#34;alert(2)&#39;" in html
    title = re.search(r"<title>(.*)</title>", html).group(1)
    assert "<" not in title and '"' not in title

    svg = client.get("/embed/evil.svg").data
    root = ET.fromstring(svg)  # still well-formed
    assert root.find(f"{SVG_NS}title").text == HOSTILE
    assert not [el for el in root.iter() if el.tag.endswith("script")]
    assert not [a for el in root.iter() for a in el.attrib if a.startswith("on")]

    script = client.get("/embed/evil.js").get_data(as_text=True)
    assert "<script" not in script and "</" not in script.replace("*/", "")
    literal = re.search(r"iframe\.title = (.*);", script).group(1)
    assert json.loads(literal) == HOSTILE + ": donation progress"

    demo = client.get("/embed/evil/demo").get_data(as_text=True)
    assert "<script>alert" not in demo
    assert not [a for _, attrs in parse_html(demo).tags for a in attrs if a.startswith("onmouse")]


@time_machine.travel(NOV_24, tick=False)
def test_control_characters_in_a_name_do_not_break_the_svg(client, db) -> None:
    make_campaign("ctl", name="Bell\x07 and \x1b escape")
    root = ET.fromstring(client.get("/embed/ctl.svg").data)
    assert root.find(f"{SVG_NS}title").text == "Bell and  escape"


BAD_OPTIONS = [
    ("theme=blue", "theme must be light, dark or auto, not 'blue'"),
    ("theme=", "option 'theme' is empty"),
    ("accent=12345", "accent must be six hex digits"),
    ("accent=red", "accent must be six hex digits"),
    ("lang=xx-YYYYYYYYYY", "unknown locale"),
    ("lang=zz", "unknown locale 'zz'"),
    ("colour=red", "unknown option 'colour': the widget takes theme, accent and lang"),
    ("theme=dark&theme=light", "option 'theme' is given more than once"),
    ("theme=" + "d" * 500, "option 'theme' is too long"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("query", "message"), BAD_OPTIONS, ids=[q for q, _ in BAD_OPTIONS])
def test_bad_options_are_refused_with_400(client, southfront, kind, query, message) -> None:
    response = client.get(f"/embed/southfront{kind}?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True).replace("&#39;", "'")
    assert response.headers["Cache-Control"] == "no-store"
    expected = "text/html" if kind == "" else "text/plain"
    assert response.content_type.startswith(expected)


def test_an_option_value_is_escaped_in_the_error_page(client, southfront) -> None:
    response = client.get("/embed/southfront?theme=<script>x</script>")
    assert response.status_code == 400
    assert b"<script>x" not in response.data
    assert b"&lt;script&gt;x" in response.data


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_slug_is_a_small_404(client, db, kind) -> None:
    response = client.get(f"/embed/nope{kind}")
    assert response.status_code == 404
    assert "no campaign 'nope'" in response.get_data(as_text=True).replace("&#39;", "'")
    assert len(response.data) < 2000
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if kind == "":
        assert response.content_type == "text/html; charset=utf-8"
    else:  # never run as a script, never drawn as an image
        assert response.content_type == "text/plain; charset=utf-8"


def test_parse_widget_options_is_a_plain_function() -> None:
    assert embeds.parse_widget_options({}) == embeds.WidgetOptions("light", "16794f", None)
    options = embeds.parse_widget_options({"lang": "de-DE", "accent": "#ABCDEF", "theme": "auto"})
    assert options == embeds.WidgetOptions("auto", "abcdef", "de_DE")
    assert options.query() == "?theme=auto&accent=abcdef&lang=de_DE"
    assert embeds.WidgetOptions().query() == ""
    with pytest.raises(embeds.OptionError, match="more than once"):
        embeds.parse_widget_options(MultiDict([("lang", "de"), ("lang", "en")]))
    # Equal options are one cache variant, however they were spelled.
    assert embeds.parse_widget_options({"accent": "ABCDEF"}) == embeds.parse_widget_options(
        {"accent": "abcdef"}
    )


@pytest.mark.parametrize("kind", KINDS)
@time_machine.travel(NOV_24, tick=False)
def test_etag_304_and_cache_control(client, southfront, kind) -> None:
    path = f"/embed/southfront{kind}"
    first = client.get(path)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=30, stale-while-revalidate=30"
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    make_donation(southfront, 100)  # shows at once in the writing process
    changed = client.get(path, headers={"If-None-Match": etag})
    if kind == ".js":  # the script shows no amount: same body, same ETag, still 304
        assert changed.status_code == 304
        return
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert "2,181 $" in changed.get_data(as_text=True)


@time_machine.travel(NOV_24, tick=False)
def test_each_option_set_is_its_own_entry(client, southfront) -> None:
    etags = {
        client.get(f"/embed/southfront{q}").headers["ETag"]
        for q in ("", "?theme=dark", "?accent=1d4ed8", "?lang=de", "?theme=auto&lang=de")
    }
    assert len(etags) == 5


def test_max_age_follows_the_setting(southfront, make_app) -> None:
    client = make_app(TRACKER_CACHE_SECONDS=120).test_client()
    with time_machine.travel(NOV_24, tick=False):
        response = client.get("/embed/southfront.svg")
        assert (
            client.get("/embed/southfront.svg").headers["Cache-Control"]
            == (
                response.headers["Cache-Control"]  # the fast path's answer, from the cache
            )
        )
    assert response.headers["Cache-Control"] == "public, max-age=120, stale-while-revalidate=120"


def test_max_age_never_passes_local_midnight_and_the_etag_changes_with_the_day(client, db) -> None:
    make_campaign("berlin", timezone="Europe/Berlin")
    # 22:59:50 UTC on 23 Nov is 23:59:50 in Berlin: ten seconds to midnight.
    with time_machine.travel(datetime(2026, 11, 23, 22, 59, 50, tzinfo=UTC), tick=False):
        response = client.get("/embed/berlin")
        assert response.headers["Cache-Control"] == "public, max-age=10"
        assert ">7 DAYS LEFT" in response.get_data(as_text=True)
        etag = response.headers["ETag"]
    with time_machine.travel(datetime(2026, 11, 23, 23, 0, 1, tzinfo=UTC), tick=False):
        response = client.get("/embed/berlin", headers={"If-None-Match": etag})
        assert response.status_code == 200
        assert response.headers["ETag"] != etag
        assert ">6 DAYS LEFT" in response.get_data(as_text=True)


def test_on_the_last_day_the_hours_left_change_every_hour(client, db) -> None:
    make_campaign("southfront")
    with time_machine.travel(datetime(2026, 11, 30, 14, 59, 45, tzinfo=UTC), tick=False):
        response = client.get("/embed/southfront.svg")
        assert response.headers["Cache-Control"] == "public, max-age=15"
        assert "10 HOURS LEFT" in response.get_data(as_text=True)
    with time_machine.travel(datetime(2026, 11, 30, 15, 0, 1, tzinfo=UTC), tick=False):
        assert "9 HOURS LEFT" in client.get("/embed/southfront.svg").get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/embed/southfront",
        "/embed/southfront.svg",
        "/embed/southfront.js",
        "/api/v1/campaigns/southfront/progress",
    ],
)
def test_public_reads_set_no_cookie_and_do_not_vary_on_it(client, southfront, path) -> None:
    client.set_cookie("session", "something")
    response = client.get(path)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


@pytest.mark.parametrize("kind", KINDS)
def test_a_cache_hit_runs_no_sql_and_a_miss_no_aggregate_over_donations(
    client, southfront, kind
) -> None:
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement.lower())

    event.listen(sa_db.engine, "before_cursor_execute", record)
    try:
        client.get(f"/embed/southfront{kind}")
        assert statements, "the first read builds the body"
        # The one aggregate a miss may run is over the campaign's subscriptions (indexed).
        aggregates = [s for s in statements if "sum(" in s or "count(" in s]
        assert len(aggregates) == (0 if kind == ".js" else 1)
        assert all("where subscriptions.campaign_id =" in s for s in aggregates)
        assert not any("from donations" in s for s in statements)
        statements.clear()
        for _ in range(3):
            assert client.get(f"/embed/southfront{kind}").status_code == 200
        assert statements == []
    finally:
        event.remove(sa_db.engine, "before_cursor_execute", record)


@time_machine.travel(NOV_24, tick=False)
def test_demo_page_shows_three_embeds_and_their_snippets(client, southfront) -> None:
    response = client.get("/embed/southfront/demo?theme=dark")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert '<script src="http://localhost/embed/southfront.js?theme=dark" async></script>' in text
    assert '<iframe src="http://localhost/embed/southfront?theme=dark"' in text
    assert '<img src="http://localhost/embed/southfront.svg?theme=dark"' in text
    assert text.count("<textarea") == 3
    assert "&lt;script src=&#34;http://localhost/embed/southfront.js?theme=dark&#34;" in text
    assert client.get("/embed/nope/demo").status_code == 404
    assert client.get("/embed/southfront/demo?theme=pink").status_code == 400


@time_machine.travel(NOV_24, tick=False)
def test_any_amount_shows_at_least_a_dot_and_nothing_shows_none(client, db) -> None:
    campaign = make_campaign("southfront")
    empty_html = client.get("/embed/southfront").get_data(as_text=True)
    empty_svg = client.get("/embed/southfront.svg").get_data(as_text=True)
    assert "min-width:12px" not in empty_html
    assert 'class="ac" x="16" y="34"' not in empty_svg  # no fill rectangle at all
    make_donation(campaign, 1)
    assert "min-width:12px" in client.get("/embed/southfront").get_data(as_text=True)
    svg = client.get("/embed/southfront.svg").get_data(as_text=True)
    assert '<rect class="ac" x="16" y="34" width="12.0" height="12" rx="6"/>' in svg
