"""Several writers at once: the period insert race, and the job run four times at once
(threads and processes), on whichever database the suite runs on."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from tests.factories import make_campaign
from tracker import services
from tracker.extensions import db as sa_db
from tracker.models import Campaign, Period
from tracker.rollover import run_rollover

ROOT = Path(__file__).resolve().parent.parent
RUNS = 4
CAMPAIGNS = 5
JULY = datetime(2026, 7, 10, 12, tzinfo=UTC)
NOW = datetime(2026, 10, 15, 9, tzinfo=UTC)  # July, August and September are due


def make_campaigns() -> list[int]:
    ids = []
    with time_machine.travel(JULY, tick=False):
        for number in range(CAMPAIGNS):
            campaign = make_campaign(f"c{number}")
            services.period_for(campaign, JULY)
            sa_db.session.commit()
            ids.append(campaign.id)
    return ids


def in_threads(target, count: int = RUNS) -> list[object]:
    """Run target(index) in `count` threads that start together; re-raise their errors."""
    results: list[object] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = target(index)
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def assert_closed_exactly_once(closed_reports: list[tuple[str, str]]) -> None:
    expected = {(f"c{n}", m) for n in range(CAMPAIGNS) for m in ("2026-07", "2026-08", "2026-09")}
    counts = Counter(closed_reports)
    assert set(counts) == expected
    assert all(n == 1 for n in counts.values()), counts
    sa_db.session.expire_all()
    rows = sa_db.session.execute(select(Period)).scalars().all()
    assert len(rows) == CAMPAIGNS * 4  # July to October, no duplicate month
    past = [row for row in rows if row.month < 10]
    assert all(row.closed and row.closed_at == NOW for row in past)
    assert all(row.closed_raised_minor == 0 for row in past)
    assert not any(row.closed for row in rows if row.month == 10)


def test_period_for_is_race_free(app, db, monkeypatch) -> None:
    campaign = make_campaign("racy")
    campaign_id = campaign.id
    at = datetime(2026, 11, 3, tzinfo=UTC)
    barrier = threading.Barrier(RUNS, timeout=30)
    seen = threading.local()
    real_find = services.find_period

    def find_then_wait(campaign, month):
        found = real_find(campaign, month)
        if not getattr(seen, "waited", False):
            # every thread has looked and found nothing before any inserts
            seen.waited = True
            barrier.wait()
        return found

    monkeypatch.setattr(services, "find_period", find_then_wait)

    def worker(index: int) -> int:
        with app.app_context():
            row = services.period_for(sa_db.session.get(Campaign, campaign_id), at)
            sa_db.session.commit()
            return row.id

    ids = in_threads(worker)
    assert len(set(ids)) == 1
    count = sa_db.session.execute(
        select(func.count(Period.id)).where(Period.campaign_id == campaign_id)
    ).scalar_one()
    assert count == 1


def test_four_threads_close_each_period_exactly_once(app, db) -> None:
    make_campaigns()
    barrier = threading.Barrier(RUNS, timeout=30)

    def worker(index: int):
        with app.app_context():
            barrier.wait()
            return run_rollover(NOW)

    reports = in_threads(worker)
    assert all(not report.failed for report in reports)
    assert_closed_exactly_once([(c.slug, c.month) for r in reports for c in r.closed])
    opened = Counter((c.slug, c.month) for r in reports for c in r.opened)
    assert len(opened) == CAMPAIGNS * 3 and set(opened.values()) == {1}


@pytest.mark.slow
def test_four_processes_close_each_period_exactly_once(db, database_url, tmp_path) -> None:
    make_campaigns()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TRACKER_ENV": "development",
        "SECRET_KEY": "test-secret-key",
        "TRACKER_INSTANCE_PATH": str(tmp_path),
        "TRACKER_SCHEDULER": "0",
    }
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "wsgi",
        "tracker",
        "rollover",
        "--now",
        NOW.isoformat(),
    ]
    processes = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(RUNS)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outputs.append(out)
    closed = [
        tuple(line.split()[1:3])
        for out in outputs
        for line in out.splitlines()
        if line.startswith("closed ")
    ]
    assert_closed_exactly_once(closed)
    opened = [line for out in outputs for line in out.splitlines() if line.startswith("opened ")]
    assert len(opened) == len(set(opened)) == CAMPAIGNS * 3
