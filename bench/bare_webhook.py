"""Baseline for bench/webhooks.py: the least a Flask app can do with a Stripe webhook.

POST /webhooks/stripe verifies the Stripe-Signature header with the stripe library
(300 s tolerance, STRIPE_WEBHOOK_SECRET), parses the body, inserts the raw event into
`bare_stripe_events` with INSERT ... ON CONFLICT DO NOTHING, commits and answers 200 JSON;
400 for a bad signature or body. No ORM, no locks, no counting: one statement and a commit
per event through SQLAlchemy Core and its default pool (the one tracker gets), on
DATABASE_URL, the database tracker uses.
GET /healthz answers 200 so the benchmark knows the server is up. bench/webhooks.py creates
the table (SCHEMA) before it starts the server.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import stripe
from flask import Flask, Response, jsonify, request
from sqlalchemy import create_engine, text

SCHEMA = """
CREATE TABLE IF NOT EXISTS bare_stripe_events (
    id VARCHAR(255) PRIMARY KEY,
    type VARCHAR(100) NOT NULL,
    livemode BOOLEAN NOT NULL,
    created BIGINT,
    payload TEXT NOT NULL,
    received_at TIMESTAMP WITH TIME ZONE NOT NULL
)
"""

INSERT = text(
    "INSERT INTO bare_stripe_events (id, type, livemode, created, payload, received_at) "
    "VALUES (:id, :type, :livemode, :created, :payload, :received_at) "
    "ON CONFLICT (id) DO NOTHING"
)

SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
TOLERANCE_S = 300

app = Flask(__name__)
# (Imported by bench/webhooks.py for SCHEMA alone, without a DATABASE_URL: nothing connects.)
engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))  # the pool tracker gets


@app.post("/webhooks/stripe")
def stripe_webhook() -> tuple[Response, int]:
    payload = request.get_data(as_text=True)
    try:
        stripe.WebhookSignature.verify_header(
            payload, request.headers.get("Stripe-Signature", ""), SECRET, TOLERANCE_S
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        return jsonify(error=str(exc)), 400
    with engine.begin() as conn:
        inserted = conn.execute(
            INSERT,
            {
                "id": event["id"],
                "type": event["type"],
                "livemode": bool(event.get("livemode")),
                "created": event.get("created"),
                "payload": payload,
                "received_at": datetime.now(UTC),
            },
        ).rowcount
    return jsonify(received=True, id=event["id"], duplicate=inserted == 0), 200


@app.get("/healthz")
def healthz() -> Response:
    return jsonify(ok=True)
