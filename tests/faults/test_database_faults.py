"""The database goes away and comes back: clear 503s, last good bodies, no restart."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy.engine import make_url

from tests import stripe_events as se
from tests.factories import make_campaign, make_donation
from tests.proxy import Proxy
from tracker import hotcache
from tracker.app import create_app
from tracker.extensions import db as sa_db

NOV_23 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.fixture()
def cut_database(database_url, db):
    """An app whose PostgreSQL connection runs through a proxy the test can cut."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL fault test (set TEST_DATABASE_URL)")
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": proxied.render_as_string(hide_password=False),
            "STRIPE_SECRET_KEY": "sk_test_123",
            "STRIPE_WEBHOOK_SECRET": se.WEBHOOK_SECRET,
        }
    )
    yield app, proxy
    proxy.stop()
    with app.app_context():
        sa_db.engine.dispose()


@time_machine.travel(NOV_23, tick=False)
def test_postgres_away_and_back(cut_database, monkeypatch) -> None:
    app, proxy = cut_database
    monkeypatch.setattr(hotcache, "POLL_SECONDS", 0.0)  # re-read revisions on every request
    with app.app_context():
        make_donation(make_campaign("southfront"), 218000)
    client = app.test_client()
    progress = "/api/v1/campaigns/southfront/progress"
    good = client.get(progress)
    assert good.status_code == 200
    assert client.get("/healthz").status_code == 200

    proxy.stop()
    assert client.get("/healthz").status_code == 503
    stale = client.get(progress)  # the last good body, still served
    assert stale.status_code == 200
    assert stale.data == good.data
    missing = client.get("/api/v1/campaigns/southfront/periods")  # never cached
    assert missing.status_code == 503
    assert missing.get_json()["error"] == "unavailable"
    assert b"Traceback" not in missing.data

    payment = se.checkout_session(
        session_id="cs_away", payment_intent="pi_away", amount=700, created=NOV_23
    )
    refused_event = se.event("checkout.session.completed", payment, event_id="evt_away")
    refused = se.deliver(client, refused_event)
    assert refused.status_code == 503  # Stripe will retry
    assert b"Traceback" not in refused.data

    proxy.start()  # same port: the app reconnects without a restart
    assert client.get("/healthz").status_code == 200
    assert se.deliver(client, refused_event).status_code == 200  # Stripe's retry counts
    assert se.deliver(client, refused_event).status_code == 200  # once
    assert client.get(progress).get_json()["raised"]["amount_minor"] == 218700
    assert client.get("/api/v1/campaigns/southfront/periods").status_code == 200
    with app.app_context():
        make_donation(sa_db.session.merge(_campaign("southfront")), 100)
    assert client.get(progress).get_json()["raised"]["amount_minor"] == 218800


def _campaign(slug: str):
    from tracker.services import require_campaign

    return require_campaign(slug)


def test_sqlite_locked_write_is_503_and_changes_nothing(database_url, db, tmp_path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite lock test")
    path = tmp_path / "locked.db"
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        make_campaign("southfront")
        sa_db.engine.dispose()
    holder = sqlite3.connect(path, timeout=0.1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with app.app_context():
            from sqlalchemy import event

            @event.listens_for(sa_db.engine, "connect")
            def short_wait(dbapi_connection, record) -> None:
                dbapi_connection.execute("PRAGMA busy_timeout=100")

            client = app.test_client()
            # WAL readers go on beside the lock; a write (next month's new period) cannot.
            assert client.get("/healthz").status_code == 200
            with time_machine.travel(datetime(2030, 1, 15, tzinfo=UTC), tick=False):
                response = client.get("/api/v1/campaigns/southfront/progress")
            assert response.status_code == 503
            assert response.get_json()["message"].startswith("The database is unavailable")
            assert response.headers["Retry-After"] == "5"
    finally:
        holder.rollback()
        holder.close()
    with time_machine.travel(datetime(2030, 1, 15, tzinfo=UTC), tick=False):
        response = app.test_client().get("/api/v1/campaigns/southfront/progress")
    assert response.status_code == 200  # the lock is gone: no restart needed
    assert response.get_json()["period"]["label"] == "January 2030"
