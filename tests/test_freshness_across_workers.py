"""SPEC: a donation recorded by any process shows within one second in every other process.

Starts gunicorn with two workers on the test database (SQLite, or PostgreSQL with
TEST_DATABASE_URL), records a donation from this process, and watches both workers.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests import servers
from tests.factories import make_campaign, make_donation

ROOT = Path(__file__).resolve().parent.parent
# SPEC allows one second (the poll interval); the rest is room for requests queued on a busy
# 2-core machine. A poll interval of 3 s fails this. A request sent later than
# this after the donation's commit must show it.
FRESH_WITHIN_S = 2.0

pytestmark = pytest.mark.slow


@pytest.fixture()
def gunicorn(database_url: str, tmp_path: Path):
    """Two gunicorn workers that name themselves in an X-Worker-Pid header."""
    with servers.gunicorn(
        servers.server_env(database_url, tmp_path), workers=2, app="tests.gunicorn_pid_app:app"
    ) as server:
        yield server.base


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
