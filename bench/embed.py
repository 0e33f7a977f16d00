"""Widget cost: body sizes, and requests/s of each read against a bare Flask app.

Both apps run under the same gunicorn settings, measured in the same run, with wrk:

    .venv/bin/python bench/embed.py [--workers 2] [--seconds 3] [--rounds 3] [--connections 16]

Prints one line per path: bytes (raw, gzip), requests/s, and the ratio to the bare app
(SPEC asks for at least 0.8 for /embed/<slug>, .svg and the progress JSON).
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PATHS = [
    "/embed/bench",
    "/embed/bench.svg",
    "/embed/bench.js",
    "/embed/bench?theme=dark&lang=de",
    "/api/v1/campaigns/bench/progress",
]


def seed(database_url: str, env: dict[str, str]) -> None:
    code = (
        "from tracker.app import create_app\n"
        "from tracker import services\n"
        "from tracker.extensions import db\n"
        "from flask_migrate import upgrade\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    upgrade()\n"
        "    c = services.create_campaign('bench', name='Bench', currency='USD',"
        " milestones=[0, 250000, 500000])\n"
        "    for i in range(200):\n"
        "        services.record_donation(c, amount_minor=1090, received_at=services.now(),"
        " source='manual')\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)


def start(
    app: str, probe: str, workers: int, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"fd://{sock.fileno()}",
            "--no-control-socket",
            "--log-level",
            "warning",
            "--chdir",
            str(ROOT),
            app,
        ],
        env=env,
        pass_fds=[sock.fileno()],
    )
    sock.close()
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(base + probe, timeout=2)
            break
        except requests.RequestException:
            time.sleep(0.1)
    return proc, base


def wrk(url: str, seconds: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if match is None:
        raise SystemExit(f"wrk printed no rate:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/embed.py needs wrk (apt-get install wrk)")

    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/bench.db"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "TRACKER_ENV": "development",
            "TRACKER_INSTANCE_PATH": tmp,
        }
        seed(database_url, env)
        tracker, tracker_base = start("wsgi:app", "/healthz", args.workers, env)
        bare, bare_base = start("bench.bare_app:app", "/", args.workers, env)
        try:
            print(
                f"gunicorn sync, {args.workers} workers; wrk -c {args.connections}, "
                f"{args.rounds} rounds of {args.seconds} s per path"
            )
            for path in PATHS:
                body = requests.get(tracker_base + path, timeout=5).content
                print(f"  {path}: {len(body)} bytes, {len(gzip.compress(body))} gzipped")
            # Other load on the machine drifts; each path is measured right after the bare
            # app, in rounds, and the median of the ratios is reported.
            for path in PATHS:
                wrk(tracker_base + path, 1, args.connections)  # warm every worker's cache
            for path in PATHS:
                ratios, rates, bares = [], [], []
                for _ in range(args.rounds):
                    bare_rate = wrk(bare_base + "/", args.seconds, args.connections)
                    rate = wrk(tracker_base + path, args.seconds, args.connections)
                    bares.append(bare_rate)
                    rates.append(rate)
                    ratios.append(rate / bare_rate)
                print(
                    f"  {path}: {statistics.median(rates):.0f} req/s against bare "
                    f"{statistics.median(bares):.0f} req/s, ratio {statistics.median(ratios):.2f} "
                    f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
                )
        finally:
            for proc in (tracker, bare):
                proc.terminate()
                proc.wait(timeout=15)


if __name__ == "__main__":
    main()
