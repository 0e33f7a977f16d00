"""POST /webhooks/stripe: Stripe's signed events, into the inbox (tracker.inbox)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from tracker import inbox
from tracker.extensions import csrf

webhooks = Blueprint("webhooks", __name__)
csrf.exempt(webhooks)


@webhooks.post("/webhooks/stripe")
def stripe_webhook() -> Response:
    # The raw bytes Stripe signed (413 past MAX_CONTENT_LENGTH).
    answer = inbox.deliver(request.get_data(cache=False), request.headers.get("Stripe-Signature"))
    response = current_app.json.response(answer.document)
    response.status_code = answer.status
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(answer.headers)
    return response
