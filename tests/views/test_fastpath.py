"""The WSGI fast path answers exactly as Flask does, and only for cache hits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from tests.factories import make_campaign, make_donation
from tracker.fastpath import FastReads

NOV_23 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

READS = [
    "/api/v1/campaigns/southfront/progress",
    "/api/v1/campaigns/southfront/periods",
]


def fast_layer(app) -> FastReads:
    layer = app.extensions["tracker.fastpath"]
    assert isinstance(layer, FastReads)
    return layer


# The fast path logs nothing, so it hands out no request id; all else must match.
PER_REQUEST = {"Date", "X-Request-ID"}


def comparable(response) -> tuple:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in PER_REQUEST)
    return response.status_code, headers, response.data


@pytest.mark.parametrize("path", READS)
@time_machine.travel(NOV_23, tick=False)
def test_fast_path_answers_like_flask(app, client, path) -> None:
    make_donation(make_campaign("southfront"), 218000)
    layer = fast_layer(app)
    layer.enabled = False
    try:
        by_flask = client.get(path)
        etag = by_flask.headers["ETag"]
        not_modified_by_flask = client.get(path, headers={"If-None-Match": etag})
    finally:
        layer.enabled = True
    served = layer.served
    by_fast_path = client.get(path)
    not_modified_by_fast_path = client.get(path, headers={"If-None-Match": etag})
    assert layer.served == served + 2
    assert comparable(by_fast_path) == comparable(by_flask)
    assert by_flask.status_code == 200
    assert comparable(not_modified_by_fast_path) == comparable(not_modified_by_flask)
    assert not_modified_by_flask.status_code == 304


@time_machine.travel(NOV_23, tick=False)
def test_misses_and_errors_fall_through_to_flask(app, client) -> None:
    layer = fast_layer(app)
    served = layer.served
    assert client.get("/api/v1/campaigns/nope/progress").status_code == 404
    assert client.get("/api/v1/campaigns/Bad_Slug/progress").status_code == 404
    make_campaign("southfront")
    assert client.get("/api/v1/campaigns/southfront/progress").status_code == 200
    assert client.post("/api/v1/campaigns/southfront/progress").status_code == 405
    assert layer.served == served  # nothing so far was a cache hit
    assert client.get("/api/v1/campaigns/southfront/progress").status_code == 200
    assert layer.served == served + 1
