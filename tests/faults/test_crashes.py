"""kill -9 in the middle of webhook bursts and of the rollover: nothing lost, nothing doubled.

Each test runs real processes against the test database (SQLite, or PostgreSQL with
TEST_DATABASE_URL): gunicorn for webhooks, `flask tracker rollover` for the job.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select, text

from tests import stripe_events as se
from tests.factories import make_campaign
from tests.servers import ROOT, Gunicorn, server_env, wait_until
from tracker import services
from tracker.extensions import db as sa_db
from tracker.models import Period

pytestmark = pytest.mark.slow

NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)
PAYMENTS = 60


def payment_events(rng: random.Random) -> tuple[list[dict], int]:
    """Events for PAYMENTS payments (checkout + PaymentIntent, some refunded); expected net."""
    events, net = [], 0
    for i in range(PAYMENTS):
        amount = rng.randrange(100, 50_000)
        pi = f"pi_crash_{i}"
        session = se.checkout_session(
            session_id=f"cs_crash_{i}", payment_intent=pi, amount=amount, created=NOV_10
        )
        events.append(se.event("checkout.session.completed", session, event_id=f"evt_cs_{i}"))
        intent = se.payment_intent(intent_id=pi, amount=amount, created=NOV_10)
        events.append(se.event("payment_intent.succeeded", intent, event_id=f"evt_pi_{i}"))
        refunded = rng.choice([0, 0, 0, amount // 3, amount])
        if refunded:
            charge = se.charge(
                charge_id=f"ch_crash_{i}", payment_intent=pi, amount=amount,
                amount_refunded=refunded, created=NOV_10,
            )  # fmt: skip
            events.append(se.event("charge.refunded", charge, event_id=f"evt_ch_{i}"))
        net += amount - refunded
    rng.shuffle(events)
    return events, net


def post(base: str, evt: dict) -> int | None:
    """Deliver one event as Stripe would; None when the server was not there to answer."""
    payload = se.body(evt)
    try:
        return requests.post(
            base + "/webhooks/stripe",
            data=payload,
            headers={"Stripe-Signature": se.sign(payload), "Content-Type": "application/json"},
            timeout=30,
        ).status_code
    except requests.RequestException:
        return None


def start_slow_delivery(base: str, evt: dict) -> tuple[socket.socket, bytes]:
    """Send an event's headers and half its body, as a slow network would; the other half."""
    payload = se.body(evt)
    host, port = base.removeprefix("http://").split(":")
    head = (
        f"POST /webhooks/stripe HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nStripe-Signature: {se.sign(payload)}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    client = socket.create_connection((host, int(port)), timeout=30)
    half = len(payload) // 2
    client.sendall(head.encode() + payload[:half])
    return client, payload[half:]


def finish_slow_delivery(client: socket.socket, rest: bytes) -> int | None:
    """Send the rest of the body; the status answered, or None when nobody answered."""
    try:
        client.sendall(rest)
        answer = client.recv(64)
    except OSError:
        return None
    finally:
        client.close()
    status = answer.split(b" ", 2)[1:2]
    return int(status[0]) if status else None


def november(database_url: str) -> tuple[int, int]:
    engine = create_engine(services_url(database_url))
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT raised_minor, donations FROM periods WHERE year = 2026 AND month = 11")
        ).one()
    engine.dispose()
    return int(row[0]), int(row[1])


def services_url(url: str) -> str:
    from config import normalize_database_url

    return normalize_database_url(url)


def test_kill_workers_and_server_mid_burst_then_redeliver(database_url, db, tmp_path) -> None:
    make_campaign("southfront")
    events, expected_net = payment_events(random.Random(7))
    server = Gunicorn(server_env(database_url, tmp_path), workers=2)
    answers: list[int | None] = []
    try:
        server.start()
        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(post, server.base, evt) for evt in events]

            def answered(n: int) -> Callable[[], bool]:
                return lambda: sum(f.done() for f in futures) >= n

            wait_until(answered(10), what="the first answers")
            # One worker dies mid-burst, surely in the middle of a delivery: it is killed
            # while it reads a body that arrives slowly. The master replaces it.
            slow, rest = start_slow_delivery(server.base, events[0])
            reader = wait_until(lambda: server.worker_holding(slow), what="a worker reading")
            before = set(server.worker_pids())
            os.kill(reader, signal.SIGKILL)
            slow_answer = finish_slow_delivery(slow, rest)
            wait_until(lambda: len(set(server.worker_pids()) - before) >= 1, what="a new worker")
            wait_until(answered(20), what="answers from the new worker")
            server.kill_worker()
            wait_until(answered(30), what="more answers")
            server.kill_all()  # then the whole server, with deliveries still in flight
            server.start()  # waits until it answers /healthz
            answers = [slow_answer, *(f.result() for f in futures)]
        # Stripe redelivers every event it did not see answered 2xx; we redeliver them all.
        redelivered = [post(server.base, evt) for evt in events]
    finally:
        server.close()
    assert all(code is not None and code < 300 for code in redelivered), redelivered
    assert slow_answer is None, "the worker killed while reading should have cost its delivery"
    refused = sum(1 for code in answers if code is None or code >= 300)
    assert refused > 0, "the kills should have cost some deliveries (else nothing was tested)"
    raised, count = november(database_url)
    assert (raised, count) == (expected_net, PAYMENTS)
    sa_db.session.expire_all()
    assert services.verify() == []


def test_rollover_killed_midway_then_rerun(database_url, db, tmp_path) -> None:
    campaigns = 150
    october = datetime(2026, 10, 15, tzinfo=UTC)
    for i in range(campaigns):
        campaign = make_campaign(f"c{i:03d}")
        services.period_for(campaign, october)
    sa_db.session.commit()
    env = server_env(database_url, tmp_path)
    command = [
        str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "tracker", "rollover",
        "--now", "2026-11-01T00:05:00+00:00",
    ]  # fmt: skip
    engine = create_engine(services_url(database_url))

    def closed() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM periods WHERE closed")).scalar())

    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    while closed() == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    at_kill = closed()
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    engine.dispose()
    sa_db.session.expire_all()
    rows = sa_db.session.execute(select(Period)).scalars().all()
    octobers = [p for p in rows if p.month == 10]
    novembers = [p for p in rows if p.month == 11]
    assert len(octobers) == campaigns and all(p.closed for p in octobers)
    assert all(p.closed_raised_minor == p.raised_minor == 0 for p in octobers)
    assert len(novembers) == campaigns and not any(p.closed for p in novembers)
    # Each October was closed once: the rerun closed exactly the ones the kill left open.
    assert 0 < at_kill < campaigns, f"the kill did not land mid-way ({at_kill} closed)"
    closed_by_rerun = [line for line in again.stdout.splitlines() if line.startswith("closed ")]
    assert len(closed_by_rerun) == campaigns - at_kill
    count = sa_db.session.execute(
        select(func.count()).select_from(Period).where(Period.closed.is_(True))
    ).scalar_one()
    assert count == campaigns
