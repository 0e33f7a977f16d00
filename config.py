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
    }
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
