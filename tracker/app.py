"""The application factory."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

import config
from tracker import headers, hotcache
from tracker.domain.text import visible
from tracker.extensions import csrf, db, login, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment, then `overrides` (tests pass theirs here)."""
    settings = {**config.from_environment(), **(overrides or {})}
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        static_url_path="/static",
        instance_path=settings.get("TRACKER_INSTANCE_PATH") or str(ROOT / "instance"),
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
    app.config.update(settings)
    _check(app)
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(
            Path(app.instance_path) / "tracker.db"
        )
    _engine_options(app)
    _logging(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    login.init_app(app)

    with app.app_context():
        # Captured here: the fast path reads revisions outside any app context.
        engine = db.engine
    app.extensions["tracker.hotcache"] = hotcache.HotCache(
        hotcache.load_states_from(lambda: Session(engine))
    )

    from tracker import cli, errors, i18n, observability, scheduler, services, throttle
    from tracker.views.admin import admin
    from tracker.views.api import api
    from tracker.views.donate import donate
    from tracker.views.embed import embed
    from tracker.views.home import home
    from tracker.views.reads import PublicReadSessions
    from tracker.views.webhooks import webhooks

    app.session_interface = PublicReadSessions()
    # Text that came from outside (Stripe payloads): control characters shown as escapes.
    app.jinja_env.filters["visible"] = visible

    app.register_blueprint(api)
    app.register_blueprint(admin)
    app.register_blueprint(embed)
    app.register_blueprint(donate)
    app.register_blueprint(webhooks)
    app.register_blueprint(home)
    throttle.install(app)
    i18n.install(app)
    errors.register(app)
    cli.register(app)
    observability.register(app)
    app.after_request(_finish_headers)
    if app.config.get("TRACKER_FAST_READS", True):
        from tracker.fastpath import FastReads
        from tracker.read_routes import READS

        fast = FastReads(
            app.wsgi_app,
            app.extensions["tracker.hotcache"],
            READS.values(),
            app.config["TRACKER_CACHE_SECONDS"],
            clock=services.now,
        )
        app.extensions["tracker.fastpath"] = fast
        app.wsgi_app = fast  # type: ignore[method-assign]
    hops = app.config["TRACKER_PROXY_HOPS"]
    if hops:
        # Behind a load balancer or CDN: trust its X-Forwarded-* (client address
        # for rate limits, https for secure cookies and HSTS). Outermost, so the
        # fast path sees the same request Flask does.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    scheduler.install(app)  # TRACKER_SCHEDULER=1: the rollover job inside this process
    return app


# Pages for one person: the dashboard and the donate pages (not their static files).
PRIVATE_BLUEPRINTS = frozenset({"admin", "donate"})


def _finish_headers(response: Response) -> Response:
    private = request.blueprint in PRIVATE_BLUEPRINTS or request.path.startswith("/admin")
    return headers.finish(response, secure=request.is_secure, private=private)


def _engine_options(app: Flask) -> None:
    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    # A connection that died while the database was away is replaced, not reused.
    options.setdefault("pool_pre_ping", True)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options.setdefault("connect_args", {"connect_timeout": 5})


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
        from tracker.observability import RequestIdFilter

        # Logs go to stderr: a command's stdout carries only its results.
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s"
            )
        )
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
