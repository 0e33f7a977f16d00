"""The WSGI fast path answers exactly as Flask does, and only for cache hits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from werkzeug.test import Client

from tests.factories import make_campaign, make_donation
from tracker.fastpath import FastReads

NOV_23 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

READS = [
    "/api/v1/campaigns/southfront/progress",
    "/api/v1/campaigns/southfront/periods",
    "/embed/southfront",
    "/embed/southfront?theme=dark&accent=ff0066&lang=de",
    "/embed/southfront.svg",
    "/embed/southfront.svg?lang=de_DE",
    "/embed/southfront.js",
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
    flask_alone = Client(layer.app, app.response_class)  # the WSGI app behind the layer
    by_flask = flask_alone.get(path)
    etag = by_flask.headers["ETag"]
    not_modified_by_flask = flask_alone.get(path, headers={"If-None-Match": etag})
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
    assert client.get("/embed/southfront?theme=pink").status_code == 400
    assert client.get("/embed/southfront?theme=dark&theme=light").status_code == 400
    assert client.get("/embed/southfront/demo").status_code == 200
    assert layer.served == served  # nothing so far was a cache hit
    assert client.get("/api/v1/campaigns/southfront/progress").status_code == 200
    assert layer.served == served + 1


def test_fast_path_sees_other_processes_writes_outside_any_app_context(
    database_url, monkeypatch
) -> None:
    """The revision poll runs before Flask, so it must need no app context."""
    from sqlalchemy import create_engine, text

    from tracker import hotcache
    from tracker.app import create_app
    from tracker.extensions import db as sa_db

    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        make_donation(make_campaign("elsewhere"), 1000)
    client = app.test_client()  # no app context is pushed around these requests
    path = "/api/v1/campaigns/elsewhere/progress"
    assert client.get(path).get_json()["raised"]["amount_minor"] == 1000
    assert client.get(path).status_code == 200  # a fast-path hit

    # Another process records a donation: only the database knows.
    other = create_engine(database_url)
    with other.begin() as conn:
        conn.execute(text("UPDATE periods SET raised_minor = raised_minor + 5"))
        conn.execute(text("UPDATE campaigns SET revision = revision + 1"))
    other.dispose()
    monkeypatch.setattr(hotcache, "POLL_SECONDS", 0.0)  # as if a second had passed
    assert client.get(path).get_json()["raised"]["amount_minor"] == 1005
    with app.app_context():
        sa_db.engine.dispose()


def test_the_fast_path_and_the_views_share_one_table_of_routes(app) -> None:
    from tracker.read_routes import READS

    rules = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}
    assert {endpoint: rules[endpoint] for endpoint in READS} == {
        endpoint: read.rule for endpoint, read in READS.items()
    }
    assert fast_layer(app).routes == list(READS.values())
