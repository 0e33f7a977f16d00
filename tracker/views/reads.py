"""Cached widget reads shared by the api and embed blueprints.

A read is "look up the campaign's revision, find the ready answer for
(slug, variant, revision, display bucket), build it once on a miss". The
builders are plain functions of (campaign, now) so they can be called without
a request (see tracker/embeds.py).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime

from flask import Flask, Response, current_app, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin

from tracker import hotcache, services
from tracker.extensions import db
from tracker.models import Campaign

Builder = Callable[[Campaign, datetime], hotcache.Entry]


def widget_cache() -> hotcache.HotCache:
    """The app's in-process cache of ready answers."""
    cache: hotcache.HotCache = current_app.extensions["tracker.hotcache"]
    return cache


def cached_read(slug: str, variant: Hashable, build: Builder, *, cors: bool = False) -> Response:
    """Serve a widget read from the in-process cache, building it on a miss."""
    cache = widget_cache()
    at = services.now()
    found = cache.lookup(slug, variant, at)
    if found is None:
        raise services.NotFound(services.no_campaign(slug))
    entry = cache.get(found.key)
    if entry is None:
        campaign = services.require_campaign(slug)
        entry = build(campaign, at)
        db.session.commit()  # the period may have just been created
        cache.put(found.key, entry)
    return entry_response(entry, at, found.until, cors=cors)


def entry_response(
    entry: hotcache.Entry, at: datetime, until: datetime, *, cors: bool = False
) -> Response:
    """The answer for a ready entry: 200 with its body, or 304 when the ETag matches.

    The headers come from hotcache.response_headers, as on the fast path.
    """
    headers = hotcache.response_headers(
        entry,
        at,
        until,
        current_app.config["TRACKER_CACHE_SECONDS"],
        cors=cors,
        secure=request.is_secure,
    )
    if hotcache.etag_matches(request.headers.get("If-None-Match"), entry.etag):
        return Response(status=304, headers=headers)
    return Response(entry.body, status=200, headers=headers, content_type=entry.content_type)


# Blueprints that never use a session: public reads, and Stripe's signed webhooks.
SESSIONLESS_BLUEPRINTS = frozenset({"api", "embed", "webhooks"})


class PublicReadSessions(SecureCookieSessionInterface):
    """Leave the session alone on public reads: no cookie, and no `Vary: Cookie` for CDNs.

    The same for webhooks, which no browser sends.

    Flask-Login looks into the session after every request, which alone would add
    `Vary: Cookie` to widget and API answers and split every shared cache by visitor.
    """

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if request.blueprint in SESSIONLESS_BLUEPRINTS and not session.modified:
            return
        super().save_session(app, session, response)
