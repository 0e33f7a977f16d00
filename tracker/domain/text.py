"""Text from outside (payloads, people) made safe to show."""

from __future__ import annotations


def visible(text: str) -> str:
    r"""`text` with control, format and unassigned characters and lone surrogates written
    as escapes (NUL as \x00, U+202E as \u202e), so none reaches a page raw."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in text
    )
