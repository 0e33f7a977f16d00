"""Operations: /metrics in the Prometheus text format, request ids in the logs.

The widget fast path counts in plain integers (FastReads.counts, HotCache.hits)
that a collector reads at scrape time, so the hot path pays no metric locks.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import time
import weakref
from collections.abc import Iterator

from flask import Flask, Response, abort, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "tracker_http_requests",
    "Requests answered by Flask, by route and status",
    ["route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "tracker_http_request_seconds",
    "Time Flask took to answer, by route",
    ["route"],
    registry=REGISTRY,
)
WEBHOOK_EVENTS = Counter(
    "tracker_webhook_events",
    "Stripe events received, by type and outcome",
    ["type", "outcome"],
    registry=REGISTRY,
)
DONATIONS = Counter(
    "tracker_donations_recorded", "Donations recorded, by source", ["source"], registry=REGISTRY
)
ROLLOVER_RUNS = Counter(
    "tracker_rollover_runs", "Rollover job runs, by result", ["result"], registry=REGISTRY
)
EVENTS_MISSED = Counter(
    "tracker_stripe_events_missed",
    "Events `tracker sync-stripe` found that the webhook had not delivered",
    registry=REGISTRY,
)
RECONCILE_RUNS = Counter(
    "tracker_reconcile_runs",
    "Reconciliations with Stripe, by result (clean, differences, failed)",
    ["result"],
    registry=REGISTRY,
)
OPEN_EVENTS = Gauge(
    "tracker_stripe_events_open",
    "Stored Stripe events that need an admin: rejected and not yet seen, or stuck (neither "
    "applied nor rejected an hour after they came), read from the database at scrape time",
    ["state"],
    registry=REGISTRY,
)

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


_apps: weakref.WeakSet[Flask] = weakref.WeakSet()


class FastPathCollector(Collector):
    """Reads the fast path's and the cache's plain counters at scrape time."""

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        hits = CounterMetricFamily(
            "tracker_widget_cache", "Widget cache lookups, by result", labels=["result"]
        )
        family = CounterMetricFamily(
            "tracker_fast_path_requests",
            "Widget reads answered before Flask, by route and status",
            labels=["route", "status"],
        )
        found: dict[str, int] = {"hit": 0, "miss": 0}
        fast: dict[tuple[str, str], int] = {}
        for app in list(_apps):
            cache = app.extensions.get("tracker.hotcache")
            if cache is not None:
                found["hit"] += cache.hits
                found["miss"] += cache.misses
            layer = app.extensions.get("tracker.fastpath")
            for key, value in getattr(layer, "counts", {}).items():
                fast[key] = fast.get(key, 0) + value
        for result, value in found.items():
            hits.add_metric([result], value)
        for (route, status), value in sorted(fast.items()):
            family.add_metric([route, status], value)
        yield hits
        yield family


REGISTRY.register(FastPathCollector())


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record (a dash outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:
            record.request_id = "-"
        return True


def request_id(given: str | None) -> str:
    """The caller's X-Request-ID when it looks like one, else a new random id."""
    return given if given and REQUEST_ID.fullmatch(given) else secrets.token_hex(8)


def observe(route: str, status: int, started: float | None) -> None:
    """Count an answer and its latency (seconds since perf_counter() gave `started`)."""
    REQUESTS.labels(route, str(status)).inc()
    if started is not None:
        LATENCY.labels(route).observe(time.perf_counter() - started)


def _start() -> None:
    g.request_id = request_id(request.headers.get("X-Request-ID"))
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    observe(route, response.status_code, g.get("started"))
    response.headers.setdefault("X-Request-ID", g.get("request_id", "-"))
    return response


def _from_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def metrics() -> Response:
    """The Prometheus text format; from loopback, or with TRACKER_METRICS_TOKEN."""
    token = current_app.config.get("TRACKER_METRICS_TOKEN")
    if token:
        if not secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
            abort(403, "metrics need the bearer token (TRACKER_METRICS_TOKEN)")
    elif not _from_loopback(request.remote_addr):
        abort(403, "metrics are served to loopback only unless TRACKER_METRICS_TOKEN is set")
    from tracker import inbox, services

    OPEN_EVENTS.labels("rejected_unseen").set(inbox.count_rejected_unseen())
    OPEN_EVENTS.labels("stuck").set(len(inbox.stuck_events(services.now())))
    return Response(
        generate_latest(REGISTRY),
        content_type="text/plain; version=0.0.4; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def register(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.add_url_rule("/metrics", "metrics", metrics)
    _apps.add(app)
