"""POST /webhooks/stripe: Stripe's signed events, into the inbox (tracker.inbox)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from tracker import inbox
from tracker.extensions import csrf

webhooks = Blueprint("webhooks", __name__)
csrf.exempt(webhooks)


def _body() -> bytes:
    """The raw bytes Stripe signed; 413 past MAX_CONTENT_LENGTH, with a length or chunked.

    Werkzeug's stream stops quietly at the limit for a chunked body, which would then fail
    its signature as a cut body: reaching the limit is 413 here instead.
    """
    limit: int = current_app.config["MAX_CONTENT_LENGTH"]
    stream = request.stream  # a Content-Length over the limit raises 413 already
    data = stream.read(limit)
    if len(data) >= limit and stream.read(1):
        raise RequestEntityTooLarge()
    return data


@webhooks.post("/webhooks/stripe")
def stripe_webhook() -> Response:
    answer = inbox.deliver(_body(), request.headers.get("Stripe-Signature"))
    response = jsonify(answer.document)
    response.status_code = answer.status
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(answer.headers)
    return response
