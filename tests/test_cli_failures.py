"""Every `tracker` command, given input it must refuse or a database that is away, says so
in one line on stderr, exits non-zero, prints no traceback and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from sqlalchemy import func, select

from tests.factories import make_campaign
from tracker.app import create_app
from tracker.cli import tracker_cli
from tracker.extensions import db as sa_db
from tracker.models import Admin, AuditEntry, Campaign, Donation, Period

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

# command -> (arguments, stdin, what the line on stderr says): input each one must refuse.
BAD_INPUT = {
    "create-campaign": (
        ["new", "--name", "N", "--currency", "ZZZ", "--milestones", "0,10"],
        None,
        "unknown currency",
    ),
    "edit-campaign": (["nope", "--name", "N"], None, "no campaign 'nope'"),
    "add-donation": (["southfront", "-5"], None, "greater than zero"),
    "verify": (["--bogus"], None, "No such option"),
    "seed-demo": (["extra"], None, "unexpected extra argument"),
    "create-admin": (["ada@example.org", "--password-stdin"], "short\n", "12 characters"),
    "rollover": (["--now", "2027-01-01T00:10"], None, "in the future"),
    "scheduler": (["--interval", "0"], None, "at least 1 second"),
    "reprocess": (["--bogus"], None, "No such option"),
    # SQLite: the folder is missing; PostgreSQL: backups are pg_dump's job.
    "backup": (["/no/such/dir/x.db"], None, ("no such directory", "pg_dump")),
    "sync-stripe": (["--since", "2026-10-01"], None, "at most 30 days ago"),
    "reconcile": (["--month", "2026-13"], None, "invalid month"),
    "send-notifications": (["extra"], None, "unexpected extra argument"),
}

# Beyond the table: each refusal that matters on its own.
MORE_BAD_INPUT = [
    (["add-donation", "southfront", "10", "--received-at", "2030-01-01"], "in the future"),
    (["add-donation", "southfront", "10", "--received-at", "2026-12-02T12:06Z"], "in the future"),
    (["add-donation", "southfront", "10", "--received-at", "yesterday"], "ISO 8601"),
    (["add-donation", "southfront", "1e3"], "exponent"),
    (["rollover", "--now", "2026-12-02T12:06Z"], "in the future"),
    (["rollover", "--now", "soon"], "ISO 8601"),
    (["edit-campaign", "southfront", "--milestones", "5,1"], "ascending"),
    (["edit-campaign", "southfront", "--timezone", "Mars/Base"], "unknown timezone"),
    (["create-campaign", "UPPER", "--name", "N", "--currency", "USD", "--milestones", "9"], "slug"),
    (["create-admin", "not-an-email", "--password-stdin"], "invalid email"),
    (["sync-stripe", "--since", "2027-01-01"], "in the future"),
    (["sync-stripe", "--since", "soon"], "ISO 8601"),
    (["reconcile", "--month", "2027-01"], "has not begun"),
    (["reconcile", "--month", "2026-11", "--campaign", "nope"], "no campaign 'nope'"),
    (["edit-campaign", "southfront", "--show-supporters", "maybe"], "maybe"),
]


def _written() -> tuple[int, ...]:
    sa_db.session.rollback()
    return tuple(
        sa_db.session.scalar(select(func.count()).select_from(model))
        for model in (Campaign, Period, Donation, Admin, AuditEntry)
    )


def _one_line_refusal(result, message: str | tuple[str, ...]) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert len(lines) == 1, result.stderr
    wanted = message if isinstance(message, tuple) else (message,)
    assert any(word in lines[0] for word in wanted), lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_every_command_has_a_failing_input_here() -> None:
    assert set(tracker_cli.commands) == set(BAD_INPUT)


@pytest.mark.parametrize("command", sorted(BAD_INPUT))
def test_bad_input_is_one_line_and_writes_nothing(runner, db, command) -> None:
    make_campaign("southfront")
    args, stdin, message = BAD_INPUT[command]
    before = _written()
    with time_machine.travel(NOW, tick=False):
        result = runner.invoke(args=["tracker", command, *args], input=stdin)
    _one_line_refusal(result, message)
    assert _written() == before


@pytest.mark.parametrize(("args", "message"), MORE_BAD_INPUT)
def test_more_bad_input_is_one_line_and_writes_nothing(runner, db, args, message) -> None:
    make_campaign("southfront")
    before = _written()
    with time_machine.travel(NOW, tick=False):
        result = runner.invoke(args=["tracker", *args], input="")
    _one_line_refusal(result, message)
    assert _written() == before


def test_clock_skew_of_up_to_five_minutes_is_taken(runner, db) -> None:
    make_campaign("southfront")
    ahead = (NOW + timedelta(minutes=4, seconds=59)).isoformat()
    with time_machine.travel(NOW, tick=False):
        added = runner.invoke(
            args=["tracker", "add-donation", "southfront", "10", "--received-at", ahead]
        )
        rolled = runner.invoke(args=["tracker", "rollover", "--now", ahead])
    assert added.exit_code == 0, added.output
    assert rolled.exit_code == 0, rolled.output


@pytest.fixture()
def away(tmp_path) -> Flask:
    """The app with its database out of reach: an SQLite file in a folder that is not there."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/folder/tracker.db",
        }
    )


# What each command is asked when the database is away (the scheduler keeps running
# through an outage by design, so it is not here).
AWAY = {
    "create-campaign": ["new", "--name", "N", "--currency", "USD", "--milestones", "0,10"],
    "edit-campaign": ["southfront", "--name", "N"],
    "add-donation": ["southfront", "10"],
    "verify": [],
    "seed-demo": [],
    "create-admin": ["ada@example.org", "--password-stdin"],
    "rollover": [],
    "reprocess": [],
}


@pytest.mark.parametrize("command", sorted(AWAY))
def test_a_database_away_is_one_line(away, command) -> None:
    result = away.test_cli_runner().invoke(
        args=["tracker", command, *AWAY[command]], input="a long enough password\n"
    )
    _one_line_refusal(result, "database is unavailable")


def test_a_backup_of_a_database_that_is_away_is_one_line(away, tmp_path) -> None:
    result = away.test_cli_runner().invoke(args=["tracker", "backup", str(tmp_path / "copy.db")])
    _one_line_refusal(result, "unable to open")
