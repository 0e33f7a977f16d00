"""tracker backup: an online SQLite copy that restores to the same totals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.factories import make_campaign, make_donation
from tracker import services
from tracker.app import create_app
from tracker.extensions import db as sa_db
from tracker.models import Period


def totals() -> list[tuple]:
    rows = sa_db.session.execute(select(Period).order_by(Period.id)).scalars()
    return [(p.campaign_id, p.year, p.month, p.raised_minor, p.donations) for p in rows]


def test_backup_restores_every_total(runner, database_url, tmp_path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite backup")
    campaign = make_campaign("southfront")
    other = make_campaign("other", currency="JPY", timezone="Asia/Tokyo")
    make_donation(campaign, 1250, datetime(2026, 10, 3, tzinfo=UTC))
    make_donation(campaign, 5000, datetime(2026, 11, 3, tzinfo=UTC))
    make_donation(other, 700, datetime(2026, 11, 30, 16, tzinfo=UTC))  # December in Tokyo
    before = totals()
    target = tmp_path / "backup.db"
    result = runner.invoke(args=["tracker", "backup", str(target)])
    assert result.exit_code == 0, result.output

    restored = create_app(
        {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{target}"}
    )
    with restored.app_context():
        assert totals() == before
        assert services.verify() == []
        sa_db.engine.dispose()

    again = runner.invoke(args=["tracker", "backup", str(target)])
    assert again.exit_code != 0
    assert "exists" in again.output


def test_backup_refuses_postgres(runner, database_url, tmp_path) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL refusal")
    result = runner.invoke(args=["tracker", "backup", str(tmp_path / "backup.db")])
    assert result.exit_code == 1
    assert "pg_dump" in result.output
    assert not (tmp_path / "backup.db").exists()
