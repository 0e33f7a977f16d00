"""A thin WSGI layer before Flask: cached widget reads.

Only a request whose answer is already in the HotCache is served here: a GET
for a known route, a known campaign and options that parse. Everything else
(a miss, an unknown slug, bad options, any other path or method) falls
through to Flask, which builds the entry, stores it, and answers the errors.
Both paths take their headers from hotcache.response_headers, so they answer
alike; tests/views/test_fastpath.py holds them to it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime
from typing import Any

from tracker import hotcache
from tracker.read_routes import Read
from tracker.services import SLUG_RE

MAX_REMEMBERED = 4096

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _slug(route: Read, path: str) -> str | None:
    """The slug of `path` under `route`, or None when it is not this route's."""
    if not (path.startswith(route.prefix) and path.endswith(route.suffix)):
        return None
    slug = path[len(route.prefix) : len(path) - len(route.suffix)]
    return slug if SLUG_RE.fullmatch(slug) else None


class FastReads:
    """WSGI middleware serving HotCache hits; everything else goes to `app`."""

    def __init__(
        self,
        app: WSGIApp,
        cache: hotcache.HotCache,
        routes: Iterable[Read],
        max_age: int,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.app = app
        self.cache = cache
        self.routes = list(routes)
        self.max_age = max_age
        self.clock = clock or (lambda: datetime.now(UTC))
        # Plain integers, read by observability at scrape time: no lock on the hot path.
        self._counts: dict[tuple[Read, str], int] = {}
        self._paths: dict[str, tuple[Read, str] | None] = {}
        self._steady: dict[Hashable, list[tuple[str, str]]] = {}

    @property
    def counts(self) -> dict[tuple[str, str], int]:
        """Answers so far by (route, status), for /metrics."""
        return {
            (route.rule, status): value for (route, status), value in list(self._counts.items())
        }

    @property
    def served(self) -> int:
        return sum(self._counts.values())

    def _count(self, route: Read, status: str) -> None:
        key = (route, status)
        self._counts[key] = self._counts.get(key, 0) + 1

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET":
            answer = self._answer(environ, start_response)
            if answer is not None:
                return answer
        return self.app(environ, start_response)

    def _route(self, path: str) -> tuple[Read, str] | None:
        """The route and slug of a path, remembered for the paths seen most."""
        if path in self._paths:
            return self._paths[path]
        found = None
        for route in self.routes:
            slug = _slug(route, path)
            if slug is not None:
                found = (route, slug)
                break
        if len(self._paths) < MAX_REMEMBERED:  # paths come from anyone: bounded
            self._paths[path] = found
        return found

    def _answer(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes] | None:
        matched = self._route(environ.get("PATH_INFO", ""))
        if matched is None:
            return None
        route, slug = matched
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
        not_modified = hotcache.etag_matches(environ.get("HTTP_IF_NONE_MATCH"), entry.etag)
        secure = environ.get("wsgi.url_scheme") == "https"
        headers = self._headers(found, entry, at, route.cors, not_modified, secure)
        if not_modified:
            self._count(route, "304")
            start_response("304 NOT MODIFIED", headers)
            return [b""]
        self._count(route, "200")
        start_response("200 OK", headers)
        return [entry.body]

    def _headers(
        self,
        found: hotcache.Lookup,
        entry: hotcache.Entry,
        at: datetime,
        cors: bool,
        not_modified: bool,
        secure: bool,
    ) -> list[tuple[str, str]]:
        # Far from the bucket's end, Cache-Control is the same on every request, so the
        # whole list is built once per entry; near it, max-age shrinks and is built anew.
        steady = (found.until - at).total_seconds() >= 2 * self.max_age
        memo_key = (found.key, cors, not_modified, secure)
        if steady:
            headers = self._steady.get(memo_key)
            if headers is not None:
                return headers
        headers = hotcache.response_headers(
            entry, at, found.until, self.max_age, cors=cors, secure=secure
        )
        if not not_modified:
            headers.append(("Content-Type", entry.content_type))
            headers.append(("Content-Length", str(len(entry.body))))
        if steady:
            if len(self._steady) >= MAX_REMEMBERED:
                self._steady.clear()
            self._steady[memo_key] = headers
        return headers
