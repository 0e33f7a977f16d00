"""How long the month-boundary job takes for many campaigns (not a test).

    .venv/bin/python bench/rollover.py [--campaigns 1000] [--database-url URL]

Without --database-url it uses a fresh SQLite file in a temporary folder. With a
PostgreSQL URL it uses that database as is: give it an empty scratch database,
since the schema is created there and every table is emptied at the end.
Each campaign gets an open October with one donation; the job runs at
1 November 00:00 UTC (every October closes, every November opens), then again
(the idle run that the scheduler does every five minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import text  # noqa: E402

from config import normalize_database_url  # noqa: E402
from tracker import services  # noqa: E402
from tracker.app import create_app  # noqa: E402
from tracker.extensions import db  # noqa: E402
from tracker.models import Campaign, Donation, Period  # noqa: E402
from tracker.rollover import run_rollover  # noqa: E402

OCTOBER = datetime(2026, 10, 5, tzinfo=UTC)
BOUNDARY = datetime(2026, 11, 1, tzinfo=UTC)


def seed(count: int) -> None:
    start, end = services.Month(2026, 10).bounds(services.periods.parse_timezone("UTC"))
    for number in range(count):
        campaign = Campaign(
            slug=f"bench-{number}",
            name=f"Bench {number}",
            currency="USD",
            timezone="UTC",
            locale="en",
            milestones=[0, 250000, 500000],
            allowed_origins=[],
            preset_amounts=[],
            revision=1,
            created_at=OCTOBER,
            updated_at=OCTOBER,
        )
        db.session.add(campaign)
        db.session.flush()
        period = Period(
            campaign_id=campaign.id,
            year=2026,
            month=10,
            starts_at=start,
            ends_at=end,
            milestones=[0, 250000, 500000],
            raised_minor=1000,
            donations=1,
            closed=False,
        )
        db.session.add(period)
        db.session.flush()
        db.session.add(
            Donation(
                campaign_id=campaign.id,
                period_id=period.id,
                amount_minor=1000,
                currency="USD",
                received_at=OCTOBER,
                source="manual",
                external_key=f"bench-{number}",
            )
        )
    db.session.commit()


def empty_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - our own table names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="tracker-bench-")
    url = normalize_database_url(args.database_url or f"sqlite:///{folder}/bench.db")
    os.environ.setdefault("TRACKER_INSTANCE_PATH", folder)
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        empty_tables()
        seed(args.campaigns)
        started = time.perf_counter()
        report = run_rollover(BOUNDARY)
        boundary_s = time.perf_counter() - started
        started = time.perf_counter()
        idle = run_rollover(BOUNDARY.replace(minute=5))
        idle_s = time.perf_counter() - started
        empty_tables()
    print(f"database: {url.split(':')[0]}")
    print(
        f"boundary run: {args.campaigns} campaigns, {len(report.closed)} closed, "
        f"{len(report.opened)} opened, {len(report.failed)} failed in {boundary_s:.2f} s"
    )
    print(f"idle run: {len(idle.closed)} closed, {len(idle.opened)} opened in {idle_s:.3f} s")


if __name__ == "__main__":
    main()
