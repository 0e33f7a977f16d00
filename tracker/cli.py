"""The `tracker` command group: `flask --app wsgi tracker ...`."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from tracker import services
from tracker.domain import money, periods
from tracker.extensions import db
from tracker.payments import PaymentError

log = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    """What went wrong, as one line a person can act on."""
    if isinstance(exc, OperationalError | InterfaceError):
        return f"the database is unavailable: {_first_line(exc.orig)}"
    if isinstance(exc, DBAPIError):
        return f"the database refused the change: {_first_line(exc.orig)}"
    if isinstance(exc, PaymentError):
        return f"Stripe: {_first_line(exc)}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    if isinstance(exc, ValueError | LookupError | OSError | sqlite3.Error):
        return _first_line(exc.args[0] if exc.args else exc)
    return f"unexpected error ({type(exc).__name__}): {_first_line(exc)}"


def _first_line(value: object) -> str:
    text = str(value).strip()
    return (text.splitlines() or [type(value).__name__])[0][:500]


class TrackerGroup(AppGroup):
    """The command group: any command's failure is one line on stderr and exit 1.

    Nothing is written: the session is rolled back. No traceback reaches the terminal;
    an unexpected one is logged at DEBUG level.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # Click's own would add two lines of usage
            name = exc.ctx.command_path if exc.ctx else "tracker"
            raise click.ClickException(f"{exc.format_message()} (see {name} --help)") from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            log.debug("command failed", exc_info=True)
            with contextlib.suppress(Exception):
                db.session.rollback()
            raise click.ClickException(one_line(exc)) from None


tracker_cli = TrackerGroup("tracker", help="Manage campaigns, donations and the monthly rollover.")


def _campaign(slug: str) -> Any:
    return services.require_campaign(slug)


@tracker_cli.command("create-campaign")
@click.argument("slug")
@click.option("--name", required=True, help="Shown on the widget.")
@click.option("--currency", required=True, help="ISO 4217 code, e.g. USD.")
@click.option("--timezone", "zone", default="UTC", show_default=True, help="IANA name.")
@click.option("--locale", default="en", show_default=True)
@click.option("--milestones", required=True, help="Major units, ascending: 0,2500,5000.")
@click.option("--allowed-origins", default="", help="https://a.example,https://b.example")
@click.option("--presets", default="", help="Preset amounts, major units: 5,10,25")
def create_campaign(
    slug: str,
    name: str,
    currency: str,
    zone: str,
    locale: str,
    milestones: str,
    allowed_origins: str,
    presets: str,
) -> None:
    """Create a campaign; an existing slug is refused."""
    code = money.normalize_currency(currency)
    campaign = services.create_campaign(
        slug,
        name=name,
        currency=code,
        timezone=zone,
        locale=locale,
        milestones=money.parse_milestones(milestones, code),
        allowed_origins=services.parse_origins(allowed_origins),
        preset_amounts=services.parse_presets(presets, code),
    )
    services.period_for(campaign, services.now())
    db.session.commit()
    click.echo(f"created campaign {campaign.slug}")


@tracker_cli.command("edit-campaign")
@click.argument("slug")
@click.option("--name")
@click.option("--milestones", help="Major units, ascending: 0,2500,5000.")
@click.option("--locale")
@click.option("--timezone", "zone")
@click.option("--allowed-origins", help="https://a.example,https://b.example ('' clears)")
@click.option("--presets", help="Preset amounts, major units: 5,10,25 ('' clears)")
@click.option(
    "--show-supporters",
    type=click.Choice(["yes", "no"]),
    help="Show '57 MONTHLY SUPPORTERS' in the widget.",
)
def edit_campaign(
    slug: str,
    name: str | None,
    milestones: str | None,
    locale: str | None,
    zone: str | None,
    allowed_origins: str | None,
    presets: str | None,
    show_supporters: str | None,
) -> None:
    """Change a campaign; the current and future periods only."""
    campaign = _campaign(slug)
    services.edit_campaign(
        campaign,
        services.now(),
        name=name,
        locale=locale,
        timezone=zone,
        milestones=None
        if milestones is None
        else money.parse_milestones(milestones, campaign.currency),
        allowed_origins=None
        if allowed_origins is None
        else services.parse_origins(allowed_origins),
        preset_amounts=None
        if presets is None
        else services.parse_presets(presets, campaign.currency),
        show_supporters=None if show_supporters is None else show_supporters == "yes",
    )
    db.session.commit()
    click.echo(f"updated campaign {campaign.slug}")


@tracker_cli.command("add-donation", context_settings={"ignore_unknown_options": True})
@click.argument("slug")
@click.argument("amount")
@click.option("--received-at", help="ISO 8601; without an offset, the campaign's timezone.")
@click.option("--donor", help="Donor name, shown to admins only.")
def add_donation(slug: str, amount: str, received_at: str | None, donor: str | None) -> None:
    """Record a manual (offline) donation, AMOUNT in major units (12.50)."""
    campaign = _campaign(slug)
    minor = money.parse_amount(amount, campaign.currency)
    zone = services.campaign_zone(campaign)
    at = periods.parse_instant(received_at, zone) if received_at else services.now()
    donation = services.record_manual_donation(campaign, minor, at, donor)
    db.session.commit()
    click.echo(
        f"recorded {money.format_money(minor, campaign.currency, campaign.locale)} "
        f"for {campaign.slug} (donation {donation.id})"
    )


@tracker_cli.command("verify")
def verify() -> None:
    """Recompute every period from its donations, and look for Stripe events left pending;
    exit 1 on any mismatch or stuck event."""
    from tracker import inbox

    problems = services.verify()
    for event in inbox.stuck_events(services.now()):
        problems.append(
            f"stripe event {event.id} ({event.type}) stored {event.received_at.isoformat()} "
            f"is neither applied nor rejected (outcome {event.outcome or 'none'}); "
            "run `tracker reprocess`"
        )
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo("all period totals match their donations; no Stripe event is stuck")


@tracker_cli.command("seed-demo")
def seed_demo() -> None:
    """Create the demo campaign with a few donations, if there is no campaign yet."""
    from sqlalchemy import func, select

    from tracker.models import Campaign

    if db.session.scalar(select(func.count(Campaign.id))):
        click.echo("campaigns exist; demo not seeded")
        return
    campaign = services.create_campaign(
        "demo",
        name="Support independent news",
        currency="USD",
        milestones=[0, 250000, 500000],
        preset_amounts=[500, 1000, 2500, 5000],
    )
    at = services.now()
    for minor, name in [(150000, "Ada"), (50000, "Grace"), (10000, None), (8000, "Linus")]:
        services.record_donation(
            campaign, amount_minor=minor, received_at=at, source="manual", donor_name=name
        )
    db.session.commit()
    click.echo("seeded demo campaign 'demo'")


@tracker_cli.command("create-admin")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first stdin line.")
def create_admin(email: str, password_stdin: bool) -> None:
    """Create an admin, or reset the password of an existing one."""
    from tracker import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    admin, created = accounts.set_admin_password(email, password)
    db.session.commit()
    click.echo(f"{'created' if created else 'reset the password of'} admin {admin.email}")


@tracker_cli.command("rollover")
@click.option("--now", "now_text", help="ISO 8601 instant to run as (no offset: UTC).")
def rollover(now_text: str | None) -> None:
    """Run the month-boundary job once: close ended months, open the current ones."""
    from zoneinfo import ZoneInfo

    from tracker.rollover import run_rollover

    at = periods.parse_instant(now_text, ZoneInfo("UTC")) if now_text else services.now()
    # Closing a month that has not ended cannot be undone: refuse a --now ahead of us.
    periods.not_in_future(at, services.now(), "--now")
    report = run_rollover(at)
    for change in report.opened:
        click.echo(f"opened {change.slug} {change.month}")
    for change in report.closed:
        click.echo(f"closed {change.describe()}")
    for slug in report.busy:
        click.echo(f"busy {slug} (another run is rolling it over)")
    for slug, error in report.failed:
        click.echo(f"failed {slug}: {error}", err=True)
    click.echo(report.summary())
    if report.failed:
        raise SystemExit(1)


@tracker_cli.command("scheduler")
@click.option("--interval", default=300, show_default=True, help="Seconds between runs.")
def scheduler(interval: int) -> None:
    """Run the month-boundary scheduler in the foreground until SIGTERM or Ctrl-C."""
    from flask import current_app

    from tracker.scheduler import run_foreground

    if interval < 1:
        raise click.ClickException("--interval must be at least 1 second")
    run_foreground(current_app._get_current_object(), interval_s=interval)  # type: ignore[attr-defined]


@tracker_cli.command("reprocess")
def reprocess() -> None:
    """Apply stored Stripe events that are not applied yet (oldest first)."""
    from tracker import inbox

    pending = inbox.pending_event_ids()
    failed = 0
    for event_id in pending:
        receipt = inbox.apply_pending(event_id)
        db.session.commit()
        if not receipt.settled:
            failed += 1
            click.echo(f"{event_id}: not applied (see the log)", err=True)
    click.echo(f"applied {len(pending) - failed} of {len(pending)} stored events")
    if failed:
        raise SystemExit(1)


def register(app: Flask) -> None:
    app.cli.add_command(tracker_cli)


@tracker_cli.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, writable=True))
def backup(destination: str) -> None:
    """Copy the SQLite database, consistently, while it serves (PostgreSQL: use pg_dump)."""
    from pathlib import Path

    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database:
        raise click.ClickException(
            "backup copies SQLite databases; for PostgreSQL use pg_dump (see README)"
        )
    target = Path(destination)
    if target.exists():
        raise click.ClickException(f"{destination} exists; choose a new file")
    if not target.parent.is_dir():
        raise click.ClickException(f"cannot write {destination}: no such directory")
    source = sqlite3.connect(url.database)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # SQLite's online backup API: a consistent snapshot
        finally:
            copy.close()
    finally:
        source.close()
    click.echo(f"backed up {url.database} to {target}")


@tracker_cli.command("sync-stripe")
@click.option(
    "--since",
    help="ISO 8601 (UTC when it has no offset); default 3 days ago, at most 30 days ago.",
)
def sync_stripe(since: str | None) -> None:
    """Receive the events Stripe holds that the webhook missed (idempotent)."""
    from zoneinfo import ZoneInfo

    from tracker import sync

    at = periods.parse_instant(since, ZoneInfo("UTC")) if since else None
    click.echo(sync.sync_stripe(at).line())


@tracker_cli.command("reconcile")
@click.option("--month", required=True, help="YYYY-MM, in each campaign's timezone.")
@click.option("--campaign", "slug", help="One campaign (default: every campaign).")
@click.option("--apply", "mend", is_flag=True, help="Record what is missing here.")
def reconcile_month(month: str, slug: str | None, mend: bool) -> None:
    """Compare a month's Stripe donations with Stripe's own payments; exit 1 on a difference."""
    from tracker import admin_services, reconcile

    chosen = [_campaign(slug)] if slug else admin_services.campaigns()
    if not chosen:
        raise click.ClickException("no campaign yet")
    months = [(c, admin_services.parse_month(month, c)) for c in chosen]  # all valid first
    left = 0
    for campaign, which in months:
        run = reconcile.reconcile(campaign, which, apply=mend)
        for difference in run.differences:
            click.echo(f"{campaign.slug} {which.key}: {reconcile.describe(difference, campaign)}")
        mended = f", {run.mended} recorded" if mend else ""
        click.echo(
            f"{campaign.slug} {which.key}: {run.at_stripe} at Stripe, {run.here} here, "
            f"{len(run.differences)} differences{mended}"
        )
        left += len(run.differences)
    if left:
        raise SystemExit(1)


@tracker_cli.command("send-notifications")
def send_notifications() -> None:
    """Send the notifications that are due, once (for cron; the scheduler does it too)."""
    from tracker import notifications

    sent, given_up = notifications.send_due(services.now())
    click.echo(f"sent {sent}, given up {given_up}")
