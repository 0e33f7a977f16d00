"""Public JSON API (/api/v1/...) and /healthz."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Response, current_app, request
from sqlalchemy import text

from tracker import hotcache, services
from tracker.extensions import db
from tracker.models import Campaign

log = logging.getLogger(__name__)

api = Blueprint("api", __name__)

Builder = Callable[[Campaign, datetime], hotcache.Entry]


def widget_cache() -> hotcache.HotCache:
    cache: hotcache.HotCache = current_app.extensions["tracker.hotcache"]
    return cache


def cached_read(slug: str, variant: Hashable, build: Builder, *, cors: bool = False) -> Response:
    """Serve a widget read from the in-process cache, building it on a miss."""
    cache = widget_cache()
    at = services.now()
    found = cache.lookup(slug, variant, at)
    if found is None:
        raise services.NotFound(f"no campaign {slug[:80]!r}")
    entry = cache.get(found.key)
    if entry is None:
        campaign = services.require_campaign(slug)
        entry = build(campaign, at)
        db.session.commit()  # the period may have just been created
        cache.put(found.key, entry)
    until = found.until
    return entry_response(entry, at, until, cors=cors)


def entry_response(
    entry: hotcache.Entry, at: datetime, until: datetime, *, cors: bool = False
) -> Response:
    headers = hotcache.response_headers(
        entry, at, until, current_app.config["TRACKER_CACHE_SECONDS"], cors=cors
    )
    if hotcache.etag_matches(request.headers.get("If-None-Match"), entry.etag):
        return Response(status=304, headers=headers)
    return Response(entry.body, status=200, headers=headers, content_type=entry.content_type)


def json_entry(document: object) -> hotcache.Entry:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return hotcache.make_entry(body, "application/json")


@api.get("/api/v1/campaigns/<slug>/progress")
def progress(slug: str) -> Response:
    def build(campaign: Campaign, at: datetime) -> hotcache.Entry:
        return json_entry(services.progress_json(services.snapshot(campaign, at)))

    return cached_read(slug, "progress", build, cors=True)


@api.get("/api/v1/campaigns/<slug>/periods")
def periods(slug: str) -> Response:
    def build(campaign: Campaign, at: datetime) -> hotcache.Entry:
        return json_entry(services.periods_json(campaign, at))

    return cached_read(slug, "periods", build, cors=True)


OPENAPI = (Path(__file__).resolve().parent.parent / "openapi.json").read_bytes()


@api.get("/api/v1/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of this API (tests hold the answers to it)."""
    return Response(OPENAPI, content_type="application/json")


@api.get("/healthz")
def healthz() -> Response:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        db.session.rollback()
        log.warning("health check: database unreachable")
        return Response(
            '{"status":"unavailable","database":"unreachable"}',
            status=503,
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )
    return Response(
        '{"status":"ok","database":"ok"}',
        status=200,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@api.after_request
def allow_any_origin(response: Response) -> Response:
    if request.path.startswith("/api/"):
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response
