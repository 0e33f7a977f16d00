"""The embeddable widget: /embed/<slug> (iframe page), .js (script tag), .svg, and a demo page."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from flask import Blueprint, Response, current_app, request

from tracker import embeds, errors, headers, hotcache, i18n, services
from tracker.domain import widget
from tracker.domain.text import Message
from tracker.models import Campaign
from tracker.read_routes import READS
from tracker.views.reads import cached_read

embed = Blueprint("embed", __name__)


def _serve(slug: str, endpoint: str) -> Response:
    # The variant as the fast path files it: the same function, on the same raw query.
    try:
        variant = READS[endpoint].variant_of(request.query_string.decode("latin-1"))
    except embeds.OptionError as err:
        return embed_error(400, err.message)
    kind, options = cast(tuple[str, embeds.WidgetOptions], variant)
    build = embeds.BUILDERS[kind]

    def builder(campaign: Campaign, at: datetime) -> hotcache.Entry:
        return build(campaign, at, options)

    return cached_read(slug, variant, builder)


@embed.get(READS["embed.page"].rule)
def page(slug: str) -> Response:
    return _serve(slug, "embed.page")


@embed.get(READS["embed.image"].rule)
def image(slug: str) -> Response:
    return _serve(slug, "embed.image")


@embed.get(READS["embed.script"].rule)
def script(slug: str) -> Response:
    return _serve(slug, "embed.script")


@embed.get("/embed/<slug>/demo")
def demo(slug: str) -> Response:
    """A host page with all three embed kinds side by side, and their snippets."""
    try:
        options = embeds.parse_widget_options(request.args)
    except embeds.OptionError as err:
        return embed_error(400, err.message)
    campaign = services.require_campaign(slug)
    i18n.use_locale(options.lang or campaign.locale)
    # Straight from the Jinja environment: the demo needs no login context processors.
    body = current_app.jinja_env.get_template("embed/demo.html").render(
        campaign=campaign,
        options=options,
        themes=widget.THEMES,
        snippets=embeds.snippets(request.host_url, campaign, options),
    )
    return Response(
        body,
        content_type="text/html; charset=utf-8",
        headers={
            # The snippets shown live carry style attributes of their own.
            "Content-Security-Policy": headers.csp(frames="'self'", style_attributes=True),
            "Cache-Control": "no-store",
        },
    )


def embed_error(status: int, text: Message | str) -> Response:
    """An error for an embed read: a small HTML page, or plain text for the .js and .svg."""
    title = errors.title(status)
    if request.path.endswith((".js", ".svg")):
        body = f"{status} {i18n.text(title)}: {i18n.text(text)}\n"
        content_type = "text/plain; charset=utf-8"
    else:
        # Straight from the Jinja environment (as errors.error_response renders it, minus
        # the context processors, which would open the session on a public read). No link
        # back: this page stands inside another site's frame.
        template = current_app.jinja_env.get_template("error.html")
        body = template.render(status=status, title=title, message=text, back=None)
        content_type = "text/html; charset=utf-8"
    return Response(
        body,
        status=status,
        content_type=content_type,
        headers={"Cache-Control": "no-store"},
    )


@embed.errorhandler(services.NotFound)
def not_found(exc: services.NotFound) -> Response:
    return embed_error(404, exc.message)
