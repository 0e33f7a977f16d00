"""/metrics and request ids."""

from __future__ import annotations

import re

from tests.factories import make_campaign, make_donation


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} ([0-9.e+]+)$"
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_requests_cache_hits_and_donations(client) -> None:
    before = client.get("/metrics").get_data(as_text=True)
    campaign = make_campaign("southfront")
    make_donation(campaign, 500)
    path = "/api/v1/campaigns/southfront/progress"
    client.get(path)  # a miss: Flask builds it
    client.get(path)  # a hit: the fast path answers
    client.get("/api/v1/campaigns/nope/progress")
    after = client.get("/metrics").get_data(as_text=True)
    route = "/api/v1/campaigns/<slug>/progress"

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("tracker_http_requests_total", route=route, status="200") == 1
    assert grew("tracker_http_requests_total", route=route, status="404") == 1
    assert grew("tracker_fast_path_requests_total", route=route, status="200") == 1
    assert grew("tracker_widget_cache_total", result="hit") >= 1
    assert grew("tracker_donations_recorded_total", source="manual") == 1


def test_metrics_refused_to_strangers(client) -> None:
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403


def test_metrics_with_token(make_app, db) -> None:
    client = make_app(TRACKER_METRICS_TOKEN="s3cret").test_client()
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=remote).status_code == 403
    ok = client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


def test_request_id_is_echoed_or_made(client) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["X-Request-ID"])


def test_metrics_count_webhook_events_and_rollovers(client) -> None:
    from datetime import UTC, datetime

    from tests import stripe_events as se
    from tracker.rollover import run_rollover

    make_campaign("southfront")
    before = client.get("/metrics").get_data(as_text=True)
    session = se.checkout_session(
        session_id="cs_m", payment_intent="pi_m", amount=500, created=datetime.now(UTC)
    )
    evt = se.event("checkout.session.completed", session, event_id="evt_metrics")
    assert se.deliver(client, evt).status_code == 200
    assert se.deliver(client, evt).status_code == 200
    run_rollover(datetime.now(UTC))
    after = client.get("/metrics").get_data(as_text=True)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    kind = "checkout.session.completed"
    assert grew("tracker_webhook_events_total", type=kind, outcome="counted") == 1
    assert grew("tracker_webhook_events_total", type=kind, outcome="repeat") == 1
    assert grew("tracker_rollover_runs_total", result="ok") == 1


def test_log_lines_carry_the_request_id(client, capsys) -> None:
    import logging

    handler = next(h for h in logging.getLogger("tracker").handlers if getattr(h, "_tracker", 0))
    record = logging.LogRecord("tracker.test", logging.INFO, __file__, 1, "hello", None, None)
    with client.application.test_request_context(headers={"X-Request-ID": "req-42"}):
        from tracker.observability import _start

        _start()
        assert handler.filter(record)
    line = handler.format(record)
    assert "request_id=req-42" in line
    assert line.endswith("hello")


def test_metrics_show_rejected_and_stuck_events(client, monkeypatch) -> None:
    from datetime import UTC, datetime, timedelta

    import time_machine

    from tests import stripe_events as se
    from tracker import ledger

    make_campaign("southfront")
    now = datetime.now(UTC)
    found = se.payment_intent(intent_id="pi_big", amount=2**62, created=now)
    assert se.deliver(client, se.event("payment_intent.succeeded", found, event_id="evt_big"))
    monkeypatch.setattr(ledger, "apply", lambda fact, event_id, livemode: 1 / 0)
    stuck = se.payment_intent(intent_id="pi_st", amount=500, created=now)
    answer = se.deliver(client, se.event("payment_intent.succeeded", stuck, event_id="evt_st"))
    assert answer.status_code == 500
    page = client.get("/metrics").get_data(as_text=True)
    assert sample(page, "tracker_stripe_events_open", state="rejected_unseen") == 1
    assert sample(page, "tracker_stripe_events_open", state="stuck") == 0
    with time_machine.travel(now + timedelta(minutes=61)):
        later = client.get("/metrics").get_data(as_text=True)
    assert sample(later, "tracker_stripe_events_open", state="stuck") == 1
