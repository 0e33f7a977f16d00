"""The embeddable widget: options, and the HTML page, SVG image and script built from them.

Everything here is a plain function of (campaign, now, options): no request is needed,
so the same builders serve Flask views and any faster front in front of them. A body is
built once per campaign state (see tracker/hotcache.py); a request is a lookup.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import escape

from tracker import headers, hotcache, i18n, services, snapshots
from tracker.domain import money, widget
from tracker.domain.progress import days_left_messages
from tracker.domain.text import Message, message
from tracker.models import Campaign

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "embed"
OPTIONS = ("theme", "accent", "lang")
# The iframe's height before the frame reports its own (the light English widget's height).
FRAME_HEIGHT_PX = 132
# The plain iframe snippet cannot resize itself: the height the widget needs at its
# narrowest (320 px, the days-left line on two lines above the button, in the longest of the
# shipped languages), which tests/browser/test_snippets_in_browser.py holds in every language.
SNIPPET_FRAME_HEIGHT_PX = 180
# What the supporters line ("57 MONTHLY SUPPORTERS", campaign.show_supporters) adds to it.
SUPPORTERS_LINE_PX = 20
MAX_OPTION_LEN = 100

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html", "svg")),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)

COLOURS = {
    "light": dict(bg="ffffff", fg="1f2328", muted="59636e", track="e6e9ed", tick="8c959f"),
    "dark": dict(bg="15181d", fg="e6edf3", muted="9ba3ad", track="2d333b", tick="768390"),
}


OptionError = widget.OptionError


@dataclass(frozen=True)
class WidgetOptions:
    """Validated widget options; hashable, so they can be part of a cache key."""

    theme: str = widget.DEFAULT_THEME
    accent: str = widget.DEFAULT_ACCENT
    lang: str | None = None

    def query(self) -> str:
        """The options as a canonical query string ("?theme=dark&lang=de"), or ""."""
        pairs = [
            (name, value)
            for name, value, default in (
                ("theme", self.theme, widget.DEFAULT_THEME),
                ("accent", self.accent, widget.DEFAULT_ACCENT),
                ("lang", self.lang, None),
            )
            if value != default and value is not None
        ]
        return "?" + urlencode(pairs) if pairs else ""


def parse_widget_options(args: Mapping[str, str]) -> WidgetOptions:
    """Validate query-string options (theme, accent, lang); raise OptionError on anything else."""
    for name in args:
        if name not in OPTIONS:
            raise OptionError(
                message(
                    "unknown option '%(name)s': the widget takes theme, accent and lang",
                    name=name[:40],
                )
            )
        getlist = getattr(args, "getlist", None)
        if getlist is not None and len(getlist(name)) > 1:
            raise OptionError(message("option '%(name)s' is given more than once", name=name))
    values = {name: args[name] for name in OPTIONS if name in args}
    for name, value in values.items():
        if not value:
            raise OptionError(message("option '%(name)s' is empty", name=name))
        if len(value) > MAX_OPTION_LEN:
            raise OptionError(message("option '%(name)s' is too long", name=name))
    theme = widget.parse_theme(values.get("theme", widget.DEFAULT_THEME))
    accent = widget.parse_accent(values.get("accent", widget.DEFAULT_ACCENT))
    try:
        lang = money.parse_locale(values["lang"]) if "lang" in values else None
    except money.LocaleError as err:
        raise OptionError(err.message) from err
    return WidgetOptions(theme=theme, accent=accent, lang=lang)


@dataclass(frozen=True)
class Mark:
    """A milestone as drawn: position on the bar and its label."""

    index: int
    percent: float
    label: str
    labelled: bool


@dataclass(frozen=True)
class Model:
    """Everything a widget template shows, already formatted."""

    slug: str
    name: str
    locale: str
    html_lang: str
    theme: str
    accent: str
    on_accent: str
    marks: tuple[Mark, ...]
    fill_percent: float
    has_fill: bool
    raised: str
    goal: str
    goal_reached: bool
    marker: str
    days_line: str
    supporters_line: str  # "" unless the campaign shows its monthly supporters
    button: str
    rtl: bool
    value_now: str
    value_max: str
    value_text: str
    donate_href: str


def widget_model(campaign: Campaign, at: datetime, options: WidgetOptions) -> Model:
    """Read the campaign's current period (one row, no aggregate) and format what it shows."""
    snap = snapshots.snapshot(campaign, at)
    prog = snap.progress
    zone = services.campaign_zone(campaign)
    locale = options.lang or campaign.locale
    currency = campaign.currency
    raised = money.format_money(prog.raised_minor, currency, locale)
    goal = money.format_money(prog.goal_minor, currency, locale)
    catalog = i18n.translations(locale)

    def say(text: Message) -> str:
        return i18n.render(text, locale, catalog)

    supporters = widget.supporters_text(snap.monthly.supporters)
    marks = tuple(
        Mark(t.index, t.percent, money.format_money(t.amount_minor, currency, locale), t.labelled)
        for t in widget.ticks([m.amount_minor for m in prog.milestones])
    )
    return Model(
        slug=campaign.slug,
        name=widget.clean_text(campaign.name),
        locale=locale,
        html_lang=locale.replace("_", "-"),
        theme=options.theme,
        accent=options.accent,
        on_accent=widget.text_colour_on(options.accent),
        marks=marks,
        fill_percent=widget.fill_percent(prog.bar_permille),
        has_fill=prog.raised_minor > 0,
        raised=raised,
        goal=goal,
        goal_reached=prog.goal_reached,
        marker=f"{raised} · {say(widget.GOAL_REACHED)}" if prog.goal_reached else raised,
        days_line=" · ".join(say(part) for part in days_left_messages(at, zone)).upper(),
        supporters_line=say(supporters).upper() if campaign.show_supporters and supporters else "",
        button=say(widget.BUTTON),
        rtl=i18n.is_rtl(locale),
        value_now=money.format_major(min(prog.raised_minor, prog.goal_minor), currency),
        value_max=money.format_major(prog.goal_minor, currency),
        value_text=say(widget.value_text(raised, goal, prog.goal_reached, at, zone)),
        donate_href=f"../donate/{campaign.slug}"
        + (f"?lang={options.lang}" if options.lang else ""),
    )


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


@lru_cache(maxsize=1)
def _resize_script() -> tuple[str, str]:
    script = (TEMPLATES / "resize.js").read_text().strip()
    return script, _csp_hash(script)


def frame_ancestors(campaign: Campaign) -> str:
    """Who may frame the widget: the campaign's allowed origins (and us), or anyone."""
    origins = list(campaign.allowed_origins or [])
    return " ".join(["'self'", *origins]) if origins else "*"


def _palette(theme: str) -> dict[str, dict[str, str]]:
    if theme == "auto":
        return {"base": COLOURS["light"], "dark": COLOURS["dark"]}
    return {"base": COLOURS[theme]}


def _render(name: str, **context: Any) -> str:
    return _env.get_template(name).render(**context)


def build_embed_html(campaign: Campaign, at: datetime, options: WidgetOptions) -> hotcache.Entry:
    """The widget as a self-contained HTML page for an iframe, with its CSP."""
    model = widget_model(campaign, at, options)
    style = _render("widget.css", m=model, palette=_palette(model.theme)).strip()
    script, script_hash = _resize_script()
    body = _render("widget.html", m=model, style=style, script=script)
    csp = headers.csp(
        scripts=script_hash,
        styles=_csp_hash(style),
        images="'none'",
        forms="'none'",
        frame_ancestors=frame_ancestors(campaign),
    )
    return hotcache.make_entry(
        body.encode(),
        "text/html; charset=utf-8",
        (("Content-Security-Policy", csp), *headers.EMBEDDABLE),
    )


# The SVG's geometry, in its own pixels.
SVG_WIDTH = 560
SVG_HEIGHT = 124
SVG_PAD = 16
SVG_BAR_Y = 34
SVG_LINE = 16  # the supporters line, above the days-left line


def svg_height(show_supporters: bool) -> int:
    """The SVG's height: one line more where the campaign shows its supporters."""
    return SVG_HEIGHT + (SVG_LINE if show_supporters else 0)


def frame_height(campaign: Campaign) -> int:
    """The plain iframe snippet's height for this campaign's widget."""
    return SNIPPET_FRAME_HEIGHT_PX + (SUPPORTERS_LINE_PX if campaign.show_supporters else 0)


def _text_width(text: str, size: float, factor: float) -> float:
    """A rough rendered width of text in the system sans-serif (no font metrics at hand)."""
    return len(text) * size * factor


def svg_layout(model: Model) -> dict[str, Any]:
    """Positions of the SVG's parts; mirrored for a right-to-left language, whose texts the
    SVG also sets right to left (so "start" is their right end)."""
    left, width = SVG_PAD, SVG_WIDTH - 2 * SVG_PAD

    def x(offset: float) -> float:
        """`offset` pixels along the bar from its start, on the page."""
        return round(left + width - offset if model.rtl else left + offset, 2)

    def anchor(percent: float) -> str:
        return "start" if percent < 8 else "end" if percent > 92 else "middle"

    button_w = round(_text_width(model.button, 13, 0.6) + 36)
    room = width - button_w - 16
    days_w = _text_width(model.days_line, 11, 0.74)
    # Any amount shows as at least a dot (the bar's height) at the start.
    fill_w = max(round(width * model.fill_percent / 100, 2), 12.0 if model.has_fill else 0)
    extra = SVG_LINE if model.supporters_line else 0
    return {
        "width": SVG_WIDTH,
        "height": SVG_HEIGHT + extra,
        "days_y": 101 + extra,
        "button_y": 82 + extra / 2,
        "supporters_fit": round(room)
        if _text_width(model.supporters_line, 11, 0.74) > room
        else None,
        "left": left,
        "bar_w": width,
        "bar_y": SVG_BAR_Y,
        "fill_w": fill_w,
        "fill_x": x(fill_w) if model.rtl else left,
        "marks": [
            {"x": x(width * m.percent / 100), "anchor": anchor(m.percent), "mark": m}
            for m in model.marks
        ],
        "marker_x": x(width * model.fill_percent / 100),
        "marker_anchor": anchor(model.fill_percent),
        "days_x": x(0),
        "button_x": left if model.rtl else left + width - button_w,
        "button_w": button_w,
        "days_fit": round(room) if days_w > room else None,
    }


def build_embed_svg(campaign: Campaign, at: datetime, options: WidgetOptions) -> hotcache.Entry:
    """The widget as a standalone SVG image (every text escaped)."""
    model = widget_model(campaign, at, options)
    body = _render(
        "widget.svg", m=model, g=svg_layout(model), palette=_palette(model.theme)
    ).strip()
    return hotcache.make_entry(
        body.encode(),
        "image/svg+xml; charset=utf-8",
        (
            ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
            *headers.EMBEDDABLE,
        ),
    )


def build_embed_js(campaign: Campaign, at: datetime, options: WidgetOptions) -> hotcache.Entry:
    """The script tag's body: it puts the widget's iframe where it stands and sizes it."""
    body = _render(
        "widget.js",
        frame_path=campaign.slug + options.query(),
        title=i18n.render(
            message("%(name)s: donation progress", name=widget.clean_text(campaign.name)),
            options.lang or campaign.locale,
        ),
        height=FRAME_HEIGHT_PX,
    ).strip()
    return hotcache.make_entry(
        body.encode() + b"\n", "text/javascript; charset=utf-8", headers.EMBEDDABLE
    )


Builder = Callable[[Campaign, datetime, WidgetOptions], hotcache.Entry]

# What each embed kind is built with; the cache variant of a read is (kind, options).
BUILDERS: dict[str, Builder] = {
    "html": build_embed_html,
    "svg": build_embed_svg,
    "js": build_embed_js,
}


def snippets(base_url: str, campaign: Campaign, options: WidgetOptions) -> dict[str, str]:
    """The copy-paste HTML for the script tag, the iframe and the image (already escaped)."""
    base = base_url.rstrip("/")
    query = options.query()
    slug = campaign.slug
    name = escape(widget.clean_text(campaign.name))
    script_src = escape(f"{base}/embed/{slug}.js{query}")
    frame_src = escape(f"{base}/embed/{slug}{query}")
    image_src = escape(f"{base}/embed/{slug}.svg{query}")
    donate = escape(f"{base}/donate/{slug}")
    return {
        "script": f'<script src="{script_src}" async></script>',
        "iframe": (
            f'<iframe src="{frame_src}" title="{name}" loading="lazy" '
            f'style="border:0;width:100%;height:{frame_height(campaign)}px"></iframe>'
        ),
        "image": (
            f'<a href="{donate}"><img src="{image_src}" alt="{name}" width="{SVG_WIDTH}" '
            f'height="{svg_height(campaign.show_supporters)}" style="max-width:100%;height:auto">'
            "</a>"
        ),
    }
