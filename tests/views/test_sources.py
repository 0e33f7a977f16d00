"""Where donations come from (SPEC.md): the page and its utm_ tags, from the widget's button
through the donate page and Checkout's metadata onto the donation; /admin/sources and the
CSV report them. Nothing about the visitor is kept, and the widget's cache never sees it.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select

from tests import stripe_events as se
from tests.adminkit import log_in, make_admin
from tests.factories import make_campaign, make_donation
from tracker.extensions import db as sa_db
from tracker.models import Donation

NOV_10 = datetime(2026, 11, 10, 12, tzinfo=UTC)
ARTICLE = "https://news.example/2026/11/the-story"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOV_10, tick=False):
        yield


@pytest.fixture()
def campaign(db):
    return make_campaign("southfront")


def donate_form(client, query: str) -> tuple[str, dict[str, str]]:
    html = client.get(f"/donate/southfront{query}").get_data(as_text=True)
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', html))
    return html, hidden


def test_the_script_passes_the_page_in_the_fragment_never_the_query(client, campaign) -> None:
    script = client.get("/embed/southfront.js").get_data(as_text=True)
    assert "frameUrl.hash = from.toString();" in script
    assert "frameUrl.search" not in script
    # The frame's own answer, so its cache entry and ETag, is the same with any fragment:
    # a fragment never reaches the server, and the query the script builds carries none.
    first = client.get("/embed/southfront")
    again = client.get("/embed/southfront")
    assert first.headers["ETag"] == again.headers["ETag"]
    widget = first.get_data(as_text=True)
    assert "location.hash.slice(1)" in widget  # the frame moves it onto its button


def test_the_donate_page_keeps_the_source_in_hidden_fields(client, campaign) -> None:
    query = f"?ref={ARTICLE}&utm_source=newsletter&utm_campaign=winter&utm_medium=email&x=1"
    _, hidden = donate_form(client, query)
    assert {k: hidden[k] for k in ("ref", "utm_source", "utm_medium", "utm_campaign")} == {
        "ref": ARTICLE,
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "winter",
    }
    assert "x" not in hidden


@pytest.mark.parametrize(
    "ref", ["javascript:alert(1)", "data:text/html,x", "//evil.example/", "ftp://x.example/"]
)
def test_only_http_pages_are_kept(client, campaign, ref) -> None:
    _, hidden = donate_form(client, f"?ref={ref}&utm_campaign=ok")
    assert "ref" not in hidden and hidden["utm_campaign"] == "ok"


def test_values_are_cut_to_500_and_control_characters_dropped(client, campaign) -> None:
    long = "https://news.example/" + "a" * 600
    _, hidden = donate_form(client, f"?ref={long}&utm_campaign=win%00ter%0A")
    assert len(hidden["ref"]) == 500
    assert hidden["utm_campaign"] == "winter"


def test_checkout_carries_them_in_its_metadata(client, campaign, stripe_api) -> None:
    for frequency, nested in (("once", "payment_intent_data"), ("monthly", "subscription_data")):
        _, hidden = donate_form(client, f"?ref={ARTICLE}&utm_campaign=winter")
        client.post("/donate/southfront", data={**hidden, "amount": "10", "frequency": frequency})
        form = stripe_api.calls[-1].form
        for where in ("metadata", f"{nested}[metadata]"):
            assert form[f"{where}[ref]"] == ARTICLE
            assert form[f"{where}[utm_campaign]"] == "winter"
            assert form[f"{where}[campaign]"] == "southfront"


def test_a_bad_amount_keeps_the_source_on_the_page_again(client, campaign, stripe_api) -> None:
    _, hidden = donate_form(client, f"?ref={ARTICLE}&utm_campaign=winter")
    response = client.post("/donate/southfront", data={**hidden, "amount": "0"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'name="ref" value="{ARTICLE}"' in page
    assert stripe_api.calls == []


def test_the_donation_keeps_them_from_the_payments_metadata(client, campaign) -> None:
    for n, (ref, tag) in enumerate([(ARTICLE, "winter"), (ARTICLE, None), (None, None)]):
        intent = se.payment_intent(intent_id=f"pi_src{n}", amount=1000 * (n + 1), created=NOV_10)
        intent["metadata"].update({k: v for k, v in (("ref", ref), ("utm_campaign", tag)) if v})
        assert (
            se.deliver(
                client, se.event("payment_intent.succeeded", intent, event_id=f"evt_src{n}")
            ).status_code
            == 200
        )
    rows = sa_db.session.execute(
        select(Donation.external_key, Donation.ref, Donation.utm_campaign).order_by(Donation.id)
    ).all()
    assert rows == [
        ("pi_src0", ARTICLE, "winter"),
        ("pi_src1", ARTICLE, None),
        ("pi_src2", None, None),
    ]


def test_sources_page_and_csv_report_them_largest_first(client, campaign) -> None:
    other = "https://news.example/other"
    for amount, ref, tag in [
        (1000, ARTICLE, "winter"),
        (2500, ARTICLE, "winter"),
        (9000, other, None),
        (500, None, None),
    ]:
        donation = make_donation(campaign, amount, NOV_10)
        donation.ref, donation.utm_campaign = ref, tag
    sa_db.session.commit()
    make_admin()
    log_in(client)
    html = client.get("/admin/sources?campaign=southfront&month=2026-11").get_data(as_text=True)
    pages = html.split('id="by-page"')[1].split("</table>")[0]
    assert pages.index(other) < pages.index(ARTICLE) < pages.index("no page")
    assert re.search(r"the-story</code></td>\s*<td[^>]*>2</td>\s*<td[^>]*>35 \$</td>", pages)
    tags = html.split('id="by-campaign"')[1].split("</table>")[0]
    assert tags.index("none") < tags.index("winter")  # 95 $ untagged, 35 $ winter
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get("/admin/campaigns/southfront/export.csv?month=2026-11").get_data(
                    as_text=True
                )
            )
        )
    )
    assert [(r["ref"], r["utm_campaign"]) for r in rows] == [
        (ARTICLE, "winter"),
        (ARTICLE, "winter"),
        (other, ""),
        ("", ""),
    ]
    assert client.get("/admin/sources?campaign=southfront&month=nope").status_code == 400
