"""Every word in the reader's language: the catalogs are complete, the plural forms CLDR's,
the widget free of English outside English, right to left where the language is."""

from __future__ import annotations

import gettext
import html
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from babel import Locale
from babel.messages.pofile import read_po
from sqlalchemy import update

from tests.adminkit import log_in, make_admin
from tests.factories import make_campaign, make_donation
from tracker import i18n
from tracker.extensions import db as sa_db
from tracker.models import Period

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = [code for code in i18n.SHIPPED if code != i18n.DEFAULT]
COUNTS = (0, 1, 2, 5, 11, 21, 101)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def catalog(lang: str):
    with (ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict[str, object]:
    """Every message the code and templates use, extracted now as `make translations` does."""
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run(
        [str(pybabel), "-q", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext",
         "-k", "message", "-k", "plural_message:1,2", "--no-location", "-o", str(out), "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with out.open("rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0]: m for m in read_po(f) if m.id}


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_the_code_uses_is_translated(template, lang) -> None:
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0]): m
        for m in catalog(lang)
        if m.id and all(m.string if isinstance(m.string, tuple) else (m.string,))
    }
    missing = sorted(set(template) - set(translated))
    assert missing == [], f"{lang} lacks {len(missing)}: run `make translations`, then translate"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_translation_keeps_its_placeholders(lang) -> None:
    po = catalog(lang)
    problems = []
    for m in po:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set(PLACEHOLDER.findall(" ".join(ids)))
        if isinstance(m.id, tuple):
            assert len(strings) == po.num_plurals, ids[0]
        for text in strings:
            found = set(PLACEHOLDER.findall(text))
            # A plural form may say its number in words ("plus qu'un jour").
            if found - wanted or wanted - found - ({"num"} if isinstance(m.id, tuple) else set()):
                problems.append((ids[0], text))
            text % {name: 1 for name in found}  # formats
    assert problems == []


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_plural_rule_is_cldrs(lang) -> None:
    """The catalog's Plural-Forms picks, for each count, the form CLDR's category names."""
    po = catalog(lang)
    rule = Locale.parse(lang).plural_form
    # The forms whole counts reach, in CLDR's order (Russian's "other" is for fractions only).
    reached = {rule(n) for n in range(0, 2000)} | {rule(1000000)}
    order = [c for c in ("zero", "one", "two", "few", "many", "other") if c in reached]
    choose = gettext.c2py(po.plural_expr)
    assert po.num_plurals == len(order)
    for n in (*COUNTS, 3, 12, 22, 111, 1000000):
        assert order[choose(n)] == rule(n), (lang, n)


def _form(po, singular: str, n: int) -> str:
    entry = po[singular] if singular in po else next(m for m in po if m.id and m.id[0] == singular)
    strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
    return strings[int(gettext.c2py(po.plural_expr)(n))]


DAYS_LEFT = "%(num)s day left until the end of %(month)s"
HOURS_LEFT = "%(num)s hour left"
DONATIONS = "%(num)s donation"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_widget_says_each_count_in_its_languages_form(client, db, lang) -> None:
    po = catalog(lang)
    make_campaign("s", locale=lang)
    for n in (1, 2, 5, 11, 21):  # days left in December (31 days)
        with time_machine.travel(datetime(2026, 12, 31 - n, 12, tzinfo=UTC), tick=False):
            text = client.get("/embed/s").get_data(as_text=True)
        line = html.unescape(re.search(r'<p class="dl">([^<]*)</p>', text).group(1))
        expected = _form(po, DAYS_LEFT, n)
        stem = re.split(r"%\(\w+\)s", expected)
        assert all(part.strip().upper() in line for part in stem if part.strip()), (n, line)
    for n in (1, 2, 5, 11, 21):  # hours left on the last day
        with time_machine.travel(datetime(2026, 12, 31, 24 - n, tzinfo=UTC), tick=False):
            text = client.get("/embed/s").get_data(as_text=True)
        line = html.unescape(re.search(r'<p class="dl">([^<]*)</p>', text).group(1))
        stem = re.split(r"%\(\w+\)s", _form(po, HOURS_LEFT, n))
        assert all(part.strip().upper() in line for part in stem if part.strip()), (n, line)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_admin_overview_says_each_count_in_its_languages_form(client, db, lang) -> None:
    po = catalog(lang)
    campaign = make_campaign("s")
    make_admin()
    log_in(client)
    for n in COUNTS:
        sa_db.session.execute(update(Period).values(donations=n))
        sa_db.session.commit()
        page = client.get("/admin/", headers={"Accept-Language": lang}).get_data(as_text=True)
        shown = _form(po, DONATIONS, n)
        stem = [part.strip() for part in re.split(r"%\(\w+\)s", shown) if part.strip()]
        assert stem and all(part in page for part in stem), (lang, n, shown)
    assert campaign


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_donate_page_is_in_the_campaigns_language(client, db, lang) -> None:
    po = catalog(lang)
    make_campaign("s", locale=lang, preset_amounts=[500])
    page = client.get("/donate/s").get_data(as_text=True)
    assert f'lang="{lang}"' in page
    for msgid in ("How often", "Once", "Monthly", "Continue to payment"):
        assert po[msgid].string in page, msgid
    assert "Continue to payment" not in page


# English words of the widget's own texts; none may show in a widget in another language.
ENGLISH = {"days", "day", "left", "until", "end", "last", "hours", "hour", "support", "goal",
           "reached", "raised", "of"}  # fmt: skip


@pytest.mark.parametrize("lang", TRANSLATED)
@pytest.mark.parametrize(
    "at", [datetime(2026, 11, 24, 12, tzinfo=UTC), datetime(2026, 11, 30, 14, tzinfo=UTC)]
)
def test_no_english_word_in_a_widget_in_another_language(client, db, lang, at) -> None:
    with time_machine.travel(at, tick=False):
        campaign = make_campaign("s", name="Nachrichten", locale=lang)
        make_donation(campaign, 600000)  # past the goal: "Goal reached" too
        html = client.get("/embed/s").get_data(as_text=True)
        svg = client.get("/embed/s.svg").get_data(as_text=True)
    for body in (html, svg):
        visible = re.sub(r"<style>.*?</style>|<script>.*?</script>|<[^>]+>", " ", body, flags=re.S)
        spoken = " ".join(re.findall(r'aria-[a-z]+="([^"]*)"', body))
        words = set(re.findall(r"[a-z]+", (visible + " " + spoken).lower()))
        assert words & ENGLISH == set(), (lang, words & ENGLISH)


def test_a_missing_message_falls_back_to_english(app) -> None:
    from tracker.domain.text import message

    assert i18n.render(message("a message no catalog has, %(n)s", n=3), "de") == (
        "a message no catalog has, 3"
    )
    assert i18n.render(message("Support us"), "de") == catalog("de")["Support us"].string
    assert i18n.render(message("Support us"), "ja") == "Support us"  # not shipped: English


@pytest.mark.parametrize(
    ("locale", "direction"), [("ar", "rtl"), ("ar_EG", "rtl"), ("de", "ltr"), ("he", "rtl")]
)
def test_right_to_left_follows_cldr(locale, direction) -> None:
    assert i18n.html_dir(locale) == direction


def test_arabic_pages_are_right_to_left(client, db) -> None:
    make_campaign("s", locale="ar")
    for url in ("/embed/s", "/donate/s", "/donate/s/thanks"):
        assert 'lang="ar" dir="rtl"' in client.get(url).get_data(as_text=True), url
    svg = client.get("/embed/s.svg").get_data(as_text=True)
    assert 'direction="rtl"' in svg


def test_the_admin_picks_a_language_that_stays_for_the_session(client, db) -> None:
    make_admin()
    log_in(client)
    assert 'lang="en"' in client.get("/admin/").get_data(as_text=True)
    assert 'lang="fr"' in client.get("/admin/", headers={"Accept-Language": "fr;q=1"}).get_data(
        as_text=True
    )
    from tests.adminkit import csrf_token

    token = csrf_token(client, "/admin/")
    picked = client.post(
        "/admin/language?next=/admin/months", data={"csrf_token": token, "lang": "ru"}
    )
    assert (picked.status_code, picked.headers["Location"]) == (303, "/admin/months")
    page = client.get("/admin/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert 'lang="ru"' in page and "Обзор" in page
    bad = client.post("/admin/language", data={"csrf_token": token, "lang": "xx"})
    assert bad.status_code == 400


def test_no_two_sentences_were_glued_into_one_message() -> None:
    """`message("A" if x else "B")` makes pybabel extract one msgid "AB" that no lookup asks
    for; each sentence must be its own message()."""
    pot = (Path(__file__).resolve().parent.parent / "translations" / "messages.pot").read_text()
    glued = [
        line
        for line in pot.splitlines()
        if line.startswith("msgid ") and re.search(r"[a-z)]\.(%\(|[A-Z])", line)
    ]
    assert glued == []
