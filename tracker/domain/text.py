"""Text: messages to translate, refusals that carry one, and outside text made safe to show.

The domain never picks a language. What it says is a `Message`, a gettext message id
(with its plural id and count) and its values; the view translates it (tracker.i18n) in the
reader's locale, and `english()` gives the source text for logs and the command line.
`message` and `plural_message` mark the ids for `pybabel extract` (babel.cfg).
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import date

_ENGLISH = gettext.NullTranslations()  # the catalogs' source language, and its plural rule


@dataclass(frozen=True)
class Message:
    """A text to translate: its id, its plural id and count, and the values it names."""

    msgid: str
    plural: str | None = None
    n: int = 1
    values: tuple[tuple[str, object], ...] = ()

    def english(self) -> str:
        """The text in English, the catalogs' source language."""
        text = _ENGLISH.ngettext(self.msgid, self.plural, self.n) if self.plural else self.msgid
        return text % {name: _plain(value) for name, value in self.values} if self.values else text


def message(msgid: str, **values: object) -> Message:
    """A message to translate, with the values its %(name)s placeholders take."""
    return Message(msgid, values=tuple(values.items()))


def plural_message(singular: str, plural: str, n: int, **values: object) -> Message:
    """A message whose form follows a count (each language's plural rules choose)."""
    return Message(singular, plural, n, tuple(values.items()))


def _plain(value: object) -> str:
    if isinstance(value, Message):
        return value.english()
    if isinstance(value, date):
        return value.strftime("%B")
    return str(value)


class Said(Exception):
    """An error whose message is a Message: str() is the English, views translate it."""

    def __init__(self, text: Message | str) -> None:
        self.message = text if isinstance(text, Message) else Message(text)
        super().__init__(self.message.english())


class Refusal(Said, ValueError):
    """Input refused; the message says why."""


class Missing(Said, LookupError):
    """Something asked for that is not there (a 404)."""


def visible(text: str) -> str:
    r"""`text` with control, format and unassigned characters and lone surrogates written
    as escapes (NUL as \x00, U+202E as \u202e), so none reaches a page raw."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in text
    )
