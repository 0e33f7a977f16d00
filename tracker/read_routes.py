"""The cached public reads: each one's URL rule, and how a query string picks its variant.

The Flask views (tracker.views.api, tracker.views.embed) and the fast path in front of
them (tracker.fastpath) both take their routes from `READS`, so they match the same paths
and file a request under the same cache variant.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict

from tracker.embeds import parse_widget_options

# The raw query string to the cache variant; raises ValueError (OptionError) when the
# options are refused, which Flask answers with a 400.
VariantOf = Callable[[str], Hashable]


@dataclass(frozen=True)
class Read:
    """One cached read: `rule` has one `<slug>`; `cors` for the JSON API."""

    rule: str
    variant_of: VariantOf
    cors: bool = False

    @property
    def prefix(self) -> str:
        return self.rule.split("<slug>", 1)[0]

    @property
    def suffix(self) -> str:
        return self.rule.split("<slug>", 1)[1]


def constant(name: str) -> VariantOf:
    """The API reads take no options: every query string gives the same variant."""

    def variant_of(query: str) -> Hashable:
        return name

    return variant_of


def widget(kind: str) -> VariantOf:
    """The widget's variant, (kind, WidgetOptions), from the raw query string."""
    known: dict[str, Hashable] = {}

    def variant_of(query: str) -> Hashable:
        variant = known.get(query)
        if variant is None:
            args = MultiDict(parse_qsl(query, keep_blank_values=True, errors="replace"))
            variant = (kind, parse_widget_options(args))
            if len(known) < 256:  # common query strings only; no unbounded growth
                known[query] = variant
        return variant

    return variant_of


READS: dict[str, Read] = {
    "api.progress": Read("/api/v1/campaigns/<slug>/progress", constant("progress"), cors=True),
    "api.periods": Read("/api/v1/campaigns/<slug>/periods", constant("periods"), cors=True),
    "embed.page": Read("/embed/<slug>", widget("html")),
    "embed.image": Read("/embed/<slug>.svg", widget("svg")),
    "embed.script": Read("/embed/<slug>.js", widget("js")),
}
