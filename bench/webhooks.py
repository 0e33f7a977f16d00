"""Stripe webhook throughput: signed checkout.session.completed events per second.

    .venv/bin/python bench/webhooks.py                       # SQLite in a temp dir
    .venv/bin/python bench/webhooks.py --database-url postgresql://postgres@127.0.0.1/scratch

The PostgreSQL database is wiped (schema public dropped) first: give a scratch one.
The app runs under the recommended server (granian; --server gunicorn for gunicorn's sync
workers) on 127.0.0.1, beside a baseline under the same server with the same settings:
bench/bare_webhook.py, a bare Flask app that verifies the signature with the stripe
library and inserts the raw event with INSERT ... ON CONFLICT DO NOTHING, nothing more.
wrk posts events signed beforehand (bench/webhooks.lua), each one once, so the client
costs little of the 2 cores; both sides get the very same bodies. Each round posts fresh
events for --seconds, then the same events again (repeats), then fresh ones over one
connection, to tracker and to the baseline, in alternating order (tracker first in even
rounds, the baseline first in odd ones), and checks the database after each: every
answered event counted exactly once by tracker (each period's total equal to its
donations) and stored exactly once by the baseline. Figures are medians, and their
ratios tracker/baseline. Never run by `make test`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench.bare_webhook import SCHEMA as BARE_SCHEMA  # noqa: E402
from config import normalize_database_url  # noqa: E402
from tests import stripe_events as se  # noqa: E402

SECRET = "whsec_bench"
NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
SCRIPT = Path(__file__).with_suffix(".lua")


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
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(
        [*flask, "tracker", "create-campaign", "bench", "--name", "Bench", "--currency", "USD"]
        + ["--milestones", "0,1000000"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(BARE_SCHEMA))
    engine.dispose()


def write_events(path: Path, prefix: str, count: int) -> None:
    """`count` signed events (Stripe's example objects), in the format webhooks.lua reads."""
    with path.open("wb") as out:
        for n in range(count):
            obj = se.checkout_session(
                session_id=f"cs_{prefix}{n}",
                payment_intent=f"pi_{prefix}{n}",
                amount=1000 + n % 977,
                created=NOV_10,
                campaign="bench",
            )
            payload = se.body(
                se.event("checkout.session.completed", obj, event_id=f"evt_{prefix}{n}")
            )
            out.write(f"{se.sign(payload, SECRET)} {len(payload)}\n".encode() + payload)


def wrk(
    base: str, events: Path, seconds: int, threads: int, connections: int
) -> dict[str, int | float]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
        + ["-s", str(SCRIPT), base, "--", str(events), str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    done = re.search(r"(\d+) requests in", out.stdout)
    tally = re.search(r"webhooks sent=(\d+) failed=(\d+) wrapped=(\d+)", out.stdout)
    if not (rate and done and tally):
        raise RuntimeError(out.stdout + out.stderr)
    result = {
        "rate": float(rate.group(1)),
        "answered": int(done.group(1)),
        "sent": int(tally.group(1)),
        "failed": int(tally.group(2)),
        "wrapped": int(tally.group(3)),
    }
    if result["failed"]:
        raise RuntimeError(f"{result['failed']} events answered other than 200\n{out.stderr}")
    return result


def check(url: str, prefix: str, answered: int, sent: int) -> int:
    """Every answered event of this round counted once; totals equal their donations."""
    engine = create_engine(url)
    time.sleep(1)  # requests still in flight when wrk stopped
    with engine.connect() as conn:
        counted = conn.execute(
            text("SELECT count(*) FROM donations WHERE external_key LIKE :p"),
            {"p": f"pi_{prefix}%"},
        ).scalar_one()
        applied = conn.execute(
            text("SELECT count(*) FROM stripe_events WHERE id LIKE :p AND applied_at IS NOT NULL"),
            {"p": f"evt_{prefix}%"},
        ).scalar_one()
        wrong = conn.execute(
            text(
                "SELECT count(*) FROM periods p WHERE raised_minor <> (SELECT coalesce(sum("
                "amount_minor - refunded_minor - disputed_minor), 0) FROM donations d "
                "WHERE d.period_id = p.id) OR donations <> (SELECT count(*) FROM donations d "
                "WHERE d.period_id = p.id)"
            )
        ).scalar_one()
    engine.dispose()
    if not answered <= counted <= sent or counted != applied or wrong:
        raise RuntimeError(
            f"round {prefix}: answered {answered}, sent {sent}, counted {counted}, "
            f"applied {applied}, periods off {wrong}"
        )
    return int(counted)


def check_bare(url: str, prefix: str, answered: int, sent: int) -> int:
    """Every event the baseline answered is stored, once (the primary key sees to once)."""
    engine = create_engine(url)
    time.sleep(1)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM bare_stripe_events WHERE id LIKE :p"),
            {"p": f"evt_{prefix}%"},
        ).scalar_one()
    engine.dispose()
    if not answered <= stored <= sent:
        raise RuntimeError(
            f"baseline round {prefix}: answered {answered}, sent {sent}, stored {stored}"
        )
    return int(stored)


def start(
    args: argparse.Namespace, env: dict[str, str], port: int, target: str
) -> subprocess.Popen[bytes]:
    if args.server == "granian":
        cmd = [str(BIN / "granian"), "--interface", "wsgi", "--workers", str(args.workers)]
        cmd += ["--blocking-threads", str(args.worker_threads), "--no-access-log"]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", target]
    else:
        cmd = [str(BIN / "gunicorn"), "-w", str(args.workers), "-k", args.worker_class]
        if args.worker_class == "gthread":
            cmd += ["--threads", str(args.worker_threads)]
        cmd += ["-b", f"127.0.0.1:{port}", "--log-level", "warning", target]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@dataclass
class Side:
    """One server under test and what was measured of it, round by round."""

    name: str
    target: str
    counts: Callable[[str, str, int, int], int]
    proc: subprocess.Popen[bytes] | None = None
    base: str = ""
    new: list[float] = field(default_factory=list)
    repeats: list[float] = field(default_factory=list)
    sequential: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    db_cpu: list[float] = field(default_factory=list)
    counted: int = 0

    def round(self, args: argparse.Namespace, url: str, fresh: Path, one: Path, n: int) -> None:
        """New events, the same again (repeats), then new ones over one connection."""
        assert self.proc is not None
        before = _server_cpu(self.proc.pid), _postgres_cpu()
        done = wrk(self.base, fresh, args.seconds, 2, args.connections)
        spent = _server_cpu(self.proc.pid) - before[0]
        self.db_cpu.append((_postgres_cpu() - before[1]) / float(done["answered"]))
        if done["wrapped"]:
            sys.exit(f"{self.name}: --events {args.events} is too few for {args.seconds} s")
        self.counted += self.counts(url, f"r{n}x", int(done["answered"]), int(done["sent"]))
        self.new.append(float(done["rate"]))
        self.cpu.append(spent / float(done["answered"]))
        again = wrk(self.base, fresh, args.seconds, 2, args.connections)
        self.repeats.append(float(again["rate"]))
        alone = wrk(self.base, one, 2, 1, 1)
        self.counts(url, f"s{n}x", int(alone["answered"]), int(alone["sent"]))
        self.sequential.append(float(alone["rate"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="scratch PostgreSQL URL (default: SQLite)")
    parser.add_argument("--server", default="granian", choices=["granian", "gunicorn"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--worker-threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=12000, help="new events per round")
    parser.add_argument(
        "--no-baseline", action="store_true", help="measure tracker alone (no bare Flask app)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk); `make bench` installs it")

    tracker = Side("tracker", "wsgi:app", check)
    bare = Side("baseline", "bench.bare_webhook:app", check_bare)
    sides = [tracker] if args.no_baseline else [tracker, bare]
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
            PYTHONUNBUFFERED="1",
        )
        prepare(url, env)
        try:
            for side in sides:
                port = free_port()
                side.proc = start(args, env, port, side.target)
                side.base = f"http://127.0.0.1:{port}"
            warm = Path(tmp) / "warm.events"
            write_events(warm, "warm", 200)
            for side in sides:
                _wait(side.base)
                wrk(side.base, warm, 1, 1, 4)
            for n in range(args.rounds):
                fresh = Path(tmp) / f"round{n}.events"
                write_events(fresh, f"r{n}x", args.events)
                one = Path(tmp) / f"one{n}.events"
                write_events(one, f"s{n}x", args.events // 4)
                for side in sides if n % 2 == 0 else sides[::-1]:
                    side.round(args, url, fresh, one, n)
        finally:
            for side in sides:
                if side.proc is not None:
                    side.proc.terminate()
                    side.proc.wait(timeout=15)

    kind = "postgresql" if url.startswith("postgresql") else "sqlite"
    if args.server == "granian":
        server = f"granian --workers {args.workers} --blocking-threads {args.worker_threads}"
    else:
        server = f"gunicorn -w {args.workers} -k {args.worker_class}"
        if args.worker_class == "gthread":
            server += f" --threads {args.worker_threads}"
    med = statistics.median
    print(f"database             {kind}")
    print(f"server               {server}; {os.cpu_count()} CPUs")
    print(
        f"client               wrk -t2 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds"
    )
    for side in sides:
        print(f"-- {side.name} ({side.target})")
        print(f"new, concurrent      {med(side.new):8.1f} events/s  (rounds {_list(side.new)})")
        print(
            f"repeats, concurrent  {med(side.repeats):8.1f} events/s  "
            f"(rounds {_list(side.repeats)})"
        )
        print(f"new / repeats        {med(side.new) / med(side.repeats):8.2f}")
        print(
            f"new, one at a time   {med(side.sequential):8.1f} events/s  "
            f"(rounds {_list(side.sequential)})"
        )
        print(f"CPU per new event    server {med(side.cpu) * 1000:.2f} ms", end="")
        if kind == "postgresql":
            print(f", PostgreSQL {med(side.db_cpu) * 1000:.2f} ms", end="")
        print()
    print(f"checked              {tracker.counted} new events counted exactly once, totals equal")
    if args.no_baseline:
        return
    print(f"                     {bare.counted} new events stored once by the baseline")
    print("-- tracker / baseline (ratio of medians; rounds alternated)")
    for label, a, b in (
        ("new, concurrent", tracker.new, bare.new),
        ("repeats, concurrent", tracker.repeats, bare.repeats),
        ("new, one at a time", tracker.sequential, bare.sequential),
    ):
        print(f"{label:<20} {med(a) / med(b):8.2f}")
    print(f"CPU per new event    server {med(tracker.cpu) / med(bare.cpu):.1f}x", end="")
    if kind == "postgresql":
        print(f", PostgreSQL {med(tracker.db_cpu) / med(bare.db_cpu):.1f}x", end="")
    print(" the baseline's")


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def _wait(base: str) -> None:
    import urllib.request

    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).read()  # noqa: S310
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("server did not come up")


def _postgres_cpu() -> float:
    """CPU seconds used so far by local PostgreSQL: its live processes plus those that
    ended (the postmaster's children); 0 when none is visible."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError, IndexError):
            continue
        if name == "postgres":
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
            if (
                fields[1] == "1"
                or Path(f"/proc/{fields[1]}/comm").read_text().strip() != "postgres"
            ):
                total += int(fields[13]) + int(fields[14])  # the postmaster: ended children
    return total / os.sysconf("SC_CLK_TCK")


def _server_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the server process and its children."""
    total = 0
    pending = [str(pid)]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += (task / "children").read_text().split()
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
