"""APScheduler 3 wiring for the month-boundary job, and with a Stripe key set, the sync of
missed events (`tracker sync-stripe`) and the reconciliations that are due.

The job runs at start and then every INTERVAL_S seconds, so a month that ends
in any timezone (they end at every quarter hour somewhere) is closed within
minutes. Three ways to run it (README, "The month boundary"):
- `flask --app wsgi tracker rollover` from cron;
- `flask --app wsgi tracker scheduler`, a dedicated foreground process;
- `TRACKER_SCHEDULER=1`: inside the web process, started by the first request
  that process serves. The Werkzeug reloader's watcher and CLI commands serve
  none, so they never start one, and a process starts at most one.
Several of these at once do no harm: the job is idempotent and locks.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from datetime import UTC
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from tracker import services
from tracker.rollover import run_rollover

log = logging.getLogger(__name__)

INTERVAL_S = 300
JOB_ID = "tracker-rollover"
SYNC_JOB_ID = "tracker-sync-stripe"
RECONCILE_JOB_ID = "tracker-reconcile"
RECONCILE_EVERY_S = 3600  # it looks for what is due; each month runs at most daily
NOTIFY_JOB_ID = "tracker-send-notifications"
NOTIFY_EVERY_S = 30

_lock = threading.Lock()
_started_pid: int | None = None  # the process that started the in-process scheduler


def rollover_job(app: Flask) -> None:
    """Run the month-boundary job once, in its own app context; never raise."""
    try:
        with app.app_context():
            run_rollover(services.now())
    except Exception:
        log.exception("rollover job failed")


def sync_job(app: Flask) -> None:
    """Receive the events the webhook missed (tracker sync-stripe); never raise."""
    from tracker import sync

    try:
        with app.app_context():
            sync.sync_stripe()
    except Exception:
        log.exception("sync-stripe job failed")


def reconcile_job(app: Flask) -> None:
    """Reconcile the months that are due (tracker.reconcile.due_runs); never raise."""
    from tracker import reconcile

    try:
        with app.app_context():
            reconcile.run_due(services.now())
    except Exception:
        log.exception("reconcile job failed")


def notify_job(app: Flask) -> None:
    """Send the notifications that are due (tracker.notifications); never raise."""
    from tracker import notifications

    try:
        with app.app_context():
            notifications.send_due(services.now())
    except Exception:
        log.exception("notification job failed")


def make_scheduler(app: Flask, *, interval_s: float = INTERVAL_S) -> BackgroundScheduler:
    """A background scheduler that runs the month-boundary job now and then every
    `interval_s` seconds, the notifications that are due every 30 seconds, and with a
    Stripe key `sync-stripe` every TRACKER_SYNC_SECONDS and the reconciliations that are
    due every hour."""
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    scheduler.add_job(
        rollover_job,
        IntervalTrigger(seconds=interval_s, timezone=UTC),
        args=[app],
        id=JOB_ID,
        name="month-boundary rollover",
        next_run_time=services.now(),
        replace_existing=True,
    )
    scheduler.add_job(
        notify_job,
        IntervalTrigger(seconds=NOTIFY_EVERY_S, timezone=UTC),
        args=[app],
        id=NOTIFY_JOB_ID,
        name="send notifications",
        next_run_time=services.now(),
        replace_existing=True,
    )
    sync_s = int(app.config.get("TRACKER_SYNC_SECONDS") or 0)
    if app.config.get("STRIPE_SECRET_KEY") and sync_s > 0:
        scheduler.add_job(
            sync_job,
            IntervalTrigger(seconds=sync_s, timezone=UTC),
            args=[app],
            id=SYNC_JOB_ID,
            name="receive events the webhook missed",
            next_run_time=services.now(),
            replace_existing=True,
        )
        scheduler.add_job(
            reconcile_job,
            IntervalTrigger(seconds=RECONCILE_EVERY_S, timezone=UTC),
            args=[app],
            id=RECONCILE_JOB_ID,
            name="reconcile with Stripe",
            next_run_time=services.now(),
            replace_existing=True,
        )
    return scheduler


def run_foreground(
    app: Flask, stop: threading.Event | None = None, *, interval_s: float = INTERVAL_S
) -> None:
    """Run the scheduler until SIGTERM/SIGINT (or `stop` is set), then shut down cleanly."""
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("scheduler got signal %s, stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    scheduler = make_scheduler(app, interval_s=interval_s)
    scheduler.start()
    log.info("scheduler started: rollover at start and every %s s", interval_s)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=True)  # lets a running job finish its transaction
        log.info("scheduler stopped")


def start_in_process(app: Flask) -> BackgroundScheduler | None:
    """Start the scheduler in this process unless one already runs here; None if it does."""
    global _started_pid
    with _lock:
        if _started_pid == os.getpid():
            return None
        scheduler = make_scheduler(app)
        scheduler.start()
        # After a fork the child has the flag but not the thread: the pid tells them apart.
        _started_pid = os.getpid()
    app.extensions["tracker.scheduler"] = scheduler
    atexit.register(_shutdown, scheduler)
    log.info("in-process scheduler started pid=%s", _started_pid)
    return scheduler


def _shutdown(scheduler: BackgroundScheduler) -> None:
    if scheduler.running:
        scheduler.shutdown(wait=False)


def install(app: Flask) -> None:
    """With TRACKER_SCHEDULER=1, start the scheduler on the first request this process serves."""
    if not app.config.get("TRACKER_SCHEDULER"):
        return

    @app.before_request
    def _start_scheduler() -> None:
        if _started_pid != os.getpid():
            start_in_process(app)
