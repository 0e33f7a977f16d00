"""Public JSON API (/api/v1/...) and /healthz."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Response, request
from sqlalchemy import text

from tracker import hotcache, snapshots
from tracker.extensions import db
from tracker.models import Campaign
from tracker.read_routes import READS
from tracker.views.reads import cached_read

log = logging.getLogger(__name__)

api = Blueprint("api", __name__)


def json_entry(document: object) -> hotcache.Entry:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return hotcache.make_entry(body, "application/json")


@api.get(READS["api.progress"].rule)
def progress(slug: str) -> Response:
    def build(campaign: Campaign, at: datetime) -> hotcache.Entry:
        return json_entry(snapshots.progress_json(snapshots.snapshot(campaign, at)))

    return cached_read(slug, "progress", build, cors=True)


@api.get(READS["api.periods"].rule)
def periods(slug: str) -> Response:
    def build(campaign: Campaign, at: datetime) -> hotcache.Entry:
        return json_entry(snapshots.periods_json(campaign, at))

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
