"""Small factories for rows that tests need."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tracker import services
from tracker.extensions import db
from tracker.models import Campaign, Donation


def make_campaign(slug: str = "southfront", **overrides: Any) -> Campaign:
    values: dict[str, Any] = {
        "name": "Support us",
        "currency": "USD",
        "milestones": [0, 250000, 500000],
        "timezone": "UTC",
        "locale": "en",
    }
    values.update(overrides)
    campaign = services.create_campaign(slug, **values)
    db.session.commit()
    return campaign


def make_donation(
    campaign: Campaign, amount_minor: int, received_at: datetime | None = None, **kw: Any
) -> Donation:
    donation = services.record_donation(
        campaign,
        amount_minor=amount_minor,
        received_at=received_at or services.now(),
        source=kw.pop("source", "manual"),
        **kw,
    )
    db.session.commit()
    return donation


def make_supporters(campaign: Campaign, count: int, monthly_minor: int = 1000) -> None:
    """`count` active monthly supporters of the campaign, as rows (for pages that show them;
    tests/test_supporters.py sends the events that make them)."""
    from tracker.models import Subscription

    db.session.add_all(
        Subscription(
            subscription_id=f"sub_made_{campaign.id}_{k}",
            campaign_id=campaign.id,
            campaign_slug=campaign.slug,
            status="active",
            monthly_minor=monthly_minor,
            currency=campaign.currency,
        )
        for k in range(count)
    )
    services.touch(campaign)
    db.session.commit()
