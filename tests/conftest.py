"""Shared fixtures: app, client, runner, db. SQLite by default; TEST_DATABASE_URL for PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

import config
from config import normalize_database_url
from tracker.app import create_app
from tracker.extensions import db as _db

WEBHOOK_SECRET = "whsec_test_secret"

# The suite sets what it needs itself: nothing from the caller's environment
# (a developer's DATABASE_URL, `make run`'s TRACKER_ENV, ...) may change its answers.
for _key in config.SETTINGS:
    os.environ.pop(_key, None)


def _database_url(tmp_root: Path) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return normalize_database_url(url)
    return f"sqlite:///{tmp_root / 'test.db'}"


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = _database_url(tmp_path_factory.mktemp("db"))
    if url.startswith("postgresql"):
        _reset_postgres(url)
    return url


@pytest.fixture(scope="session")
def stripe_api_server() -> Iterator[object]:
    """The stand-in Stripe API (tests/stripe_api.py) the app's STRIPE_API_BASE points at."""
    from tests.stripe_api import serve

    api, stop = serve()
    yield api
    stop()


@pytest.fixture()
def stripe_api(stripe_api_server: object) -> Iterator[object]:
    """The stand-in Stripe API, with no calls recorded and nothing scripted."""
    stripe_api_server.reset()  # type: ignore[attr-defined]
    yield stripe_api_server
    stripe_api_server.reset()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def app(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, stripe_api_server: object
) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "STRIPE_SECRET_KEY": "sk_test_123",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": stripe_api_server.url,  # type: ignore[attr-defined]
            "STRIPE_MAX_NETWORK_RETRIES": 1,
            "TRACKER_CACHE_SECONDS": 30,
            "SESSION_COOKIE_SECURE": True,
        }
    )
    app.instance_path = str(tmp_path_factory.mktemp("instance"))
    with app.app_context():
        upgrade()
    yield app


@pytest.fixture()
def db(app: Flask) -> Iterator[object]:
    """The database session inside an app context; every table is emptied afterwards."""
    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.remove()
        _truncate(app)
    app.extensions["tracker.hotcache"].clear()


def _truncate(app: Flask) -> None:
    engine = _db.engine
    tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
    existing = set(inspect(engine).get_table_names())
    tables = [t for t in tables if t in existing]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture()
def client(app: Flask, db: object) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def runner(app: Flask, db: object) -> FlaskCliRunner:
    return app.test_cli_runner()
