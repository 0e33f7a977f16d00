"""Where a new Stripe event's time goes in tracker: in process, one request at a time.

    .venv/bin/python bench/webhook_profile.py --database-url postgresql://postgres@127.0.0.1/scratch

The database is wiped and built like bench/webhooks.py does (PostgreSQL: give a scratch
one). The app (create_app, the same settings as the benchmark's servers) takes signed
checkout.session.completed events, each new, through Flask's test client, one at a time:

1. timed without a profiler: wall time and this process's CPU time per event (one request
   at a time, so wall minus CPU is about the time spent waiting for the database), and the
   SQL statements sent per event, by statement;
2. the same with cProfile: own time by library (psycopg includes the wait for PostgreSQL),
   and the cumulative time of the steps of the request (Flask's machinery around the view,
   verifying the signature, parsing, storing, locking, applying, committing, logging, JSON);
3. A/B alternated in process, medians: each named setting against the app as it is
   (tracker's INFO logs off; the pool's pre-ping off), to price them one by one.

Never run by `make test`.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import webhooks as wb  # noqa: E402
from config import normalize_database_url  # noqa: E402
from tests import stripe_events as se  # noqa: E402

Batch = list[tuple[bytes, str]]

# Own time by where the function lives (first match wins).
LIBRARIES = [
    ("werkzeug test client (not in a server)", ("werkzeug/test.py",)),
    ("psycopg (driver, and waiting for PostgreSQL)", ("/psycopg/",)),
    ("SQLAlchemy ORM", ("/sqlalchemy/orm/",)),
    ("SQLAlchemy Core (sql, engine, pool)", ("/sqlalchemy/",)),
    ("Flask, Werkzeug, extensions", ("/flask", "/werkzeug/", "/jinja2/", "/itsdangerous/")),
    ("logging", ("/logging/",)),
    ("json", ("/json/", "_json")),
    ("stripe library, hmac", ("/stripe/", "hmac.py", "_hashlib")),
    ("prometheus_client", ("/prometheus_client/",)),
    ("tracker", ("/tracker/",)),
]

# The steps of a request: (label, file ending, function name).
STEPS = [
    ("whole request (Flask app, as a server calls it)", "flask/app.py", "wsgi_app"),
    ("  the view (stripe_webhook)", "tracker/views/webhooks.py", "stripe_webhook"),
    ("    inbox.deliver", "tracker/inbox.py", "deliver"),
    ("      payments.verify_event (stripe verify_header, json.loads)", "client.py", "verify_event"),
    ("        stripe WebhookSignature.verify_header", "stripe/_webhook.py", "verify_header"),
    ("        payments.load (depth check, json.loads)", "payments/events.py", "load"),
    ("      inbox.receive", "tracker/inbox.py", "receive"),
    ("        payments.parse_event", "payments/events.py", "parse_event"),
    ("        inbox._store (INSERT ... ON CONFLICT ... RETURNING)", "tracker/inbox.py", "_store"),
    ("        ledger_locks.take (advisory locks)", "tracker/ledger_locks.py", "take"),
    ("        ledger.apply (count the payment)", "tracker/ledger.py", "apply"),
    ("          services.get_campaign", "tracker/services.py", "get_campaign"),
    (
        "          ledger.donation_by_key (SELECT ... FOR UPDATE)",
        "tracker/ledger.py",
        "donation_by_key",
    ),
    ("          ledger.record_payment", "tracker/ledger.py", "record_payment"),
    ("            ledger.pending_adjustment", "tracker/ledger.py", "pending_adjustment"),
    ("            services.period_for", "tracker/services.py", "period_for"),
    (
        "            services._add_to_period (UPDATE periods)",
        "tracker/services.py",
        "_add_to_period",
    ),
    ("            services.touch (UPDATE campaigns)", "tracker/services.py", "touch"),
    (
        "          ledger._resolve_review (SELECT review_payments)",
        "tracker/ledger.py",
        "_resolve_review",
    ),
    ("        inbox._mark (UPDATE stripe_events)", "tracker/inbox.py", "_mark"),
    ("      db.session.commit (flush, COMMIT)", "sqlalchemy/orm/scoping.py", "commit"),
    ("    flask.jsonify", "flask/json/__init__.py", "jsonify"),
    ("  request hooks: observability._start", "tracker/observability.py", "_start"),
    ("  request hooks: observability._finish", "tracker/observability.py", "_finish"),
    ("  request hooks: app._finish_headers", "tracker/app.py", "_finish_headers"),
    (
        "  teardown: Flask-SQLAlchemy's session remove",
        "flask_sqlalchemy/extension.py",
        "_teardown_session",
    ),
    ("logging: Logger.info", "logging/__init__.py", "info"),
    ("logging: Logger.warning", "logging/__init__.py", "warning"),
    ("pool checkout pre-ping (pool_pre_ping)", "sqlalchemy/engine/default.py", "do_ping"),
]


def events(prefix: str, count: int) -> Batch:
    batch = []
    for n in range(count):
        obj = se.checkout_session(
            session_id=f"cs_{prefix}{n}",
            payment_intent=f"pi_{prefix}{n}",
            amount=1000 + n % 977,
            created=wb.NOV_10,
            campaign="bench",
        )
        payload = se.body(se.event("checkout.session.completed", obj, event_id=f"evt_{prefix}{n}"))
        batch.append((payload, se.sign(payload, wb.SECRET)))
    return batch


def poster(app: Any) -> Callable[[Batch], None]:
    client = app.test_client()

    def post(batch: Batch) -> None:
        for payload, signature in batch:
            answer = client.post(
                "/webhooks/stripe",
                data=payload,
                headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            )
            document = answer.json or {}
            if answer.status_code != 200 or document.get("duplicate") is not False:
                raise RuntimeError(f"{answer.status_code} {answer.data[:300]!r}")

    return post


def timed(post: Callable[[Batch], None], batch: Batch) -> tuple[float, float]:
    """(wall, CPU) seconds per event."""
    wall, cpu = time.perf_counter(), time.process_time()
    post(batch)
    return (time.perf_counter() - wall) / len(batch), (time.process_time() - cpu) / len(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="scratch PostgreSQL URL (default: SQLite)")
    parser.add_argument("--events", type=int, default=300, help="events per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="A/B rounds per setting")
    parser.add_argument("--top", type=int, default=25, help="functions listed by own time")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="webhook-profile-")
    url = normalize_database_url(args.database_url or f"sqlite:///{tmp}/bench.db")
    env = {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench",
        "STRIPE_SECRET_KEY": "sk_test_bench",
        "STRIPE_WEBHOOK_SECRET": wb.SECRET,
        "TRACKER_ENV": "development",
        "TRACKER_INSTANCE_PATH": tmp,
    }
    os.environ.update(env)  # after tests.conftest's import, which clears the app's settings
    wb.prepare(url, dict(os.environ))

    from sqlalchemy import event

    from tracker.app import create_app
    from tracker.extensions import db

    app = create_app()
    # The servers send tracker's log lines to /dev/null; so does this (formatting stays).
    for handler in logging.getLogger("tracker").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    post = poster(app)
    with app.app_context():
        engine = db.engine
    statements: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements[" ".join(statement.split())[:100]] += 1

    post(events("warm", 100))
    n = args.events
    event.listen(engine, "before_cursor_execute", count)
    wall, cpu = timed(post, events("t", n))
    event.remove(engine, "before_cursor_execute", count)
    kind = engine.dialect.name
    print(f"database             {kind}; {n} new events, one at a time, in process")
    print(f"wall per event       {wall * 1000:6.2f} ms  ({1 / wall:.0f} events/s)")
    print(f"CPU per event        {cpu * 1000:6.2f} ms  (this process)")
    print(f"waiting per event    {(wall - cpu) * 1000:6.2f} ms  (wall - CPU: the database)")
    print(f"SQL per event        {sum(statements.values()) / n:6.2f} statements, plus COMMIT:")
    for statement, times in statements.most_common():
        print(f"  {times / n:4.1f}  {statement}")

    profile = cProfile.Profile()
    batch = events("p", n)
    profile.enable()
    post(batch)
    profile.disable()
    stats = pstats.Stats(profile)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in table.values())
    print(f"\ncProfile: {total / n * 1000:.2f} ms own time per event (profiler overhead inflates)")
    print("own time by library, per event:")
    by_library: Counter[str] = Counter()
    for (filename, _, name), (_, _, tt, _, _) in table.items():
        where = filename + " " + name
        label = next((lab for lab, marks in LIBRARIES if any(m in where for m in marks)), "other")
        by_library[label] += tt
    for label, tt in by_library.most_common():
        print(f"  {tt / n * 1000:6.2f} ms  {tt / total:5.1%}  {label}")
    print("cumulative time of the steps, per event (nested: indented under their caller):")
    for label, ending, name in STEPS:
        found = [
            (calls, ct)
            for (filename, _, func), (_, calls, _, ct, _) in table.items()
            if func == name and filename.endswith(ending)
        ]
        if found:
            calls = sum(c for c, _ in found)
            ct = sum(t for _, t in found)
            print(f"  {ct / n * 1000:6.2f} ms  {ct / total:5.1%}  {calls / n:4.1f} calls  {label}")
    print(f"top {args.top} functions by own time, per event:")
    ranked = sorted(table.items(), key=lambda item: -item[1][2])[: args.top]
    for (filename, line, name), (_, calls, tt, _, _) in ranked:
        short = filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        print(f"  {tt / n * 1000:6.3f} ms  {calls / n:5.1f} calls  {short}:{line}({name})")

    print(f"\nA/B in process, {args.rounds} rounds alternated, medians of wall ms per event:")
    settings: list[tuple[str, Callable[[], Any]]] = [
        ("tracker's INFO logs off (level WARNING)", lambda: _quiet_logs(app)),
        (
            "pool_pre_ping off",
            lambda: create_app({"SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False}}),
        ),
    ]
    for index, (label, make) in enumerate(settings):
        other = poster(make())
        other(events(f"w{index}x", 50))
        base: list[float] = []
        changed: list[float] = []
        for r in range(args.rounds):
            order = [(base, post), (changed, other)]
            for results, run in order if r % 2 == 0 else order[::-1]:
                batch = events(f"ab{index}x{r}x{int(run is post)}x", n // 2)
                results.append(timed(run, batch)[0])
        a, b = statistics.median(base), statistics.median(changed)
        rounds = " ".join(
            f"{x * 1000:.2f}/{y * 1000:.2f}" for x, y in zip(base, changed, strict=True)
        )
        print(f"  as is {a * 1000:.2f}, {label} {b * 1000:.2f}: saves {(a - b) / a:.1%}")
        print(f"    rounds (as is/changed): {rounds}")
        if label.startswith("tracker's INFO"):
            logging.getLogger("tracker").setLevel(logging.INFO)


def _quiet_logs(app: Any) -> Any:
    """The same app; its requests run with the tracker logger at WARNING (set per call)."""

    class Quiet:
        def test_client(self) -> Any:
            client = app.test_client()

            class Client:
                def post(self, *a: Any, **kw: Any) -> Any:
                    logger = logging.getLogger("tracker")
                    logger.setLevel(logging.WARNING)
                    try:
                        return client.post(*a, **kw)
                    finally:
                        logger.setLevel(logging.INFO)

            return Client()

    return Quiet()


if __name__ == "__main__":
    main()
