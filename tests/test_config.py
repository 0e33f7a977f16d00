"""Production refuses to start without its secrets; headers that every answer carries."""

from __future__ import annotations

import pytest

import config
from tracker.app import create_app


@pytest.fixture()
def production_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key in config.SETTINGS or key.startswith("TRACKER_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    return monkeypatch


def test_production_needs_a_secret_key(production_env) -> None:
    production_env.setenv("STRIPE_WEBHOOK_SECRET", "whsec_x")
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_needs_the_webhook_secret(production_env) -> None:
    production_env.setenv("SECRET_KEY", "k" * 32)
    with pytest.raises(config.ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        create_app()


def test_production_starts_with_both(production_env) -> None:
    production_env.setenv("SECRET_KEY", "k" * 32)
    production_env.setenv("STRIPE_WEBHOOK_SECRET", "whsec_x")
    app = create_app()
    assert app.config["SECRET_KEY"] == "k" * 32
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_bad_number_in_environment_is_a_clear_error(production_env) -> None:
    production_env.setenv("TRACKER_CACHE_SECONDS", "thirty")
    with pytest.raises(config.ConfigError, match="TRACKER_CACHE_SECONDS"):
        config.from_environment()


def test_hsts_only_over_https_and_behind_trusted_proxy(database_url) -> None:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TRACKER_PROXY_HOPS": 1,
        }
    )
    client = app.test_client()
    plain = client.get("/healthz")
    assert "Strict-Transport-Security" not in plain.headers
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    behind = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert behind.headers["Strict-Transport-Security"].startswith("max-age=")


def test_env_example_lists_every_setting() -> None:
    from pathlib import Path

    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert set(config.SETTINGS) <= listed
