"""Both production servers serve the whole app: granian (recommended) and gunicorn."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime

import pytest
import requests

from tests import stripe_events as se
from tests.factories import make_campaign, make_donation
from tests.servers import granian, gunicorn, server_env

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def serve(kind: str, env: dict[str, str]):
    if kind == "gunicorn":
        with gunicorn(env, workers=2) as server:
            yield server.base
    else:
        with granian(env, workers=2) as base:
            yield base


@pytest.mark.parametrize("kind", ["granian", "gunicorn"])
def test_server_serves_reads_pages_and_webhooks(kind, database_url, db, tmp_path) -> None:
    make_donation(make_campaign("southfront"), 218000)
    with serve(kind, server_env(database_url, tmp_path)) as base:
        progress = requests.get(base + "/api/v1/campaigns/southfront/progress", timeout=10)
        assert progress.status_code == 200
        assert progress.json()["raised"]["display"] == "2,180 $"
        etag = progress.headers["ETag"]
        again = requests.get(
            base + "/api/v1/campaigns/southfront/progress",
            headers={"If-None-Match": etag},
            timeout=10,
        )
        assert again.status_code == 304
        page = requests.get(base + "/embed/southfront?theme=dark", timeout=10)
        assert page.status_code == 200 and "2,180 $" in page.text
        assert requests.get(base + "/embed/southfront.svg", timeout=10).status_code == 200
        assert requests.get(base + "/embed/southfront?theme=pink", timeout=10).status_code == 400
        assert requests.get(base + "/donate/southfront", timeout=10).status_code == 200
        login = requests.get(base + "/admin/", timeout=10, allow_redirects=False)
        assert login.status_code in (302, 303)
        session = se.checkout_session(
            session_id="cs_srv", payment_intent="pi_srv", amount=100, created=datetime.now(UTC)
        )
        payload = se.body(se.event("checkout.session.completed", session, event_id="evt_srv"))
        hook = requests.post(
            base + "/webhooks/stripe",
            data=payload,
            headers={"Stripe-Signature": se.sign(payload), "Content-Type": "application/json"},
            timeout=10,
        )
        assert hook.status_code == 200
        for _ in range(40):  # the other worker may need its one-second poll
            body = requests.get(base + "/api/v1/campaigns/southfront/progress", timeout=10)
            if body.json()["raised"]["amount_minor"] == 218100:
                break
            time.sleep(0.05)
        assert body.json()["raised"]["amount_minor"] == 218100
