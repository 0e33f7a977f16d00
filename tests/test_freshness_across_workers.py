"""SPEC: a donation recorded by any process shows within one second in every other process.

Starts gunicorn with two workers on the test database (SQLite, or PostgreSQL with
TEST_DATABASE_URL), records a donation from this process, and watches both workers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.factories import make_campaign, make_donation

ROOT = Path(__file__).resolve().parent.parent
# SPEC allows one second (the poll interval); the rest is room for requests queued on a busy
# 2-core machine. A poll interval of 3 s fails this. A request sent later than
# this after the donation's commit must show it.
FRESH_WITHIN_S = 2.0

pytestmark = pytest.mark.slow


@pytest.fixture()
def gunicorn(database_url: str, tmp_path: Path):
    """Two gunicorn workers on a socket bound here (port 0: no race for a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    env = {
        **os.environ,
        "SECRET_KEY": "freshness-test",
        "DATABASE_URL": database_url,
        "TRACKER_ENV": "development",
        "TRACKER_INSTANCE_PATH": str(tmp_path),
        "SESSION_COOKIE_SECURE": "0",
    }
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"fd://{sock.fileno()}",
            "--no-control-socket",  # its default path is shared by every gunicorn on the box
            "--chdir",
            str(ROOT),
            "tests.gunicorn_pid_app:app",
        ],
        env=env,
        pass_fds=[sock.fileno()],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                break
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        if proc.poll() is not None:
            pytest.fail("gunicorn exited:\n" + (tmp_path / "gunicorn.log").read_text()[-3000:])
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        sock.close()


def read_all(base: str, path: str, n: int = 16) -> list[tuple[str, str, float]]:
    """n concurrent reads: (worker pid, body, monotonic time the request was sent) of each."""

    def one(_: int) -> tuple[str, str, float]:
        sent = time.monotonic()
        response = requests.get(base + path, timeout=10)
        assert response.status_code == 200
        return response.headers["X-Worker-Pid"], response.text, sent

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(n)))


def test_a_donation_shows_in_every_worker_within_a_second(gunicorn, db) -> None:
    campaign = make_campaign("fresh")
    make_donation(campaign, 218000)
    path = "/embed/fresh"

    # Both workers have read (and cached) the widget as it is now.
    seen_old: set[str] = set()
    for _ in range(50):
        for pid, body, _ in read_all(gunicorn, path):
            assert '<span class="mk">2,180 $</span>' in body
            seen_old.add(pid)
        if len(seen_old) == 2:
            break
    assert len(seen_old) == 2, "both workers should have answered"

    make_donation(campaign, 100)  # from this process: another process as far as they know
    recorded = time.monotonic()
    fresh: set[str] = set()
    deadline = recorded + FRESH_WITHIN_S + 10  # only ends the loop; the bound is checked below
    while len(fresh) < 2 and time.monotonic() < deadline:
        # Answers within one batch come in any order; across batches a worker that has
        # shown the new amount must never show the old one again.
        fresh_before = set(fresh)
        for pid, body, sent in read_all(gunicorn, path, n=8):
            if '<span class="mk">2,181 $</span>' in body:
                fresh.add(pid)
                continue
            assert '<span class="mk">2,180 $</span>' in body
            assert pid not in fresh_before, "a worker went back to the old amount"
            late = sent - recorded
            assert late <= FRESH_WITHIN_S, f"worker {pid} still old {late:.2f} s after the donation"
    assert fresh == seen_old, "both workers show the donation"
