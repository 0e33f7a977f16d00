"""Notifications (SPEC.md): written with their cause under a unique key, sent after commit on
each configured channel, retried with backoff for 24 hours, every attempt recorded.

The channels are real local servers: an HTTP receiver (tests/receivers.py) for the Slack and
signed webhooks, one that never answers, and aiosmtpd for email. Each test builds an app of
its own with the channels set, on the test database, and works inside its context.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tests import receivers
from tests import stripe_events as se
from tests.adminkit import csrf_token, log_in, make_admin
from tests.factories import make_campaign, make_donation
from tracker import notifications, services
from tracker.extensions import db as sa_db
from tracker.models import Notification, NotificationAttempt, NotificationDelivery, ReviewPayment
from tracker.rollover import run_rollover

NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)
SECRET = "whsec_notify_test"


@pytest.fixture(autouse=True)
def frozen() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOV_10, tick=False) as clock:
        yield clock


@pytest.fixture()
def hook() -> Iterator[receivers.HttpReceiver]:
    with receivers.http_receiver() as receiver:
        yield receiver


@pytest.fixture()
def slack() -> Iterator[receivers.HttpReceiver]:
    with receivers.http_receiver() as receiver:
        yield receiver


@pytest.fixture()
def notifying(make_app, db, hook, slack):
    """An app that notifies on the signed webhook and Slack; its context is pushed."""
    one = make_app(
        TRACKER_NOTIFY_WEBHOOK_URL=hook.url,
        TRACKER_NOTIFY_WEBHOOK_SECRET=SECRET,
        TRACKER_NOTIFY_SLACK_URL=slack.url,
        TRACKER_NOTIFY_TIMEOUT_S=0.3,
    )
    with one.app_context():
        yield one


def written(kind: str | None = None) -> list[Notification]:
    sa_db.session.expire_all()
    query = select(Notification).order_by(Notification.id)
    if kind:
        query = query.where(Notification.kind == kind)
    return list(sa_db.session.scalars(query))


def verify(received: receivers.Received) -> dict:
    """Check Tracker-Signature as a receiver would (README's snippet does the same)."""
    header = dict(part.split("=", 1) for part in received.headers["Tracker-Signature"].split(","))
    signed = f"{header['t']}.".encode() + received.body
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, header["v1"])
    return received.json


# --- what makes one -----------------------------------------------------------------


def test_a_manual_donation_that_crosses_a_milestone_notifies_once(notifying, hook, slack):
    campaign = make_campaign("southfront")  # milestones 0, 2,500 $, 5,000 $
    make_donation(campaign, 240000)
    assert written() == []
    make_donation(campaign, 20000)  # 2,600 $: past 2,500 $
    make_donation(campaign, 1000)  # still past it: nothing new
    [note] = written()
    assert note.kind == "milestone_reached"
    assert notifications.send_due(services.now()) == (2, 0)
    [posted] = hook.received
    document = verify(posted)
    assert document == {
        "id": note.public_id,
        "type": "milestone_reached",
        "created": int(NOV_10.timestamp()),
        "campaign": "southfront",
        "data": {
            "month": "2026-11",
            "milestone": {"amount_minor": 250000, "display": "2,500 $"},
            "raised": {"amount_minor": 260000, "display": "2,600 $"},
        },
    }
    assert slack.received[0].json == {
        "text": "Support us passed 2,500 $ for November 2026: 2,600 $ raised so far."
    }
    assert notifications.send_due(services.now()) == (0, 0)  # sent once


def test_one_donation_past_two_milestones_makes_two(notifying) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 600000)
    assert sorted(n.data["milestone"] for n in written()) == [250000, 500000]


def test_the_goal_has_its_own_words_in_the_campaigns_language(notifying, slack) -> None:
    campaign = make_campaign("berlin", currency="EUR", locale="de", milestones=[0, 100000])
    make_donation(campaign, 120000)
    notifications.send_due(services.now())
    text = slack.received[0].json["text"]
    assert "1.000 €" in text and "1.200 €" in text and "November 2026" in text
    assert "goal" not in text and "raised" not in text  # German, not English


def test_a_refund_under_a_milestone_and_a_new_crossing_make_no_second(notifying) -> None:
    campaign = make_campaign("southfront")
    donation = make_donation(campaign, 260000)
    services.adjust_donation(donation, refunded_minor=20000)  # back to 2,400 $
    sa_db.session.commit()
    make_donation(campaign, 30000)  # 2,700 $: over it again, by another total
    assert [n.data["milestone"] for n in written()] == [250000]


def test_a_new_crossing_days_later_makes_no_second(notifying, frozen) -> None:
    """Once a month per milestone, whenever and by whatever event it is crossed again."""
    campaign = make_campaign("southfront")
    donation = make_donation(campaign, 260000)
    services.adjust_donation(donation, refunded_minor=20000)  # back to 2,400 $
    sa_db.session.commit()
    frozen.shift(timedelta(days=3))  # another day and another event, the same month
    make_donation(campaign, 20000)  # 2,600 $ again
    assert [n.data["milestone"] for n in written()] == [250000]


def test_an_admin_assignment_from_review_can_cross_one(notifying) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 240000)
    payment = se.payment_intent(intent_id="pi_rev", amount=20000, created=NOV_10, campaign=None)
    evt = se.event("payment_intent.succeeded", payment, event_id="evt_rev")
    evt["data"]["object"]["metadata"] = {"campaign": "nope"}
    notifying.test_client().post(
        "/webhooks/stripe", data=se.body(evt), headers={"Stripe-Signature": se.sign(se.body(evt))}
    )
    assert [n.kind for n in written()] == ["review_needed"]
    review = sa_db.session.scalar(select(ReviewPayment))
    from tracker import admin_services

    admin_services.assign_review(review, campaign, "ada@example.org")
    sa_db.session.commit()
    assert [n.kind for n in written()] == ["review_needed", "milestone_reached"]


def test_a_closed_month_says_its_total(notifying, slack, frozen) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 123400)
    frozen.move_to(datetime(2026, 12, 1, 0, 10, tzinfo=UTC))
    run_rollover(services.now())
    run_rollover(services.now())  # a second run closes nothing, writes nothing
    [closed] = written("month_closed")
    assert closed.data == {"month": "2026-11", "raised": 123400, "goal": 500000}
    notifications.send_due(services.now())
    assert slack.received[-1].json["text"] == (
        "Support us closed November 2026 with 1,234 $ of its 5,000 $ goal."
    )


def test_review_needed_once_however_often_stripe_delivers(notifying, hook) -> None:
    make_campaign("southfront")
    client = notifying.test_client()
    for event_id in ("evt_a", "evt_a", "evt_b"):  # a repeat, and another event of one payment
        cs = se.checkout_session(
            session_id="cs_eur", payment_intent="pi_eur", amount=900, created=NOV_10, currency="eur"
        )
        evt = se.event("checkout.session.completed", cs, event_id=event_id)
        assert se.deliver(client, evt).status_code == 200
    [note] = written()
    assert (note.kind, note.data["reason"], note.data["stripe_id"]) == (
        "review_needed",
        "currency",
        "pi_eur",
    )
    notifications.send_due(services.now())
    assert verify(hook.received[0])["data"]["amount"] == {"amount_minor": 900, "display": "9 €"}


def test_a_campaign_chooses_its_kinds(notifying) -> None:
    campaign = make_campaign("southfront", notify_kinds=["month_closed"])
    make_donation(campaign, 600000)
    assert written() == []


# --- sending ----------------------------------------------------------------------


def test_500_then_200_sends_the_same_id_twice_and_records_both(notifying, hook, frozen) -> None:
    campaign = make_campaign("southfront")
    hook.statuses.extend([500])
    make_donation(campaign, 260000)
    assert notifications.send_due(services.now()) == (1, 0)  # Slack took it; the hook did not
    frozen.shift(timedelta(seconds=59))
    assert notifications.send_due(services.now()) == (0, 0)  # not before a minute
    frozen.shift(timedelta(seconds=1))
    assert notifications.send_due(services.now()) == (1, 0)
    first, second = (verify(r) for r in hook.received)
    assert first["id"] == second["id"] == written()[0].public_id
    delivery = sa_db.session.scalar(
        select(NotificationDelivery).where(NotificationDelivery.channel == "webhook")
    )
    tries = sa_db.session.scalars(
        select(NotificationAttempt).where(NotificationAttempt.delivery_id == delivery.id)
    ).all()
    assert [(t.ok, t.detail) for t in tries] == [(False, "answered 500"), (True, "answered 200")]
    assert (delivery.status, delivery.attempts) == ("sent", 2)


def test_a_receiver_that_never_answers_is_given_up_after_24_hours(make_app, db, frozen) -> None:
    with receivers.silent_receiver() as url:
        one = make_app(
            TRACKER_NOTIFY_WEBHOOK_URL=url,
            TRACKER_NOTIFY_WEBHOOK_SECRET=SECRET,
            TRACKER_NOTIFY_TIMEOUT_S=0.05,
        )
        with one.app_context():
            campaign = make_campaign("southfront")
            make_donation(campaign, 260000)
            waits = []
            last = services.now()
            for _ in range(100):
                sent, given_up = notifications.send_due(services.now())
                if given_up:
                    break
                delivery = sa_db.session.scalar(select(NotificationDelivery))
                waits.append(delivery.next_attempt_at - last)
                last = delivery.next_attempt_at
                frozen.move_to(delivery.next_attempt_at)
            delivery = sa_db.session.scalar(select(NotificationDelivery))
    assert delivery.status == "failed"
    assert "no answer" in delivery.last_error
    minutes = [w.total_seconds() / 60 for w in waits]
    assert minutes[:7] == [1, 2, 4, 8, 16, 32, 60]  # doubling, then at most an hour
    assert services.now() - NOV_10 <= timedelta(hours=24)
    assert services.now() - NOV_10 > timedelta(hours=22)
    assert delivery.attempts == len(waits) + 1


def test_email_goes_through_smtp_with_its_login(make_app, db) -> None:
    with receivers.smtp_server() as box:
        one = make_app(TRACKER_NOTIFY_EMAIL_TO="desk@news.example", TRACKER_SMTP_URL=box.url)
        with one.app_context():
            campaign = make_campaign("southfront")
            make_donation(campaign, 260000)
            assert notifications.send_due(services.now()) == (1, 0)
    [mail] = box.messages
    assert box.logins == [("news", "s3cret")]
    assert mail["To"] == "desk@news.example"
    assert mail["Subject"] == "Support us: milestone reached"
    assert "passed 2,500 $ for November 2026" in mail.get_content()


def test_an_smtp_server_away_is_retried(make_app, db) -> None:
    one = make_app(
        TRACKER_NOTIFY_EMAIL_TO="desk@news.example", TRACKER_SMTP_URL="smtp://127.0.0.1:9"
    )
    with one.app_context():
        campaign = make_campaign("southfront")
        make_donation(campaign, 260000)
        assert notifications.send_due(services.now()) == (0, 0)
        delivery = sa_db.session.scalar(select(NotificationDelivery))
        assert delivery.status == "pending" and delivery.last_error.startswith("SMTP:")


def test_without_a_channel_it_is_listed_not_sent(client) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 260000)
    [note] = written()
    assert note.deliveries == []
    assert notifications.send_due(services.now()) == (0, 0)
    make_admin()
    log_in(client)
    html = client.get("/admin/notifications").get_data(as_text=True)
    assert "milestone reached" in html and "Not sent: no channel was set" in html
    german = {"Accept-Language": "de"}
    html = client.get("/admin/notifications", headers=german).get_data(as_text=True)
    assert "Nicht gesendet: kein Kanal war eingerichtet" in html


# --- admin and command line -----------------------------------------------------------


def test_admin_lists_them_and_sends_one_again(notifying, hook) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 260000)
    notifications.send_due(services.now())
    make_admin()
    client = notifying.test_client()
    log_in(client)
    html = client.get("/admin/notifications").get_data(as_text=True)
    assert "milestone reached" in html and "webhook: sent" in html
    assert "Support us passed 2,500 $" in html
    note = written()[0]
    url = f"/admin/notifications/{note.id}/send"
    assert client.post(url).status_code == 400  # no CSRF token
    token = csrf_token(client, "/admin/notifications")
    response = client.post(url, data={"csrf_token": token})
    assert response.status_code == 303
    assert len(hook.received) == 2 and verify(hook.received[1])["id"] == note.public_id
    from tracker.models import AuditEntry

    assert sa_db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == (
        "notification_resent"
    )


def test_cli_sends_what_is_due(notifying, hook) -> None:
    campaign = make_campaign("southfront")
    make_donation(campaign, 260000)
    result = notifying.test_cli_runner().invoke(args=["tracker", "send-notifications"])
    assert result.exit_code == 0 and result.output == "sent 2, given up 0\n"
    assert len(hook.received) == 1


def test_the_readmes_verify_snippet_accepts_ours_and_refuses_a_changed_body(
    notifying, hook
) -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    code = "\n".join(line[2:] if line.startswith("  ") else line for line in code.splitlines())
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # the snippet, as a reader copies it
    campaign = make_campaign("southfront")
    make_donation(campaign, 260000)
    notifications.send_due(services.now())
    [posted] = hook.received
    header = posted.headers["Tracker-Signature"]
    assert scope["verify"](posted.body, header, SECRET) is True
    assert scope["verify"](posted.body + b" ", header, SECRET) is False
    assert scope["verify"](posted.body, header, "another secret") is False
