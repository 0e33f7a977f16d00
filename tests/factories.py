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
