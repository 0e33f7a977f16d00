"""POST /webhooks/stripe: verify, store once, apply (tracker.ledger does the counting).

`deliver` is the whole use case and `respond` its HTTP answer. The Flask view below calls
them; so does tracker.fastpath.FastWebhooks, which serves this route before Flask's
request machinery (sessions, logins, rate limits) that a webhook does not use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, request

from tracker import ledger, payments
from tracker.errors import error_document
from tracker.extensions import csrf, db
from tracker.observability import WEBHOOK_EVENTS

log = logging.getLogger(__name__)

PATH = "/webhooks/stripe"

webhooks = Blueprint("webhooks", __name__)
csrf.exempt(webhooks)


@dataclass(frozen=True)
class Answer:
    """What to tell Stripe: the status and the JSON document."""

    status: int
    document: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def deliver(payload: bytes, signature: str | None) -> Answer:
    """Verify one delivery, store and apply its event, and commit (needs an app context).

    Raises what the database raises (the caller rolls back and answers 5xx).
    """
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        log.error("stripe webhook refused: STRIPE_WEBHOOK_SECRET is not set")
        return Answer(503, error_document(503, "webhooks are not configured on this server"))
    try:
        event = payments.verify_event(payload, signature, secret)
        receipt = ledger.receive(event, payload.decode("utf-8"))
    except (payments.SignatureError, ledger.EventError) as exc:
        db.session.rollback()
        log.warning("stripe webhook refused: %s", exc)
        WEBHOOK_EVENTS.labels("?", "refused").inc()
        return Answer(400, error_document(400, str(exc)))
    db.session.commit()
    WEBHOOK_EVENTS.labels(
        event.get("type", "?")[:100], "repeat" if receipt.duplicate else receipt.outcome[:32]
    ).inc()
    if not receipt.applied:
        # Stored durably, not applied: a 5xx makes Stripe deliver it again.
        message = "event stored but not applied; it will be applied on redelivery"
        return Answer(500, error_document(500, message, "not_applied"))
    return Answer(
        200,
        {
            "received": True,
            "id": receipt.event_id,
            "duplicate": receipt.duplicate,
            "outcome": receipt.outcome,
        },
    )


def respond(answer: Answer) -> Response:
    """The HTTP answer: JSON as Flask writes it, never cached."""
    response = current_app.json.response(answer.document)
    response.status_code = answer.status
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(answer.headers)
    return response


@webhooks.post(PATH)
def stripe_webhook() -> Response:
    # The raw bytes Stripe signed (413 past MAX_CONTENT_LENGTH).
    return respond(deliver(request.get_data(cache=False), request.headers.get("Stripe-Signature")))
