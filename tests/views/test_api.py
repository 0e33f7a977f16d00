"""GET /api/v1/campaigns/<slug>/progress and /periods, and /healthz."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from tests.factories import make_campaign, make_donation
from tracker.app import create_app
from tracker.extensions import db as sa_db

NOV_23 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@time_machine.travel(NOV_23, tick=False)
def test_progress_document(client, db) -> None:
    campaign = make_campaign("southfront")
    for minor in (150000, 50000, 18000):
        make_donation(campaign, minor)
    response = client.get("/api/v1/campaigns/southfront/progress")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    assert body["campaign"] == {
        "slug": "southfront",
        "name": "Support us",
        "currency": "USD",
        "timezone": "UTC",
        "locale": "en",
    }
    assert body["period"] == {
        "start": "2026-11-01",
        "end": "2026-11-30",
        "label": "November 2026",
        "days_left": 7,
        "ends_at": "2026-12-01T00:00:00+00:00",
        "closed": False,
    }
    assert body["raised"] == {"amount_minor": 218000, "display": "2,180 $"}
    assert body["goal"] == {"amount_minor": 500000, "display": "5,000 $"}
    assert body["milestones"] == [
        {"amount_minor": 0, "display": "0 $", "reached": True},
        {"amount_minor": 250000, "display": "2,500 $", "reached": False},
        {"amount_minor": 500000, "display": "5,000 $", "reached": False},
    ]
    assert body["percent"] == 43.6
    assert body["donations"] == 3


@time_machine.travel(NOV_23, tick=False)
def test_percent_passes_100(client, db) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 600000)
    body = client.get("/api/v1/campaigns/southfront/progress").get_json()
    assert body["percent"] == 120.0
    assert body["goal_reached"] is True
    assert all(m["reached"] for m in body["milestones"])


@time_machine.travel(datetime(2026, 11, 1, 0, 30, tzinfo=UTC), tick=False)
def test_month_is_the_campaigns_local_month(client, db) -> None:
    make_campaign("la", timezone="America/Los_Angeles")
    body = client.get("/api/v1/campaigns/la/progress").get_json()
    assert body["period"]["label"] == "October 2026"
    assert body["period"]["days_left"] == 0
    assert body["period"]["ends_at"] == "2026-11-01T00:00:00-07:00"


def test_unknown_slug_is_json_404(client, db) -> None:
    response = client.get("/api/v1/campaigns/nope/progress")
    assert response.status_code == 404
    assert response.get_json() == {"error": "not_found", "message": "no campaign 'nope'"}
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@time_machine.travel(NOV_23, tick=False)
def test_etag_and_304(client, db) -> None:
    campaign = make_campaign("southfront")
    first = client.get("/api/v1/campaigns/southfront/progress")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"].startswith("public, max-age=30")
    again = client.get("/api/v1/campaigns/southfront/progress", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    make_donation(campaign, 100)  # a change shows at once in the writing process
    changed = client.get("/api/v1/campaigns/southfront/progress", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.get_json()["raised"]["amount_minor"] == 100


def test_max_age_never_passes_local_midnight(client, db) -> None:
    make_campaign("berlin", timezone="Europe/Berlin")
    # 22:59:50 UTC on 23 Nov is 23:59:50 in Berlin: ten seconds to midnight.
    with time_machine.travel(datetime(2026, 11, 23, 22, 59, 50, tzinfo=UTC), tick=False):
        response = client.get("/api/v1/campaigns/berlin/progress")
        assert response.headers["Cache-Control"] == "public, max-age=10"
        etag = response.headers["ETag"]
        assert response.get_json()["period"]["days_left"] == 7
    with time_machine.travel(datetime(2026, 11, 23, 23, 0, 1, tzinfo=UTC), tick=False):
        response = client.get("/api/v1/campaigns/berlin/progress", headers={"If-None-Match": etag})
        assert response.status_code == 200
        assert response.get_json()["period"]["days_left"] == 6


@time_machine.travel(datetime(2026, 12, 2, tzinfo=UTC), tick=False)
def test_periods_newest_first(client, db) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 1000, datetime(2026, 10, 5, tzinfo=UTC))
    make_donation(campaign, 2000, datetime(2026, 11, 5, tzinfo=UTC))
    body = client.get("/api/v1/campaigns/southfront/periods").get_json()
    assert [p["label"] for p in body["periods"]] == [
        "December 2026",
        "November 2026",
        "October 2026",
    ]
    november = body["periods"][1]
    assert november == {
        "start": "2026-11-01",
        "end": "2026-11-30",
        "label": "November 2026",
        "raised": {"amount_minor": 2000, "display": "20 $"},
        "goal": {"amount_minor": 500000, "display": "5,000 $"},
        "closed_raised": None,
        "donations": 1,
        "closed": False,
    }


def test_cost_does_not_grow_with_donations(client, db, app) -> None:
    """A cache hit runs no SQL at all; a miss reads rows, and aggregates only the
    campaign's subscriptions (on their index), never donations."""
    from sqlalchemy import event

    campaign = make_campaign("southfront")
    for _ in range(5):
        make_donation(campaign, 100)
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(sa_db.engine, "before_cursor_execute", record)
    try:
        client.get("/api/v1/campaigns/southfront/progress")
        assert statements, "the first read builds the body"
        assert not any("from donations" in s.lower() for s in statements)
        aggregates = [s.lower() for s in statements if "sum(" in s.lower()]
        assert len(aggregates) == 1
        assert "from subscriptions where subscriptions.campaign_id =" in " ".join(
            aggregates[0].split()
        )
        statements.clear()
        client.get("/api/v1/campaigns/southfront/progress")
        assert statements == []
    finally:
        event.remove(sa_db.engine, "before_cursor_execute", record)


def test_healthz(client, db) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_healthz_database_down(tmp_path) -> None:
    broken = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            # A directory cannot be opened as a database file.
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}",
        }
    )
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert b"unreachable" in response.data
    assert b"Traceback" not in response.data


def test_internal_error_hides_the_trace(database_url) -> None:
    fresh = create_app(
        {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": database_url}
    )

    @fresh.get("/api/v1/boom-for-test")
    def boom():
        raise RuntimeError("secret detail")

    response = fresh.test_client().get("/api/v1/boom-for-test")
    assert response.status_code == 500
    assert response.get_json()["error"] == "server_error"
    assert b"secret detail" not in response.data
    assert b"Traceback" not in response.data


def test_public_reads_do_not_vary_on_cookies(make_app, db) -> None:
    make_campaign("southfront")
    # The Flask path is the one that touches sessions.
    client = make_app(TRACKER_FAST_READS=False).test_client()
    response = client.get("/api/v1/campaigns/southfront/progress")
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "Set-Cookie" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
