"""Production refuses to start without its secrets; headers that every answer carries."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

import config
from tracker.app import create_app


@pytest.fixture()
def production_env(monkeypatch):
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
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert set(config.SETTINGS) <= listed


def _read_by_config_py() -> set[str]:
    """Every variable name config.py reads from the environment, found in its source."""
    source = Path(config.__file__).read_text()
    return set(
        re.findall(
            r'(?:os\.environ\.get|_flag|_int|_https_url|_web_url|_smtp_url)\(\s*"([A-Z0-9_]+)"',
            source,
        )
    )


def _documented(table_heading: str) -> set[str]:
    readme = Path(config.__file__).with_name("README.md").read_text()
    section = readme.split(table_heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_every_variable_read_is_listed_documented_and_in_the_example() -> None:
    read = _read_by_config_py()
    example = {
        line.split("=", 1)[0]
        for line in Path(config.__file__).with_name(".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert read == set(config.SETTINGS)
    assert _documented("## Configuration") == read
    assert example == read


def test_nothing_but_config_py_reads_the_environment() -> None:
    root = Path(config.__file__).parent
    found = subprocess.run(
        ["git", "grep", "-n", "-E", r"os\.environ|getenv\(", "--", "tracker", "wsgi.py"],
        cwd=root,
        capture_output=True,
        text=True,
    ).stdout
    assert found == ""


@pytest.mark.parametrize(
    "value", ["http://billing.stripe.com/p/login/x", "javascript:alert(1)", "https://a b"]
)
def test_a_portal_login_url_must_be_https(production_env, value) -> None:
    production_env.setenv("STRIPE_PORTAL_LOGIN_URL", value)
    with pytest.raises(config.ConfigError, match="STRIPE_PORTAL_LOGIN_URL must be an https"):
        config.from_environment()
