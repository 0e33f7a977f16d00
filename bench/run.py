"""Widget read benchmarks: tracker against baselines, measured in the same run.

    make bench                 # everything (about 20 minutes on 2 cores with --pg-url)
    .venv/bin/python bench/run.py --rounds 3 --seconds 4 --only reads
    .venv/bin/python bench/run.py --only against --against 5244083   # an earlier revision

Each comparison alternates A and B (A B, B A, A B ...) for --rounds rounds and
reports medians and their ratio. Servers run on 127.0.0.1 only; wrk drives
them with -t2 -c32. Never run by `make test`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
READS = [
    ("progress JSON", "/api/v1/campaigns/bench/progress"),
    ("embed HTML", "/embed/bench"),
    ("embed SVG", "/embed/bench.svg"),
]
GUNICORN = ["-w", "2", "-k", "gthread", "--threads", "4"]
GRANIAN = ["--interface", "wsgi", "--workers", "2", "--blocking-threads", "4", "--no-access-log"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()  # noqa: S310 - loopback only
            return
        except urllib.error.HTTPError:
            return  # it answers: up
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up")


@contextlib.contextmanager
def server(
    kind: str, target: str, env: dict[str, str], probe: str, cwd: Path = ROOT
) -> Iterator[str]:
    """Run gunicorn or granian serving `target` (module:attr from `cwd`) on a free port."""
    port = free_port()
    if kind == "gunicorn":
        cmd = [
            str(BIN / "gunicorn"),
            *GUNICORN,
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            target,
        ]
    elif kind == "granian":
        cmd = [
            str(BIN / "granian"),
            *GRANIAN,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            target,
        ]
    else:
        raise ValueError(kind)
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + probe)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def nginx(root_dir: Path) -> Iterator[str]:
    """nginx serving the files of root_dir (the physical limit of this machine)."""
    port = free_port()
    conf = root_dir.parent / "nginx.conf"
    conf.write_text(f"""
worker_processes 2;
daemon off;
user root;
pid {root_dir.parent}/nginx.pid;
error_log {root_dir.parent}/nginx.err warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  types {{ application/json json; text/html html; image/svg+xml svg; }}
  server {{ listen 127.0.0.1:{port}; root {root_dir}; etag on; }}
}}
""")
    proc = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(root_dir.parent)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def wrk(url: str, seconds: int, headers: dict[str, str] | None = None) -> float:
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s"]
    for key, value in (headers or {}).items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{url}: {non2xx.group(1)} error answers\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(out)
    return float(match.group(1))


@dataclass
class Pair:
    label: str
    a: list[float]
    b: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.a) / statistics.median(self.b)

    def line(self) -> str:
        rounds = " ".join(f"{a:,.0f}/{b:,.0f}" for a, b in zip(self.a, self.b, strict=True))
        return (
            f"| {self.label} | {statistics.median(self.a):,.0f} | "
            f"{statistics.median(self.b):,.0f} | {self.ratio:.2f} | {rounds} |"
        )


def alternate(label: str, run_a, run_b, rounds: int) -> Pair:  # type: ignore[no-untyped-def]
    pair = Pair(label, [], [])
    for i in range(rounds):
        order = [(pair.a, run_a), (pair.b, run_b)]
        if i % 2:
            order.reverse()
        for results, run in order:
            results.append(run())
    print(pair.line(), flush=True)
    return pair


def fresh_and_revalidated(
    args: argparse.Namespace,
    results: list[str],
    where: str,
    label: str,
    a: tuple[str, str],
    b: tuple[str, str],
) -> None:
    """One read (url, its ETag) on A against B: as a first visit (200) and revalidated (304)."""
    for status, revalidate in (("200", False), ("304", True)):
        a_headers = {"If-None-Match": a[1]} if revalidate else {}
        b_headers = {"If-None-Match": b[1]} if revalidate else {}
        pair = alternate(
            f"{label} {status}, {where}",
            lambda: wrk(a[0], args.seconds, a_headers),
            lambda: wrk(b[0], args.seconds, b_headers),
            args.rounds,
        )
        results.append(pair.line())


# --- data -----------------------------------------------------------------------


def make_database(directory: Path, donations: int, root: Path = ROOT) -> dict[str, str]:
    """A database migrated by the code in `root`, with campaign `bench` and `donations`."""
    directory = directory / f"db-{donations}-{len(list(directory.glob('db-*')))}"
    directory.mkdir()
    path = directory / "bench.db"
    env = {
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{path}",
        "SECRET_KEY": "bench",
        "TRACKER_ENV": "development",
        "TRACKER_INSTANCE_PATH": str(directory),
    }
    code = f"""
import os
from datetime import UTC, datetime, timedelta
from flask_migrate import upgrade
from sqlalchemy import insert, update
from tracker.app import create_app
from tracker import services
from tracker.extensions import db
from tracker.models import Donation, Period
app = create_app()
with app.app_context():
    upgrade()
    campaign = services.get_campaign("bench") or services.create_campaign(
        "bench", name="Support us", currency="USD", milestones=[0, 250000, 500000])
    now = services.now()
    period = services.period_for(campaign, now)
    db.session.commit()
    n = {donations}
    rows = [dict(campaign_id=campaign.id, period_id=period.id, amount_minor=100,
                 currency="USD", received_at=period.starts_at + timedelta(seconds=i % 86400),
                 source="manual", external_key=f"bench-{{i}}", frequency="once",
                 refunded_minor=0, disputed_minor=0, created_at=now)
            for i in range(n)]
    for start in range(0, n, 20000):
        db.session.execute(insert(Donation), rows[start:start + 20000])
    db.session.execute(update(Period).where(Period.id == period.id)
                       .values(raised_minor=100 * n, donations=n))
    services.touch(campaign)
    db.session.commit()
"""
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return env


def fetch(url: str) -> tuple[bytes, str, str, int]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return (
                response.read(),
                response.headers["Content-Type"],
                response.headers.get("ETag", ""),
                response.status,
            )
    except urllib.error.HTTPError as exc:
        return b"", "", "", exc.code


# --- sections -------------------------------------------------------------------


def reads(args: argparse.Namespace, work: Path, results: list[str]) -> None:
    env = make_database(work, 200)
    bodies = work / "static"
    bodies.mkdir(exist_ok=True)
    with server("gunicorn", "wsgi:app", env, "/healthz") as base:
        targets = []
        for label, path in READS:
            body, ctype, etag, status = fetch(base + path)
            if status != 200:
                print(f"skipping {label}: {path} answers {status}")
                continue
            name = f"{len(targets)}{Path(path).suffix or '.html' if 'embed' in path else '.json'}"
            (bodies / name).write_bytes(body)
            targets.append((label, path, body, ctype, etag, name))
    results.append("\n### Widget reads against a bare Flask app with the same body\n")
    results.append("| read | tracker req/s | baseline req/s | ratio | rounds (A/B) |")
    results.append("| --- | ---: | ---: | ---: | --- |")
    print("\n".join(results[-3:]))
    for kind in ("gunicorn", "granian"):
        for label, path, body, ctype, etag, name in targets:
            bare_env = {
                "BENCH_BODY_FILE": str(bodies / name),
                "BENCH_CONTENT_TYPE": ctype,
                "BENCH_ETAG": etag,
            }
            with (
                server(kind, "wsgi:app", env, "/healthz") as tracker_base,
                server(kind, "bench.bare:app", bare_env, "/x") as bare_base,
            ):
                fresh_and_revalidated(
                    args, results, f"{kind} (vs bare Flask)", label,
                    (tracker_base + path, etag), (bare_base + path, etag),
                )  # fmt: skip
    if not shutil.which("nginx"):
        results.append("\n(nginx not installed: static-file comparison skipped)")
        return
    results.append("\n### Widget reads under granian against nginx serving the same bytes\n")
    results.append("| read | tracker req/s | nginx req/s | ratio | rounds (A/B) |")
    results.append("| --- | ---: | ---: | ---: | --- |")
    with server("granian", "wsgi:app", env, "/healthz") as tracker_base, nginx(bodies) as nx:
        for label, path, body, ctype, etag, name in targets:
            pair = alternate(
                f"{label} 200, granian (vs nginx)",
                lambda: wrk(tracker_base + path, args.seconds),
                lambda: wrk(f"{nx}/{name}", args.seconds),
                args.rounds,
            )
            results.append(pair.line())
    # For scale: the bare baselines themselves, one server against the other.
    results.append("\n### Servers compared (tracker's progress read under each)\n")
    results.append("| pair | A req/s | B req/s | A/B | rounds (A/B) |")
    results.append("| --- | ---: | ---: | ---: | --- |")
    label, path, body, ctype, etag, name = targets[0]
    bare_env = {
        "BENCH_BODY_FILE": str(bodies / name),
        "BENCH_CONTENT_TYPE": ctype,
        "BENCH_ETAG": etag,
    }
    with (
        server("granian", "wsgi:app", env, "/healthz") as granian_base,
        server("gunicorn", "wsgi:app", env, "/healthz") as gunicorn_base,
    ):
        pair = alternate(
            "tracker progress: granian vs gunicorn",
            lambda: wrk(granian_base + path, args.seconds),
            lambda: wrk(gunicorn_base + path, args.seconds),
            args.rounds,
        )
        results.append(pair.line())


def growth(args: argparse.Namespace, work: Path, results: list[str]) -> None:
    small = make_database(work, 200)
    large = make_database(work, 200_000)
    results.append("\n### Growth: 200,000 donations against 200 (granian)\n")
    results.append("| read | 200k req/s | 200 req/s | ratio | rounds (A/B) |")
    results.append("| --- | ---: | ---: | ---: | --- |")
    with (
        server("granian", "wsgi:app", large, "/healthz") as big,
        server("granian", "wsgi:app", small, "/healthz") as little,
    ):
        for label, path in READS:
            if fetch(big + path)[3] != 200:
                continue
            pair = alternate(
                f"{label}, 200k vs 200 donations",
                lambda: wrk(big + path, args.seconds),
                lambda: wrk(little + path, args.seconds),
                args.rounds,
            )
            results.append(pair.line())


def checkout(rev: str, work: Path) -> Path:
    """The tree of git revision `rev`, with its catalogs compiled, in a new directory."""
    tree = work / f"rev-{rev}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    subprocess.run(
        [str(BIN / "pybabel"), "compile", "--use-fuzzy", "-d", str(tree / "translations")],
        check=True,
        capture_output=True,
    )
    return tree


def against(args: argparse.Namespace, work: Path, results: list[str]) -> None:
    """This tree's widget reads against those of git revision --against, same server."""
    if not args.against:
        results.append("\n(--against REV not given: comparison with an earlier revision skipped)")
        return
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    old_tree = checkout(args.against, work)
    new_env = make_database(work, 200)
    old_env = make_database(work, 200, root=old_tree)
    results.append(
        f"\n### Widget reads: this tree (HEAD {head}, uncommitted changes included) "
        f"against {args.against}\n"
    )
    results.append(f"| read | this tree req/s | {args.against} req/s | ratio | rounds (A/B) |")
    results.append("| --- | ---: | ---: | ---: | --- |")
    print("\n".join(results[-3:]), flush=True)
    for kind in ("gunicorn", "granian"):
        with (
            server(kind, "wsgi:app", new_env, "/healthz") as new_base,
            server(kind, "wsgi:app", old_env, "/healthz", cwd=old_tree) as old_base,
        ):
            for label, path in READS:
                new_body, _, new_etag, new_status = fetch(new_base + path)
                old_body, _, old_etag, old_status = fetch(old_base + path)
                if new_status != 200 or old_status != 200:
                    print(f"skipping {label}: {path} answers {new_status} and {old_status}")
                    continue
                sizes = f"{len(new_body):,} and {len(old_body):,} bytes"
                fresh_and_revalidated(
                    args, results, f"{kind} ({sizes})", label,
                    (new_base + path, new_etag), (old_base + path, old_etag),
                )  # fmt: skip


def scripts(args: argparse.Namespace, work: Path, results: list[str]) -> None:
    runs = [["hotpath.py"], ["webhooks.py"], ["rollover.py"]]
    if args.pg_url:
        runs.insert(2, ["webhooks.py", "--database-url", args.pg_url])
        gunicorn = ["--server", "gunicorn", "--workers", "4"]
        runs.insert(3, ["webhooks.py", "--database-url", args.pg_url, *gunicorn])
        runs.append(["admin.py", "--database-url", args.pg_url])
    for run in runs:
        script = ROOT / "bench" / run[0]
        if not script.exists():
            continue
        title = " ".join(["bench/" + run[0], *run[1:]])
        print(f"\n== {title}", flush=True)
        out = subprocess.run(
            [sys.executable, str(script), *run[1:]], cwd=ROOT, capture_output=True, text=True
        )
        lines = [ln for ln in out.stdout.splitlines() if " INFO " not in ln]
        print("\n".join(lines), out.stderr[-2000:] if out.returncode else "")
        results.append(f"\n### {title}\n\n```\n" + "\n".join(lines).strip() + "\n```")


SECTIONS = {"reads": reads, "growth": growth, "against": against, "scripts": scripts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument(
        "--only", choices=["reads", "growth", "against", "scripts"], action="append"
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="a git revision whose widget reads to compare with this tree's (section against)",
    )
    parser.add_argument("--write", type=Path, help="append the tables to this Markdown file")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL"),
        help="a scratch PostgreSQL database for the webhook and admin benches (it is wiped)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk); `make bench` installs it")
    sections = args.only or list(SECTIONS)
    results = [
        f"## Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}. wrk -t2 -c32 -d{args.seconds}s, "
        f"{args.rounds} rounds, A/B alternated, medians. gunicorn {' '.join(GUNICORN)}; "
        f"granian {' '.join(GRANIAN)}.",
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
            work = Path(tmp)
            for section in sections:
                SECTIONS[section](args, work, results)
    finally:  # what was measured is kept even when a later section fails
        text = "\n".join(results) + "\n"
        print("\n" + text)
        if args.write:
            with args.write.open("a") as fh:
                fh.write("\n" + text)


if __name__ == "__main__":
    main()
