"""Configuration, read from the environment (SPEC.md, "Configuration")."""

from __future__ import annotations

import os
from typing import Any

# Every variable the app reads (SPEC.md, "Configuration"; .env.example lists them too).
SETTINGS = (
    "DATABASE_URL",
    "SECRET_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "TRACKER_SCHEDULER",
    "TRACKER_CACHE_SECONDS",
    "RATELIMIT_STORAGE_URI",
    "SESSION_COOKIE_SECURE",
    "TRACKER_ENV",
    "TRACKER_PROXY_HOPS",
    "TRACKER_METRICS_TOKEN",
    "TRACKER_INSTANCE_PATH",
    "STRIPE_PORTAL_LOGIN_URL",
    "TRACKER_SYNC_SECONDS",
    "TRACKER_NOTIFY_SLACK_URL",
    "TRACKER_NOTIFY_WEBHOOK_URL",
    "TRACKER_NOTIFY_WEBHOOK_SECRET",
    "TRACKER_NOTIFY_EMAIL_TO",
    "TRACKER_NOTIFY_EMAIL_FROM",
    "TRACKER_SMTP_URL",
)


class ConfigError(RuntimeError):
    """A required setting is missing or invalid."""


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from exc


def _web_url(name: str) -> str | None:
    """An http(s) URL to post to (a local receiver may be plain http)."""
    value = (os.environ.get(name) or "").strip()
    if not value:
        return None
    if not value.startswith(("https://", "http://")) or any(c.isspace() for c in value):
        raise ConfigError(f"{name} must be an http(s):// URL, got {value[:80]!r}")
    return value


def _smtp_url(name: str) -> str | None:
    value = (os.environ.get(name) or "").strip()
    if not value:
        return None
    if not value.startswith("smtp://"):
        raise ConfigError(f"{name} must look like smtp://user:pass@host:587, got {value[:8]!r}...")
    return value


def _https_url(name: str) -> str | None:
    value = (os.environ.get(name) or "").strip()
    if not value:
        return None
    if not value.startswith("https://") or any(c.isspace() or c in "<>\"'" for c in value):
        raise ConfigError(f"{name} must be an https:// URL, got {value[:80]!r}")
    return value


def from_environment() -> dict[str, Any]:
    """Return the settings that the environment gives, with safe defaults."""
    settings: dict[str, Any] = {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or None,
        "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY") or None,
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE") or None,
        "TRACKER_SCHEDULER": _flag("TRACKER_SCHEDULER", False),
        "TRACKER_CACHE_SECONDS": _int("TRACKER_CACHE_SECONDS", 30),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI") or "memory://",
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", True),
        "TRACKER_ENV": os.environ.get("TRACKER_ENV", "production"),
        "TRACKER_PROXY_HOPS": _int("TRACKER_PROXY_HOPS", 0),
        "TRACKER_METRICS_TOKEN": os.environ.get("TRACKER_METRICS_TOKEN") or None,
        "STRIPE_PORTAL_LOGIN_URL": _https_url("STRIPE_PORTAL_LOGIN_URL"),
        "TRACKER_SYNC_SECONDS": _int("TRACKER_SYNC_SECONDS", 3600),
        "TRACKER_NOTIFY_SLACK_URL": _web_url("TRACKER_NOTIFY_SLACK_URL"),
        "TRACKER_NOTIFY_WEBHOOK_URL": _web_url("TRACKER_NOTIFY_WEBHOOK_URL"),
        "TRACKER_NOTIFY_WEBHOOK_SECRET": os.environ.get("TRACKER_NOTIFY_WEBHOOK_SECRET") or None,
        "TRACKER_NOTIFY_EMAIL_TO": os.environ.get("TRACKER_NOTIFY_EMAIL_TO") or None,
        "TRACKER_NOTIFY_EMAIL_FROM": os.environ.get("TRACKER_NOTIFY_EMAIL_FROM") or None,
        "TRACKER_SMTP_URL": _smtp_url("TRACKER_SMTP_URL"),
    }
    if settings["TRACKER_NOTIFY_WEBHOOK_URL"] and not settings["TRACKER_NOTIFY_WEBHOOK_SECRET"]:
        raise ConfigError("TRACKER_NOTIFY_WEBHOOK_URL needs TRACKER_NOTIFY_WEBHOOK_SECRET to sign")
    if settings["TRACKER_NOTIFY_EMAIL_TO"] and not settings["TRACKER_SMTP_URL"]:
        raise ConfigError("TRACKER_NOTIFY_EMAIL_TO needs TRACKER_SMTP_URL to send through")
    instance = os.environ.get("TRACKER_INSTANCE_PATH")
    if instance:
        settings["TRACKER_INSTANCE_PATH"] = instance
    database_url = os.environ.get("DATABASE_URL")
    if database_url:
        settings["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(database_url)
    return settings


def normalize_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgres:// and postgresql:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
