"""A thin WSGI layer that answers cached widget reads before Flask is entered.

Only a request whose answer is already in the HotCache is served here: a GET
for a known route, a known campaign and options that parse. Everything else
(a miss, an unknown slug, bad options, any other path or method) falls
through to Flask, which builds the entry, stores it, and answers the errors.
Both paths take their headers from hotcache.response_headers, so they answer
alike; tests/views/test_fastpath.py holds them to it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from tracker import hotcache
from tracker.services import SLUG_RE

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# Parses the raw query string into the variant the Flask view would use;
# raises ValueError (or returns None) to leave the request to Flask.
VariantOf = Callable[[str], Hashable | None]


@dataclass(frozen=True)
class Route:
    prefix: str
    suffix: str
    variant_of: VariantOf
    cors: bool = False

    def slug(self, path: str) -> str | None:
        if not (path.startswith(self.prefix) and path.endswith(self.suffix)):
            return None
        slug = path[len(self.prefix) : len(path) - len(self.suffix)]
        return slug if SLUG_RE.fullmatch(slug) else None


class FastReads:
    """WSGI middleware serving HotCache hits; everything else goes to `app`."""

    def __init__(
        self,
        app: WSGIApp,
        cache: hotcache.HotCache,
        routes: list[Route],
        max_age: int,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.app = app
        self.cache = cache
        self.routes = routes
        self.max_age = max_age
        self.clock = clock or (lambda: datetime.now(UTC))
        self.enabled = True
        # Plain integers, read by observability at scrape time: no lock on the hot path.
        self.counts: dict[tuple[str, str], int] = {}

    @property
    def served(self) -> int:
        return sum(self.counts.values())

    def _count(self, route: Route, status: str) -> None:
        key = (route.prefix + "<slug>" + route.suffix, status)
        self.counts[key] = self.counts.get(key, 0) + 1

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.enabled and environ.get("REQUEST_METHOD") == "GET":
            answer = self._answer(environ, start_response)
            if answer is not None:
                return answer
        return self.app(environ, start_response)

    def _answer(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes] | None:
        path = environ.get("PATH_INFO", "")
        for route in self.routes:
            slug = route.slug(path)
            if slug is None:
                continue
            try:
                variant = route.variant_of(environ.get("QUERY_STRING", ""))
            except ValueError:
                return None
            if variant is None:
                return None
            at = self.clock()
            try:
                found = self.cache.lookup(slug, variant, at)
            except Exception:  # the database is away: Flask answers (and logs) it
                return None
            if found is None:
                return None
            entry = self.cache.get(found.key)
            if entry is None:
                return None
            headers = hotcache.response_headers(
                entry, at, found.until, self.max_age, cors=route.cors
            )
            if environ.get("wsgi.url_scheme") == "https":
                headers.append(("Strict-Transport-Security", hotcache.HSTS))
            if hotcache.etag_matches(environ.get("HTTP_IF_NONE_MATCH"), entry.etag):
                self._count(route, "304")
                start_response("304 NOT MODIFIED", headers)
                return [b""]
            self._count(route, "200")
            headers.append(("Content-Type", entry.content_type))
            headers.append(("Content-Length", str(len(entry.body))))
            start_response("200 OK", headers)
            return [entry.body]
        return None


def api_variant(name: str) -> VariantOf:
    """The API reads take no options: every query string gives the same variant."""

    def variant_of(query: str) -> Hashable:
        return name

    return variant_of


def embed_variant(kind: str) -> VariantOf:
    """The embed views' variant, (kind, WidgetOptions), from the raw query string."""
    from werkzeug.datastructures import MultiDict

    from tracker.embeds import parse_widget_options

    known: dict[str, Hashable] = {}

    def variant_of(query: str) -> Hashable:
        variant = known.get(query)
        if variant is None:
            args = MultiDict(parse_qsl(query, keep_blank_values=True, errors="replace"))
            variant = (kind, parse_widget_options(args))  # OptionError: Flask answers 400
            if len(known) < 256:  # common query strings only; no unbounded growth
                known[query] = variant
        return variant

    return variant_of


API_ROUTES = [
    Route("/api/v1/campaigns/", "/progress", api_variant("progress"), cors=True),
    Route("/api/v1/campaigns/", "/periods", api_variant("periods"), cors=True),
]


def embed_routes() -> list[Route]:
    return [
        Route("/embed/", "", embed_variant("html")),
        Route("/embed/", ".svg", embed_variant("svg")),
        Route("/embed/", ".js", embed_variant("js")),
    ]
