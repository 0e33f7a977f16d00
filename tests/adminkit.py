"""Helpers for admin tests: an admin account, CSRF tokens, a logged-in client."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tracker import accounts
from tracker.extensions import db
from tracker.models import Campaign

EMAIL = "ada@example.org"
PASSWORD = "correct horse battery staple"

_TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def make_admin(email: str = EMAIL, password: str = PASSWORD) -> None:
    accounts.set_admin_password(email, password)
    db.session.commit()


def csrf_token(client: FlaskClient, url: str = "/admin/login") -> str:
    """The CSRF token of the client's session, read from a page's form."""
    page = client.get(url)
    match = _TOKEN_RE.search(page.get_data(as_text=True))
    assert match, f"no csrf_token on {url}"
    return match.group(1)


def log_in(client: FlaskClient, email: str = EMAIL, password: str = PASSWORD) -> None:
    token = csrf_token(client)
    response = client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def fill_dashboard(client: FlaskClient, campaign: Campaign) -> None:
    """Something on each of the newer dashboard pages, through the paths that make it:
    monthly supporters (one whose renewal failed, one who cancelled this month), a donation
    from an article that crosses a milestone (a notification), and a reconciliation that
    found a payment missing here."""
    from datetime import timedelta

    from tests import stripe_events as se
    from tests.factories import make_donation
    from tracker import services
    from tracker.domain.periods import Period as Month
    from tracker.models import Reconciliation

    now = services.now()
    zone = services.campaign_zone(campaign)
    month = Month.containing(now, zone)
    _, end = month.bounds(zone)
    renews = min(now + timedelta(days=3), end - timedelta(hours=1))
    if renews <= now:  # the month's last hours: no renewal left this month
        renews = now + timedelta(hours=1)
    plans = [("active", 15000), ("active", 25000), ("past_due", 9000)]
    for n, (status, amount) in enumerate(plans):
        obj = se.subscription(
            subscription_id=f"sub_fill_{n}",
            amount=amount,
            created=now - timedelta(days=40),
            period_end=renews,
            status=status,
            campaign=campaign.slug,
            customer=f"cus_fill_{n}",
        )
        evt = se.event("customer.subscription.created", obj, event_id=f"evt_fill_s{n}")
        assert se.deliver(client, evt).status_code == 200
    failed = se.failed_invoice(
        invoice_id="in_fill_failed",
        subscription_id="sub_fill_2",
        amount_due=9000,
        created=now - timedelta(minutes=5),
        campaign=campaign.slug,
    )
    evt = se.event("invoice.payment_failed", failed, event_id="evt_fill_failed")
    assert se.deliver(client, evt).status_code == 200
    gone = se.subscription(
        subscription_id="sub_fill_gone",
        amount=1000,
        created=now - timedelta(days=90),
        status="canceled",
        campaign=campaign.slug,
        canceled_at=now - timedelta(minutes=1),
        cancellation_reason="cancellation_requested",
    )
    evt = se.event("customer.subscription.deleted", gone, event_id="evt_fill_gone")
    assert se.deliver(client, evt).status_code == 200
    make_donation(
        campaign,
        min(m for m in campaign.milestones if m),  # from zero, past the first milestone
        now - timedelta(minutes=2),
        attribution={
            "ref": "https://news.example.org/2026/12/the-river-report",
            "utm_source": "newsletter",
            "utm_campaign": "december-appeal",
        },
    )
    db.session.add(
        Reconciliation(
            campaign_id=campaign.id,
            year=month.year,
            month=month.month,
            ran_at=now - timedelta(minutes=1),
            finished_at=now - timedelta(minutes=1),
            at_stripe=2,
            here=1,
            differences=[
                {
                    "kind": "missing_here",
                    "key": "pi_fill_missing",
                    "here": None,
                    "stripe": {"amount": 2500, "refunded": 0, "disputed": 0},
                }
            ],
        )
    )
    db.session.commit()
