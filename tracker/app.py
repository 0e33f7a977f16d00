"""The application factory."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import config
from tracker import hotcache
from tracker.extensions import csrf, db, limiter, login, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment, then `overrides` (tests pass theirs here)."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        instance_path=os.environ.get("TRACKER_INSTANCE_PATH") or str(ROOT / "instance"),
    )
    app.config.update(
        SQLALCHEMY_DATABASE_URI=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    app.config.update(config.from_environment())
    app.config.update(overrides or {})
    _check(app)
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(
            Path(app.instance_path) / "tracker.db"
        )
    _logging(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login.init_app(app)

    with app.app_context():
        app.extensions["tracker.hotcache"] = hotcache.HotCache(
            hotcache.load_states_from(lambda: Session(db.engine))
        )

    from tracker import cli, errors
    from tracker.views.api import api
    from tracker.views.donate import donate
    from tracker.views.webhooks import webhooks

    app.register_blueprint(api)
    app.register_blueprint(donate)
    app.register_blueprint(webhooks)
    errors.register(app)
    cli.register(app)
    return app


def _check(app: Flask) -> None:
    production = not (app.config.get("TESTING") or app.debug) and app.config.get(
        "TRACKER_ENV"
    ) not in ("development", "test")
    if production and not app.config.get("SECRET_KEY"):
        raise config.ConfigError("SECRET_KEY must be set in production (see .env.example)")
    if production and not app.config.get("STRIPE_WEBHOOK_SECRET"):
        raise config.ConfigError(
            "STRIPE_WEBHOOK_SECRET must be set in production (see .env.example)"
        )
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.urandom(32).hex()


def _logging(app: Flask) -> None:
    root = logging.getLogger("tracker")
    if not any(getattr(h, "_tracker", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler._tracker = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.INFO)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets readers run beside a writer; busy_timeout makes writers wait, not fail.
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
