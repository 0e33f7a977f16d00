"""Stripe webhook throughput (events/s): sequential and concurrent, SQLite and PostgreSQL.

    .venv/bin/python bench/webhooks.py                       # SQLite in a temp dir
    .venv/bin/python bench/webhooks.py --database-url postgresql://postgres@127.0.0.1/scratch

The PostgreSQL database is wiped (schema public dropped) first: give a scratch one.
Each run starts gunicorn (sync workers unless --worker-class gthread) on 127.0.0.1, posts
signed events built like tests/stripe_events.py builds them, and reports events/s for new
events (sequential and from many threads) and for repeated deliveries. Never run by `make test`.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import normalize_database_url  # noqa: E402
from tests import stripe_events as se  # noqa: E402

SECRET = "whsec_bench"
NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(url: str, env: dict[str, str]) -> None:
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(
        [*flask, "tracker", "create-campaign", "bench", "--name", "Bench", "--currency", "USD"]
        + ["--milestones", "0,1000000"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def payloads(prefix: str, count: int) -> list[bytes]:
    out = []
    for n in range(count):
        obj = se.checkout_session(
            session_id=f"cs_{prefix}{n}",
            payment_intent=f"pi_{prefix}{n}",
            amount=1000 + n,
            created=NOV_10,
            campaign="bench",
        )
        out.append(
            se.body(se.event("checkout.session.completed", obj, event_id=f"evt_{prefix}{n}"))
        )
    return out


def rate(base: str, bodies: list[bytes], threads: int) -> float:
    session_by_thread: dict[int, requests.Session] = {}

    def post(payload: bytes) -> None:
        import threading

        session = session_by_thread.setdefault(threading.get_ident(), requests.Session())
        response = session.post(
            f"{base}/webhooks/stripe",
            data=payload,
            headers={"Stripe-Signature": se.sign(payload, SECRET)},
            timeout=60,
        )
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code} {response.text[:200]}")

    start = time.perf_counter()
    if threads == 1:
        for payload in bodies:
            post(payload)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(post, bodies))
    return len(bodies) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="scratch PostgreSQL URL (default: SQLite)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--worker-class", default="sync", choices=["sync", "gthread"], help="gunicorn workers"
    )
    parser.add_argument("--worker-threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--threads", type=int, default=16, help="concurrent clients")
    parser.add_argument("--events", type=int, default=400)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = normalize_database_url(args.database_url or f"sqlite:///{tmp}/bench.db")
        env = dict(
            os.environ,
            DATABASE_URL=url,
            SECRET_KEY="bench",
            STRIPE_SECRET_KEY="sk_test_bench",
            STRIPE_WEBHOOK_SECRET=SECRET,
            TRACKER_ENV="development",
            TRACKER_INSTANCE_PATH=tmp,
        )
        prepare(url, env)
        port = free_port()
        gunicorn = Path(sys.executable).parent / "gunicorn"
        proc = subprocess.Popen(
            [str(gunicorn), "-w", str(args.workers), "-b", f"127.0.0.1:{port}"]
            + ["-k", args.worker_class]
            + (["--threads", str(args.worker_threads)] if args.worker_class == "gthread" else [])
            + ["--log-level", "warning", "wsgi:app"],
            cwd=ROOT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    requests.get(f"{base}/healthz", timeout=2)
                    break
                except requests.RequestException:
                    time.sleep(0.1)
            rate(base, payloads("warm", 20), 1)
            n = args.events
            sequential = rate(base, payloads("seq", n // 2), 1)
            bodies = payloads("con", n)
            before = (time.process_time(), _workers_cpu(proc.pid))
            concurrent = rate(base, bodies, args.threads)
            client_cpu = time.process_time() - before[0]
            server_cpu = _workers_cpu(proc.pid) - before[1]
            repeats = payloads("con", n)
            random.Random(1).shuffle(repeats)
            repeated = rate(base, repeats, args.threads)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    kind = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"database            {kind}")
    workers = f"{args.workers} {args.worker_class} workers"
    if args.worker_class == "gthread":
        workers += f" x {args.worker_threads} threads"
    print(f"gunicorn            {workers}, {args.threads} client threads, {os.cpu_count()} CPUs")
    print(f"events              {args.events} new concurrent, {args.events // 2} sequential")
    print(f"new, sequential     {sequential:8.1f} events/s")
    print(f"new, concurrent     {concurrent:8.1f} events/s")
    print(f"repeats, concurrent {repeated:8.1f} events/s")
    # Where the cores went in the concurrent run (PostgreSQL's own CPU is not counted).
    print(f"CPU per new event   client {client_cpu / n * 1000:.1f} ms, ", end="")
    print(f"gunicorn workers {server_cpu / n * 1000:.1f} ms")


def _workers_cpu(master: int) -> float:
    """CPU seconds (user + system) used so far by gunicorn's workers (Linux /proc)."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return 0.0
    total = 0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
