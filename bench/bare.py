"""Baselines: a bare Flask app and a bare WSGI callable returning a constant body.

The body, its content type and its ETag come from the environment
(BENCH_BODY_FILE, BENCH_CONTENT_TYPE, BENCH_ETAG), so the baseline sends the
very bytes tracker sends. A matching If-None-Match gets an empty 304, as from
tracker.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response, request

BODY = Path(os.environ.get("BENCH_BODY_FILE", "/dev/null")).read_bytes() or b"x" * 3072
CONTENT_TYPE = os.environ.get("BENCH_CONTENT_TYPE", "application/json")
ETAG = os.environ.get("BENCH_ETAG", '"bench"')

app = Flask(__name__)


@app.get("/<path:anything>")
def constant(anything: str) -> Response:
    if request.headers.get("If-None-Match") == ETAG:
        return Response(status=304, headers={"ETag": ETAG})
    return Response(BODY, content_type=CONTENT_TYPE, headers={"ETag": ETAG})


def raw(environ, start_response):  # type: ignore[no-untyped-def]
    """The same answer without any framework."""
    if environ.get("HTTP_IF_NONE_MATCH") == ETAG:
        start_response("304 Not Modified", [("ETag", ETAG)])
        return [b""]
    start_response(
        "200 OK",
        [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(BODY))), ("ETag", ETAG)],
    )
    return [BODY]
