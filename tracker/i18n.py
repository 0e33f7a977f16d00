"""Every word a person reads, from gettext catalogs (translations/<lang>/LC_MESSAGES).

Flask-Babel translates what Flask renders (the donate, thanks and error pages, the
dashboard) in the locale `select_locale` picks for the request. The widget is built
outside any one request's locale (tracker.embeds), so it takes a `Translations` object
for its own locale from `translations()`. A message missing in a catalog falls back to
English, the catalogs' source language; plural forms are each language's own (CLDR's,
in each catalog's Plural-Forms header).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from flask import Flask, g, request, session
from flask_babel import get_locale, get_translations

from tracker.domain import money
from tracker.domain.text import Message

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ROOT / "translations"
SHIPPED = ("en", "de", "fr", "es", "it", "pt", "ru", "ar")
DEFAULT = "en"
ADMIN_LANGUAGE_KEY = "admin_lang"


def language(locale: str) -> str:
    """The shipped language whose words a locale reads ("de_AT" -> "de"; "ja" -> "en")."""
    try:
        code = Locale.parse(money.parse_locale(locale)).language
    except ValueError:
        return DEFAULT
    return code if code in SHIPPED else DEFAULT


def is_rtl(locale: str) -> bool:
    """True for a locale written right to left (Arabic, and any other CLDR says so of)."""
    try:
        return Locale.parse(money.parse_locale(locale)).character_order == "right-to-left"
    except ValueError:
        return False


def html_dir(locale: str) -> str:
    """The `dir` attribute for a page in this locale."""
    return "rtl" if is_rtl(locale) else "ltr"


@lru_cache(maxsize=64)
def translations(locale: str) -> NullTranslations:
    """The catalog of the locale's language (English, the source, when it has none)."""
    code = language(locale)
    if code == DEFAULT:
        return NullTranslations()
    found = Translations.load(str(CATALOGS), [code])
    return found if isinstance(found, Translations) else NullTranslations()


def render(text: object, locale: str, catalog: NullTranslations | None = None) -> str:
    """`text` in the locale's language, its values formatted for the locale (numbers, month
    names in the form a sentence takes them: "ноября", not "ноябрь"). Plain text (or a lazy
    string Flask-Babel made) is already in its language."""
    if not isinstance(text, Message):
        return str(text)
    catalog = catalog or translations(locale)
    if text.plural is not None:
        found = catalog.ngettext(text.msgid, text.plural, text.n)
    else:
        found = catalog.gettext(text.msgid)
    if not text.values:
        return found
    return found % {name: _shown(value, locale, catalog) for name, value in text.values}


def _shown(value: object, locale: str, catalog: NullTranslations) -> str:
    if isinstance(value, Message):
        return render(value, locale, catalog)
    if isinstance(value, money.Amount):
        return value.format(locale)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(format_decimal(value, locale=money._locale(locale)))
    if isinstance(value, date):
        return str(format_date(value, "MMMM", locale=money._locale(locale)))
    return str(value)


def text(message: object) -> str:
    """`message` in this request's language (Flask-Babel's locale and catalog)."""
    locale = str(get_locale() or DEFAULT)
    return render(message, locale, get_translations())


def use_locale(locale: str) -> None:
    """Render this request's pages in `locale` (a campaign's, or `lang=`)."""
    g.tracker_locale = money.parse_locale(locale)


def select_locale() -> str:
    """Flask-Babel's locale for this request: the one a view chose (public pages), else the
    admin's pick, else the best of Accept-Language among the shipped languages."""
    chosen: str | None = g.get("tracker_locale")
    if chosen:
        return chosen
    picked = session.get(ADMIN_LANGUAGE_KEY) if request.blueprint == "admin" else None
    if picked in SHIPPED:
        return str(picked)
    return request.accept_languages.best_match(SHIPPED, default=DEFAULT) or DEFAULT


def install(app: Flask) -> None:
    from tracker.extensions import babel

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(CATALOGS))
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["t"] = text
    app.jinja_env.globals.update(html_dir=html_dir, current_locale=lambda: str(get_locale()))
