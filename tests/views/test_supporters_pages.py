"""What monthly supporters show: the widget line, the admin pages and settings, and the
donor's own way to manage a monthly donation (thanks page → Stripe's customer portal).

Stripe's API is the stand-in of tests/stripe_api.py; each test asserts what it received.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests import stripe_events as se
from tests.adminkit import csrf_token, log_in, make_admin
from tests.factories import make_campaign, make_donation
from tracker import services
from tracker.extensions import db as sa_db

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
NOV_28 = datetime(2026, 11, 28, 9, tzinfo=UTC)
DEC_20 = datetime(2026, 12, 20, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture()
def southfront(db):
    return make_campaign("southfront")


def subscribe(client, n: int, *, amount: int = 1000, status: str = "active", **kw) -> None:
    for k in range(n):
        obj = se.subscription(
            subscription_id=f"sub_{status}_{k}",
            amount=amount,
            created=NOW - timedelta(days=30),
            period_end=kw.get("period_end", NOV_28),
            status=status,
            **{key: v for key, v in kw.items() if key != "period_end"},
        )
        evt = se.event(
            "customer.subscription.created", obj, event_id=f"evt_{status}_{k}", created=NOW
        )
        assert se.deliver(client, evt).status_code == 200


def show_supporters(campaign, on: bool = True) -> None:
    services.edit_campaign(campaign, NOW, show_supporters=on)
    sa_db.session.commit()


# --- the widget line -----------------------------------------------------------


def test_the_widget_shows_supporters_only_when_the_campaign_asks(client, southfront) -> None:
    subscribe(client, 57)
    assert "MONTHLY SUPPORTERS" not in client.get("/embed/southfront").get_data(as_text=True)
    show_supporters(southfront)
    html = client.get("/embed/southfront").get_data(as_text=True)
    svg = client.get("/embed/southfront.svg").get_data(as_text=True)
    assert '<span class="sp">57 MONTHLY SUPPORTERS</span>' in html
    assert ">57 MONTHLY SUPPORTERS</text>" in svg
    assert 'height="140"' in svg  # one line taller


def test_no_line_while_nobody_gives_monthly(client, southfront) -> None:
    show_supporters(southfront)
    assert 'class="sp"' not in client.get("/embed/southfront").get_data(as_text=True)


@pytest.mark.parametrize(
    ("lang", "count", "line"),
    [
        ("en", 1, "1 MONTHLY SUPPORTER"),
        ("de", 2, "2 MONATLICHE UNTERSTÜTZER"),
        ("ru", 1, "1 ЕЖЕМЕСЯЧНЫЙ СТОРОННИК"),
        ("ru", 3, "3 ЕЖЕМЕСЯЧНЫХ СТОРОННИКА"),
        ("ru", 5, "5 ЕЖЕМЕСЯЧНЫХ СТОРОННИКОВ"),
        ("ar", 2, "داعمان شهريان"),
    ],
)
def test_the_line_follows_each_languages_plural_rules(client, southfront, lang, count, line):
    subscribe(client, count)
    show_supporters(southfront)
    html = client.get(f"/embed/southfront?lang={lang}").get_data(as_text=True)
    found = re.search(r'<span class="sp">([^<]+)</span>', html)
    assert found is not None
    assert line in found.group(1)


def test_a_new_supporter_shows_at_once(client, southfront) -> None:
    show_supporters(southfront)
    subscribe(client, 1)
    assert "1 MONTHLY SUPPORTER<" in client.get("/embed/southfront").get_data(as_text=True)
    subscribe(client, 2, status="past_due")
    assert "3 MONTHLY SUPPORTERS" in client.get("/embed/southfront").get_data(as_text=True)


def test_the_snippets_make_room_for_the_line(client, southfront) -> None:
    from tracker import embeds

    plain = embeds.snippets("https://t.example", southfront, embeds.WidgetOptions())
    show_supporters(southfront)
    taller = embeds.snippets("https://t.example", southfront, embeds.WidgetOptions())
    assert "height:180px" in plain["iframe"] and "height:200px" in taller["iframe"]
    assert 'height="124"' in plain["image"] and 'height="140"' in taller["image"]


# --- the setting -----------------------------------------------------------------


def test_cli_turns_the_line_on_and_off(runner, southfront) -> None:
    result = runner.invoke(
        args=["tracker", "edit-campaign", "southfront", "--show-supporters", "yes"]
    )
    assert result.exit_code == 0, result.output
    sa_db.session.expire_all()
    assert services.require_campaign("southfront").show_supporters is True
    result = runner.invoke(
        args=["tracker", "edit-campaign", "southfront", "--show-supporters", "no"]
    )
    assert result.exit_code == 0
    sa_db.session.expire_all()
    assert services.require_campaign("southfront").show_supporters is False


def test_cli_refuses_anything_but_yes_or_no(runner, southfront) -> None:
    result = runner.invoke(
        args=["tracker", "edit-campaign", "southfront", "--show-supporters", "maybe"]
    )
    assert result.exit_code != 0
    assert "maybe" in result.output and "Traceback" not in result.output


def test_admin_form_sets_it(client, southfront) -> None:
    make_admin()
    log_in(client)
    page = client.get("/admin/campaigns/southfront").get_data(as_text=True)
    assert 'type="checkbox"' in page and 'name="show_supporters"' in page
    data = {
        "csrf_token": csrf_token(client, "/admin/campaigns/southfront"),
        "name": "Support us",
        "timezone": "UTC",
        "locale": "en",
        "milestones": "0,2500,5000",
        "show_supporters": "y",
    }
    response = client.post("/admin/campaigns/southfront", data=data)
    assert response.status_code == 303
    sa_db.session.expire_all()
    assert services.require_campaign("southfront").show_supporters is True
    del data["show_supporters"]
    data["csrf_token"] = csrf_token(client, "/admin/campaigns/southfront")
    assert client.post("/admin/campaigns/southfront", data=data).status_code == 303
    sa_db.session.expire_all()
    assert services.require_campaign("southfront").show_supporters is False


# --- the admin pages -------------------------------------------------------------


def test_overview_and_months_show_raised_due_expected(client, southfront) -> None:
    make_donation(southfront, 100000)
    subscribe(client, 3, amount=2000)  # renews on the 28th: due
    subscribe(client, 1, amount=5000, status="past_due", period_end=DEC_20)  # not due
    make_admin()
    log_in(client)
    for url in ("/admin/", "/admin/months?campaign=southfront"):
        html = client.get(url).get_data(as_text=True)
        figures = re.findall(r"<dt>.*?</dt><dd[^>]*>([^<]+)</dd>", html)
        assert figures[:3] == ["1,000 $", "60 $", "1,060 $"], url
        assert "4 monthly supporters pledge 110 $ a month." in html
        # The bar: raised 1,000 of 5,000 (200‰) then 60 due (12‰), lighter.
        assert '<rect class="seg-raised" width="200" height="12"/>' in html
        assert '<rect class="seg-due" x="200" width="12" height="12"/>' in html


def test_supporters_page_lists_supporters_cancellations_and_failures(client, southfront) -> None:
    subscribe(client, 1, amount=2500)
    late = se.subscription(
        subscription_id="sub_late",
        amount=1200,
        created=NOW - timedelta(days=40),
        period_end=NOV_28,
        status="past_due",
    )
    failed_at = NOW - timedelta(days=2)
    inv = se.failed_invoice(
        invoice_id="in_late", subscription_id="sub_late", amount_due=1200, created=failed_at
    )
    se.deliver(client, se.event("invoice.payment_failed", inv, event_id="evt_f", created=failed_at))
    se.deliver(
        client, se.event("customer.subscription.updated", late, event_id="evt_l", created=failed_at)
    )
    gone = se.subscription(
        subscription_id="sub_gone",
        amount=900,
        created=NOW - timedelta(days=60),
        status="canceled",
        canceled_at=NOW - timedelta(days=1),
        cancellation_reason="cancellation_requested",
    )
    se.deliver(
        client, se.event("customer.subscription.deleted", gone, event_id="evt_g", created=NOW)
    )
    make_admin()
    log_in(client)
    html = client.get("/admin/supporters?campaign=southfront").get_data(as_text=True)
    supporters = html.split('id="supporters"')[1].split("</table>")[0]
    assert supporters.index("sub_active_0") < supporters.index("sub_late")  # largest first
    assert '<strong class="past-due">payment failed</strong> 11/22/26, 12:00\u202fPM' in supporters
    assert "due this month" in supporters
    cancelled = html.split('id="cancelled"')[1].split("</table>")[0]
    assert "sub_gone" in cancelled and "cancelled by the donor" in cancelled
    failed = html.split('id="failed"')[1].split("</table>")[0]
    assert "sub_late" in failed and "12 $" in failed and "Stripe retries" in failed
    assert "dashboard.stripe.com/test/subscriptions/sub_late" in html


def test_review_page_lists_subscriptions_kept_for_review(client, southfront) -> None:
    obj = se.subscription(
        subscription_id="sub_eur", amount=1000, created=NOW, currency="eur", period_end=NOV_28
    )
    se.deliver(
        client, se.event("customer.subscription.created", obj, event_id="evt_e", created=NOW)
    )
    make_admin()
    log_in(client)
    html = client.get("/admin/review").get_data(as_text=True)
    section = html.split('id="subscriptions"')[1].split("</table>")[0]
    assert "sub_eur" in section and "other currency" in section and "EUR" in section


# --- managing a monthly donation ----------------------------------------------------


def finished_session(stripe_api, session_id: str = "cs_test_month1", **changes) -> None:
    """Stripe's Checkout Session as the stand-in serves it at /v1/checkout/sessions/<id>."""
    session = se.example("checkout.session")
    session.update(
        id=session_id,
        mode="subscription",
        status="complete",
        payment_status="paid",
        customer="cus_test_42",
        created=int((NOW - timedelta(minutes=3)).timestamp()),
        metadata={"campaign": "southfront"},
    )
    session.update(changes)
    stripe_api.objects[session_id] = session


def thanks_form(client, query: str) -> tuple[str, dict[str, str]]:
    html = client.get(f"/donate/southfront/thanks{query}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    session = re.search(r'name="session_id" value="([^"]+)"', html)
    fields = {"csrf_token": token.group(1)} if token else {}
    if session:
        fields["session_id"] = session.group(1)
    return html, fields


def test_thanks_after_a_monthly_donation_offers_to_manage_it(client, southfront) -> None:
    html, fields = thanks_form(client, "?monthly=1&session_id=cs_test_month1")
    assert "Manage your monthly donation" in html
    assert fields["session_id"] == "cs_test_month1"
    for query in ("?session_id=cs_test_month1", "?monthly=1", "?monthly=1&session_id=<x>"):
        assert "Manage your monthly donation" not in thanks_form(client, query)[0], query


def test_manage_opens_the_customer_portal_for_that_customer(client, southfront, stripe_api):
    finished_session(stripe_api)
    _, fields = thanks_form(client, "?monthly=1&session_id=cs_test_month1")
    response = client.post("/donate/southfront/manage", data=fields)
    assert response.status_code == 303
    [read] = stripe_api.calls_to("GET", "/v1/checkout/sessions/cs_test_month1")
    [portal] = stripe_api.calls_to("POST", "/v1/billing_portal/sessions")
    assert read.headers["Authorization"] == "Bearer sk_test_123"
    assert portal.form == {
        "customer": "cus_test_42",
        "return_url": "http://localhost/donate/southfront",
    }
    assert response.headers["Location"] == portal.answer["url"]
    assert response.headers["Location"].startswith("https://billing.stripe.com/")


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"status": "open"}, "not complete"),
        ({"mode": "payment"}, "one-time donation"),
        ({"metadata": {"campaign": "other"}}, "not made to Support us"),
        ({"metadata": {}}, "not made to Support us"),
        ({"created": int((NOW - timedelta(hours=25)).timestamp())}, "24 hours"),
        ({"customer": None}, "no customer"),
    ],
)
def test_manage_refuses_a_session_that_is_not_this_donors(
    client, southfront, stripe_api, changes, says
) -> None:
    finished_session(stripe_api, **changes)
    _, fields = thanks_form(client, "?monthly=1&session_id=cs_test_month1")
    response = client.post("/donate/southfront/manage", data=fields)
    assert response.status_code == 400
    assert says in response.get_data(as_text=True)
    assert stripe_api.calls_to("POST", "/v1/billing_portal/sessions") == []


def test_manage_refuses_unknown_or_malformed_sessions(client, southfront, stripe_api) -> None:
    _, fields = thanks_form(client, "?monthly=1&session_id=cs_test_month1")
    response = client.post("/donate/southfront/manage", data=fields)  # Stripe: 404
    assert response.status_code == 400
    assert "cannot find that donation" in response.get_data(as_text=True)
    fields["session_id"] = "../../v1/customers"
    response = client.post("/donate/southfront/manage", data=fields)
    assert response.status_code == 400
    assert len(stripe_api.calls) == 1  # the malformed id never reached Stripe


def test_manage_without_a_csrf_token_is_400(client, southfront, stripe_api) -> None:
    finished_session(stripe_api)
    response = client.post("/donate/southfront/manage", data={"session_id": "cs_test_month1"})
    assert response.status_code == 400
    assert stripe_api.calls == []


@pytest.mark.parametrize(
    "path", ["/v1/checkout/sessions/cs_test_month1", "/v1/billing_portal/sessions"]
)
def test_stripe_failing_is_502(client, southfront, stripe_api, path) -> None:
    finished_session(stripe_api)
    method = "GET" if "checkout" in path else "POST"
    stripe_api.fail(method, path, 500, 500, 500)
    _, fields = thanks_form(client, "?monthly=1&session_id=cs_test_month1")
    response = client.post("/donate/southfront/manage", data=fields)
    assert response.status_code == 502
    assert "Nothing was changed" in response.get_data(as_text=True)


def test_a_portal_url_that_is_not_https_is_never_followed(client, southfront, stripe_api) -> None:
    finished_session(stripe_api)
    stripe_api.on(
        "POST",
        "/v1/billing_portal/sessions",
        lambda call: (
            200,
            {"id": "bps_1", "object": "billing_portal.session", "url": "http://evil.example/"},
        ),
    )
    _, fields = thanks_form(client, "?monthly=1&session_id=cs_test_month1")
    response = client.post("/donate/southfront/manage", data=fields)
    assert response.status_code == 502
    assert "Location" not in response.headers


def test_the_donate_page_promises_cancellation_only_with_a_way_to_cancel(
    client, southfront, make_app
) -> None:
    html = client.get("/donate/southfront").get_data(as_text=True)
    assert "cancelled at any time" not in html and "Manage or cancel" not in html
    login = "https://billing.stripe.com/p/login/test_abc"
    with_portal = make_app(STRIPE_PORTAL_LOGIN_URL=login)
    html = with_portal.test_client().get("/donate/southfront").get_data(as_text=True)
    assert "A monthly donation can be changed or cancelled at any time." in html
    assert f'<a href="{login}">Already giving monthly? Manage or cancel</a>' in html
