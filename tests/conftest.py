"""Shared fixtures: app, make_app, client, runner, db, stripe_api.

SQLite by default; TEST_DATABASE_URL for PostgreSQL. Each pytest-xdist worker has a
database of its own (a file, or `<name>_<worker>` on PostgreSQL), built once from the
migrations; after every test its tables are emptied, the widget cache dropped and the rate
limits forgotten, so each test starts from nothing and `pytest -n auto` works on both.
The session's app is configured here once; a test that needs other settings builds its
own with `make_app(...)` instead of changing the shared one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g, request_started
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import config
from config import normalize_database_url
from tracker.app import create_app
from tracker.extensions import db as _db

WEBHOOK_SECRET = "whsec_test_secret"

# The suite sets what it needs itself: nothing from the caller's environment
# (a developer's DATABASE_URL, `make run`'s TRACKER_ENV, ...) may change its answers.
for _key in config.SETTINGS:
    os.environ.pop(_key, None)
# Nor may a `flask` command a test starts read the developer's .env (make run writes one).
os.environ["FLASK_SKIP_DOTENV"] = "1"


def _database_url(tmp_root: Path, worker: str) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_root / 'test.db'}"
    url = normalize_database_url(url)
    if worker == "master":
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(False)


def _fresh_postgres(url: str) -> None:
    """An empty database at `url`: created when missing, its schema dropped otherwise."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        ).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> str:
    url = _database_url(tmp_path_factory.mktemp("db"), worker_id)
    if url.startswith("postgresql"):
        _fresh_postgres(url)
    return url


@pytest.fixture(scope="session")
def stripe_api_server() -> Iterator[Any]:
    """The stand-in Stripe API (tests/stripe_api.py) the app's STRIPE_API_BASE points at."""
    from tests.stripe_api import serve

    api, stop = serve()
    yield api
    stop()


@pytest.fixture()
def stripe_api(stripe_api_server: Any) -> Iterator[Any]:
    """The stand-in Stripe API, with no calls recorded and nothing scripted."""
    stripe_api_server.reset()
    yield stripe_api_server
    stripe_api_server.reset()


@pytest.fixture(scope="session")
def settings(database_url: str, stripe_api_server: Any) -> dict[str, Any]:
    """What every test app is built with."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "STRIPE_SECRET_KEY": "sk_test_123",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe_api_server.url,
        "STRIPE_MAX_NETWORK_RETRIES": 1,
        "STRIPE_RETRY_DELAY_S": 0.001,  # 429 backoff: a test never waits on it
        "TRACKER_CACHE_SECONDS": 30,
        "SESSION_COOKIE_SECURE": True,
        "TRACKER_CHEAP_PASSWORD_HASH": True,  # argon2id with tiny costs: fast tests
    }


def fresh_g(sender: object, **extra: object) -> None:
    """Start each request with an empty `g`, as in production.

    The `db` fixture keeps one app context open for the whole test, and a test request
    reuses it, so `g` (where Flask-Login caches the user and Flask-WTF the CSRF token)
    would carry over from one request, or one client, to the next.
    """
    for name in list(g):
        g.pop(name)


def _build(settings: dict[str, Any], instance: Path, **overrides: Any) -> Flask:
    built = create_app({**settings, **overrides})
    built.instance_path = str(instance)
    request_started.connect(fresh_g, built)
    return built


@pytest.fixture(scope="session")
def app(settings: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    built = _build(settings, tmp_path_factory.mktemp("instance"))
    with built.app_context():
        upgrade()
    yield built


@pytest.fixture()
def make_app(
    app: Flask, settings: dict[str, Any], tmp_path: Path
) -> Iterator[Callable[..., Flask]]:
    """Build an app of the test's own on the same database, with some settings changed."""
    built: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        one = _build(settings, tmp_path, **overrides)
        built.append(one)
        return one

    yield make
    for one in built:
        with one.app_context():
            _db.engine.dispose()


@pytest.fixture()
def db(app: Flask) -> Iterator[object]:
    """The database session inside an app context; every table is emptied afterwards."""
    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.remove()
        _truncate()
    app.extensions["tracker.hotcache"].clear()
    app.extensions["tracker.throttle"].reset()


def _truncate() -> None:
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
