"""Rate limits, counted with the `limits` library in RATELIMIT_STORAGE_URI's storage.

Three are declared: Checkout Sessions per address (card testing), customer portal sessions
per address, and failed admin logins per email and per address (password guessing). Each
app has its own storage, so two apps in one process, or many processes on one Redis, each
see the shared count they should.
A limit is checked where it applies; no hook runs on other requests.
"""

from __future__ import annotations

import math
import time

import limits
import limits.storage
import limits.strategies
from flask import Flask, current_app

CHECKOUTS = limits.parse("20 per 10 minutes")
PORTALS = limits.parse("20 per 10 minutes")  # customer portal sessions, per address
LOGIN_FAILURES = limits.parse("10 per 15 minutes")

_KEY = "tracker.throttle"


class Throttle:
    """Counts hits of a limit per key; says how long a key must wait once it is used up."""

    def __init__(self, storage_uri: str) -> None:
        self.storage = limits.storage.storage_from_string(storage_uri)
        self.strategy: limits.strategies.RateLimiter
        if isinstance(self.storage, limits.storage.MovingWindowSupport):
            self.strategy = limits.strategies.MovingWindowRateLimiter(self.storage)
        else:
            self.strategy = limits.strategies.FixedWindowRateLimiter(self.storage)

    def wait_s(self, limit: limits.RateLimitItem, *keys: str) -> int | None:
        """Seconds until `keys` may be tried again under `limit`; None when it may now."""
        if self.strategy.test(limit, *keys):
            return None
        reset_at = self.strategy.get_window_stats(limit, *keys).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    def hit(self, limit: limits.RateLimitItem, *keys: str) -> None:
        """Count one use of `limit` by `keys`."""
        self.strategy.hit(limit, *keys)

    def reset(self) -> None:
        """Forget every count (tests start from zero)."""
        self.storage.reset()


def install(app: Flask) -> None:
    app.extensions[_KEY] = Throttle(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")


def throttle() -> Throttle:
    """The current app's throttle."""
    found: Throttle = current_app.extensions[_KEY]
    return found
