"""The scheduler starts, runs the rollover job and stops: in the background, in the
foreground (a thread, and a real `tracker scheduler` process stopped by SIGTERM), and
inside the web process with TRACKER_SCHEDULER=1 (once per process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.factories import make_campaign
from tracker import scheduler as scheduler_module
from tracker import services
from tracker.app import create_app
from tracker.extensions import db as sa_db
from tracker.models import Period

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 60  # an upper bound for a job that takes well under a second, never a speed check


def campaign_with_an_ended_month() -> int:
    """A campaign whose last month (by the real clock) is still open: the job must close it."""
    campaign = make_campaign("southfront")
    services.period_for(campaign, services.now() - timedelta(days=40))
    sa_db.session.commit()
    return campaign.id


def closed_months(campaign_id: int) -> int:
    sa_db.session.rollback()
    return len(
        sa_db.session.execute(
            select(Period.id).where(Period.campaign_id == campaign_id, Period.closed.is_(True))
        ).all()
    )


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.1)


def test_background_scheduler_runs_the_job_at_start_and_stops(app, db) -> None:
    campaign_id = campaign_with_an_ended_month()
    scheduler = scheduler_module.make_scheduler(app, interval_s=3600)
    scheduler.start()
    try:
        job = scheduler.get_job(scheduler_module.JOB_ID)
        assert job is not None
        wait_until(lambda: closed_months(campaign_id) >= 1, "the job closed the ended month")
    finally:
        scheduler.shutdown(wait=True)
    assert not scheduler.running


def test_foreground_runner_stops_when_told(app, db) -> None:
    campaign_id = campaign_with_an_ended_month()
    stop = threading.Event()
    thread = threading.Thread(
        target=scheduler_module.run_foreground, args=(app, stop), kwargs={"interval_s": 3600}
    )
    thread.start()
    try:
        wait_until(lambda: closed_months(campaign_id) >= 1, "the job closed the ended month")
    finally:
        stop.set()
        thread.join(timeout=WAIT_S)
    assert not thread.is_alive()


@pytest.mark.slow
def test_scheduler_command_runs_the_job_and_stops_on_sigterm(db, database_url, tmp_path):
    campaign_id = campaign_with_an_ended_month()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TRACKER_ENV": "development",
        "SECRET_KEY": "test-secret-key",
        "TRACKER_INSTANCE_PATH": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "tracker", "scheduler"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: closed_months(campaign_id) >= 1, "the job closed the ended month")
        assert process.poll() is None, "the scheduler exited by itself"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "scheduler started" in err  # logs go to stderr
    assert "scheduler stopped" in err
    assert "Traceback" not in out + err


@pytest.fixture()
def fresh_process_flag(monkeypatch):
    monkeypatch.setattr(scheduler_module, "_started_pid", None)
    started = []
    real_start = scheduler_module.start_in_process

    def start(app):
        scheduler = real_start(app)
        if scheduler is not None:
            started.append(scheduler)
        return scheduler

    monkeypatch.setattr(scheduler_module, "start_in_process", start)
    yield started
    for scheduler in started:
        if scheduler.running:
            scheduler.shutdown(wait=True)


@pytest.fixture()
def in_process_app(database_url):
    """Build apps with TRACKER_SCHEDULER=1; their connections are closed afterwards."""
    built = []

    def build():
        web = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret-key",
                "SQLALCHEMY_DATABASE_URI": database_url,
                "TRACKER_SCHEDULER": True,
            }
        )
        built.append(web)
        return web

    yield build
    for web in built:
        with web.app_context():
            sa_db.engine.dispose()


def test_in_process_scheduler_starts_once_per_process(db, in_process_app, fresh_process_flag):
    campaign_id = campaign_with_an_ended_month()
    web = in_process_app()
    assert fresh_process_flag == []  # building the app (CLI, reloader watcher) starts nothing

    assert web.test_client().get("/healthz").status_code == 200
    assert len(fresh_process_flag) == 1
    assert web.extensions["tracker.scheduler"].running
    wait_until(lambda: closed_months(campaign_id) >= 1, "the job closed the ended month")

    web.test_client().get("/healthz")
    other = in_process_app()  # a second app in the same process
    other.test_client().get("/healthz")
    assert len(fresh_process_flag) == 1
    assert "tracker.scheduler" not in other.extensions


def test_cli_commands_never_start_the_in_process_scheduler(db, in_process_app, fresh_process_flag):
    web = in_process_app()
    result = web.test_cli_runner().invoke(args=["tracker", "verify"])
    assert result.exit_code == 0, result.output
    assert fresh_process_flag == []
    assert "tracker.scheduler" not in web.extensions


def test_scheduler_is_off_by_default(app, db, fresh_process_flag) -> None:
    assert app.config["TRACKER_SCHEDULER"] is False
    app.test_client().get("/healthz")
    assert fresh_process_flag == []
