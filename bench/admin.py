"""Admin pages on PostgreSQL: 1,000 donations against 1,000,000, in process.

    .venv/bin/python bench/admin.py --database-url postgresql://postgres@127.0.0.1/scratch

The database is wiped first (give a scratch one). Each size gets a schema of its own in it
(bench_small, bench_large), built with `flask --app wsgi db upgrade`, then seeded with SQL
(INSERT ... SELECT FROM generate_series) into one campaign: 90 % of the donations in the
current month (so its pages really are large), the rest spread over the 12 months before,
each period's raised_minor and donations set to the sums of its donations (as `tracker
verify` checks; checked here in SQL), and an admin (tracker.accounts.set_admin_password),
then VACUUM ANALYZE, as autovacuum would have done after such a load.

Through the Flask app (create_app on each schema; logged in through POST /admin/login with
the login page's CSRF token), the test client times, A/B alternated per round (small
first in even rounds, large first in odd ones), medians of every request:

- /admin/donations (the current month's first page), /admin/months, /admin/ (overview);
- the CSV export of the current month to its first byte (the first chunk of the
  streamed body: the header line) and to its first donation row (the second chunk).

It prints the ratio large/small of each (the goal: at most 2x), the SQL statements each
page sends with their time on each size (one traced request), an EXPLAIN ANALYZE of the
statement that grows most on a page over 2x, then the time to stream the current month's
whole CSV of each size, and the peak memory (tracemalloc) of doing it again traced, to show
that it streams in constant memory. About 5 minutes on 2 cores. Never run by `make test`.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event, text

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from config import normalize_database_url  # noqa: E402

EMAIL = "bench@example.org"
PASSWORD = "a long bench passphrase"
SLUG = "bench"
EARLIER_MONTHS = 12
CURRENT_SHARE = 0.9
GOAL = 2.0


@dataclass
class Size:
    """One database size: its schema, app, logged-in client and what was measured."""

    donations: int
    schema: str
    url: str = ""
    app: Any = None
    client: Any = None
    month_key: str = ""
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # page -> statement -> durations (s), and its parameters, from one traced request per page
    statements: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)


def schema_url(url: str, schema: str) -> str:
    options = quote(f"-csearch_path={schema}")
    return f"{url}{'&' if '?' in url else '?'}options={options}"


def wipe(url: str, schemas: list[str]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        for schema in schemas:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()


def environment(url: str, tmp: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench",
        "STRIPE_SECRET_KEY": "sk_test_bench",
        "STRIPE_WEBHOOK_SECRET": "whsec_bench",
        "TRACKER_ENV": "development",
        "TRACKER_INSTANCE_PATH": tmp,
        "SESSION_COOKIE_SECURE": "0",  # the test client speaks http
    }


def build(size: Size, tmp: str) -> None:
    """Migrate, create the campaign, its months and the admin, seed donations in SQL."""
    env = environment(size.url, tmp)
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    os.environ.update(env)
    from tracker import accounts, services
    from tracker.app import create_app
    from tracker.domain.periods import Period as Month
    from tracker.extensions import db

    size.app = create_app()
    for handler in logging.getLogger("tracker").handlers:  # its INFO lines: not here
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    started = time.perf_counter()
    with size.app.app_context():
        campaign = services.create_campaign(
            SLUG, name="Bench", currency="USD", milestones=[0, 500_000, 1_000_000_000]
        )
        now = services.now()
        zone = services.campaign_zone(campaign)
        current = Month.containing(now, zone)
        size.month_key = current.key
        months = [current]
        for _ in range(EARLIER_MONTHS):
            months.append(months[-1].previous())
        periods = [services.get_or_create_period(campaign, month) for month in months]
        accounts.set_admin_password(EMAIL, PASSWORD)
        db.session.commit()
        in_current = int(size.donations * CURRENT_SHARE)
        shares = [in_current] + _spread(size.donations - in_current, EARLIER_MONTHS)
        with db.engine.begin() as conn:
            for index, (period, count) in enumerate(zip(periods, shares, strict=True)):
                # The current month: from its start to a minute ago; earlier ones: whole.
                end = (
                    max(period.starts_at + timedelta(seconds=1), now - timedelta(minutes=1))
                    if index == 0
                    else period.ends_at
                )
                _seed(conn, campaign.id, period.id, period.starts_at, end, count, index)
            conn.execute(
                text(
                    "UPDATE periods p SET raised_minor = s.raised, donations = s.n FROM ("
                    " SELECT period_id, sum(greatest(amount_minor - refunded_minor"
                    " - disputed_minor, 0)) AS raised, count(*) AS n FROM donations"
                    " GROUP BY period_id) s WHERE p.id = s.period_id"
                )
            )
            conn.execute(
                text(
                    "UPDATE periods SET closed = true, closed_at = ends_at, "
                    "closed_raised_minor = raised_minor WHERE id <> :current"
                ),
                {"current": periods[0].id},
            )
        services.touch(campaign)
        db.session.commit()
        _check_seed(db.engine)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    print(
        f"seeded {size.schema}: {size.donations:,} donations "
        f"({shares[0]:,} in {size.month_key}) in {time.perf_counter() - started:.1f} s",
        flush=True,
    )


def _spread(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


def _seed(
    conn: Any,
    campaign_id: int,
    period_id: int,
    start: datetime,
    end: datetime,
    count: int,
    tag: int,
) -> None:
    """`count` donations spread evenly (distinct instants) over [start, end)."""
    if count <= 0:
        return
    conn.execute(
        text(
            "INSERT INTO donations (campaign_id, period_id, amount_minor, currency, received_at,"
            " source, external_key, payment_intent_id, frequency, refunded_minor,"
            " disputed_minor, donor_name, created_at)"
            " SELECT :campaign, :period, 100 + (i::bigint * 7919) % 50000, 'USD', at,"
            " CASE WHEN i % 10 = 0 THEN 'manual' ELSE 'stripe' END,"
            " 'pi_seed' || :tag || 'x' || i,"
            " CASE WHEN i % 10 = 0 THEN NULL ELSE 'pi_seed' || :tag || 'x' || i END,"
            " CASE WHEN i % 7 = 0 THEN 'monthly' ELSE 'once' END,"
            " CASE WHEN i % 50 = 0 THEN 50 ELSE 0 END, 0,"
            " CASE WHEN i % 4 = 0 THEN 'Donor ' || i END, at"
            " FROM (SELECT i, CAST(:start AS timestamptz) + (CAST(:end AS timestamptz)"
            " - CAST(:start AS timestamptz)) * ((i - 1)::float8 / :count) AS at"
            " FROM generate_series(1, :count) AS i) AS g"
        ),
        {
            "campaign": campaign_id,
            "period": period_id,
            "start": start,
            "end": end,
            "count": count,
            "tag": str(tag),
        },
    )


def _check_seed(engine: Any) -> None:
    """What `tracker verify` checks, in SQL: totals equal their donations, months right."""
    with engine.connect() as conn:
        wrong_totals = conn.execute(
            text(
                "SELECT count(*) FROM periods p LEFT JOIN (SELECT period_id,"
                " sum(greatest(amount_minor - refunded_minor - disputed_minor, 0)) AS raised,"
                " count(*) AS n FROM donations GROUP BY period_id) s ON s.period_id = p.id"
                " WHERE p.raised_minor <> coalesce(s.raised, 0) OR p.donations <> coalesce(s.n, 0)"
            )
        ).scalar_one()
        wrong_months = conn.execute(
            text(
                "SELECT count(*) FROM donations d JOIN periods p ON p.id = d.period_id"
                " WHERE NOT (d.received_at >= p.starts_at AND d.received_at < p.ends_at)"
            )
        ).scalar_one()
    if wrong_totals or wrong_months:
        raise RuntimeError(f"seed is off: {wrong_totals} periods, {wrong_months} donations")


def log_in(size: Size) -> None:
    client = size.app.test_client()
    page = client.get("/admin/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text) or re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', page.text
    )
    if token is None:
        raise RuntimeError("no CSRF token on the login page")
    answer = client.post(
        "/admin/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    if answer.status_code != 302:
        raise RuntimeError(f"login answered {answer.status_code}")
    size.client = client


# --- the measures ---------------------------------------------------------------


def pages(size: Size) -> dict[str, str]:
    return {
        "/admin/donations": "/admin/donations",
        "/admin/months": "/admin/months",
        "/admin/": "/admin/",
        "export.csv first byte": f"/admin/campaigns/{SLUG}/export.csv?month={size.month_key}",
        "export.csv first row": f"/admin/campaigns/{SLUG}/export.csv?month={size.month_key}",
    }


def request_once(size: Size, label: str, path: str) -> float:
    """Seconds for one request: whole pages read in full; the CSV to its first chunks."""
    started = time.perf_counter()
    if label.startswith("export.csv"):
        answer = size.client.get(path, buffered=False)
        chunks = iter(answer.response)
        first = next(chunks)
        if label.endswith("row"):
            first = next(chunks)
        elapsed = time.perf_counter() - started
        answer.close()
        if answer.status_code != 200 or not first:
            raise RuntimeError(f"{path}: {answer.status_code}")
        return elapsed
    answer = size.client.get(path)
    body = answer.get_data()
    elapsed = time.perf_counter() - started
    if answer.status_code != 200 or not body:
        raise RuntimeError(f"{path}: {answer.status_code}")
    return elapsed


def trace_statements(size: Size) -> None:
    """One request per page with every SQL statement timed (page -> statement -> s)."""
    from tracker.extensions import db

    with size.app.app_context():
        engine = db.engine
    for label, path in pages(size).items():
        found: dict[str, list[float]] = defaultdict(list)
        started: list[float] = []

        def before(*args: Any) -> None:
            started.append(time.perf_counter())

        def after(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
            found[statement].append(time.perf_counter() - started.pop())
            size.params.setdefault(label, {})[statement] = params

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        try:
            request_once(size, label, path)
        finally:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
        size.statements[label] = dict(found)


def explain(size: Size, statement: str, params: Any) -> str:
    from tracker.extensions import db

    with size.app.app_context(), db.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
        conn.rollback()
    return "\n".join("    " + row[0] for row in rows)


def stream(size: Size, traced: bool) -> tuple[int, int, float, int]:
    """(rows, peak traced bytes or 0, seconds, bytes) streaming the month's whole CSV."""
    path = pages(size)["export.csv first byte"]
    if traced:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0] if traced else 0
    started = time.perf_counter()
    answer = size.client.get(path, buffered=False)
    lines = 0
    total = 0
    for chunk in answer.response:
        lines += 1
        total += len(chunk)
    answer.close()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - base if traced else 0
    if traced:
        tracemalloc.stop()
    return lines - 1, peak, elapsed, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="scratch PostgreSQL URL (wiped)")
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=5, help="per page, size and round")
    args = parser.parse_args()
    url = normalize_database_url(args.database_url)
    if not url.startswith("postgresql"):
        sys.exit("bench/admin.py needs PostgreSQL (--database-url postgresql://...)")
    small = Size(args.small, "bench_small")
    large = Size(args.large, "bench_large")
    sizes = [small, large]
    wipe(url, [s.schema for s in sizes])
    tmp = tempfile.mkdtemp(prefix="admin-bench-")
    for size in sizes:
        size.url = schema_url(url, size.schema)
        build(size, tmp)
        log_in(size)
        for label, path in pages(size).items():
            request_once(size, label, path)  # warm: templates, caches, pool
    for r in range(args.rounds):
        for size in sizes if r % 2 == 0 else sizes[::-1]:
            for label, path in pages(size).items():
                for _ in range(args.requests):
                    size.times[label].append(request_once(size, label, path))
    for size in sizes:
        trace_statements(size)

    med = statistics.median
    print(
        f"\nPostgreSQL, in process (Flask test client), {args.rounds} rounds alternated, "
        f"{args.requests} requests per page, size and round; medians"
    )
    print(f"| page | {small.donations:,} donations | {large.donations:,} | large/small | goal |")
    print("| --- | ---: | ---: | ---: | --- |")
    over = []
    for label in pages(small):
        a, b = med(small.times[label]), med(large.times[label])
        ok = b / a <= GOAL
        if not ok:
            over.append(label)
        print(
            f"| {label} | {a * 1000:.1f} ms | {b * 1000:.1f} ms | {b / a:.2f} | "
            f"{'ok' if ok else 'OVER ' + str(GOAL) + 'x'} |"
        )
    print("\nSQL per page (one traced request each): statements, ms on small / large")
    for label in pages(small):
        print(f"  {label}:")
        for statement, durations in large.statements[label].items():
            little = small.statements[label].get(statement, [0.0])
            print(
                f"    {len(durations)}x  {sum(little) * 1000:7.2f} / {sum(durations) * 1000:8.2f}"
                f"  {' '.join(statement.split())[:110]}"
            )
    for label in over:
        grown = max(
            large.statements[label].items(),
            key=lambda item: sum(item[1]) - sum(small.statements[label].get(item[0], [0.0])),
        )
        statement = grown[0]
        params = large.params[label][statement]
        print(f"\n{label} is over {GOAL}x; its statement that grows most, on the large size:")
        print("    " + " ".join(statement.split()))
        print(f"    params {params}")
        if statement.lstrip().upper().startswith("SELECT"):
            print(explain(large, statement, params))
    print("\nStreaming the current month's whole CSV through the test client:")
    for size in sizes:
        rows, _, elapsed, total = stream(size, traced=False)
        print(
            f"  {size.donations:>9,} donations: {rows:,} rows, {total / 1e6:.1f} MB in "
            f"{elapsed:.1f} s ({rows / elapsed:,.0f} rows/s), one chunk per row"
        )
    for size in sizes:
        rows, peak, elapsed, total = stream(size, traced=True)
        print(
            f"  {size.donations:>9,} donations, tracemalloc on: peak traced memory "
            f"{peak / 1e6:.2f} MB ({elapsed:.1f} s with tracing)"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  this process's peak RSS over the whole run: {rss:.0f} MB")


if __name__ == "__main__":
    main()
