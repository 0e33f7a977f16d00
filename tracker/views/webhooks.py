"""POST /webhooks/stripe: verify, store once, apply (tracker.ledger does the counting)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request

from tracker import ledger, payments
from tracker.errors import error_response
from tracker.extensions import csrf, db
from tracker.observability import WEBHOOK_EVENTS

log = logging.getLogger(__name__)

webhooks = Blueprint("webhooks", __name__)
csrf.exempt(webhooks)


@webhooks.post("/webhooks/stripe")
def stripe_webhook() -> Response:
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        log.error("stripe webhook refused: STRIPE_WEBHOOK_SECRET is not set")
        return error_response(503, "webhooks are not configured on this server")
    payload = request.get_data(cache=False)  # the raw bytes Stripe signed (413 past 1 MiB)
    try:
        event = payments.verify_event(payload, request.headers.get("Stripe-Signature"), secret)
        receipt = ledger.receive(event, payload.decode("utf-8"))
    except (payments.SignatureError, ledger.EventError) as exc:
        db.session.rollback()
        log.warning("stripe webhook refused: %s", exc)
        WEBHOOK_EVENTS.labels("?", "refused").inc()
        return error_response(400, str(exc))
    db.session.commit()
    WEBHOOK_EVENTS.labels(
        event.get("type", "?")[:100], "repeat" if receipt.duplicate else receipt.outcome[:32]
    ).inc()
    if not receipt.applied:
        # Stored durably, not applied: a 5xx makes Stripe deliver it again.
        return error_response(
            500, "event stored but not applied; it will be applied on redelivery", "not_applied"
        )
    body = jsonify(
        {
            "received": True,
            "id": receipt.event_id,
            "duplicate": receipt.duplicate,
            "outcome": receipt.outcome,
        }
    )
    body.headers["Cache-Control"] = "no-store"
    return body
