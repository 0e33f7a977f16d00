"""A stand-in for Stripe's API on a local port, for STRIPE_API_BASE.

The app talks to it through the real stripe library over real HTTP, so what a test
asserts is what Stripe would have received. It records every request, answers with
objects built from Stripe's own examples (tests/fixtures/stripe/objects.json), pages lists
as Stripe does (`limit`, `starting_after`, `has_more`), and can be told to fail: a queue of
statuses per path (429, 500, ...) is served before the normal answer.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.parse
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests import stripe_events as se


@dataclass
class Call:
    """One request the app made."""

    method: str
    path: str
    query: list[tuple[str, str]]
    form: dict[str, str]
    headers: dict[str, str]
    status: int = 0
    answer: dict[str, Any] = field(default_factory=dict)  # what the stand-in sent back

    @property
    def params(self) -> dict[str, str]:
        """The form fields (POST) or query parameters (GET), last value wins."""
        return self.form if self.method == "POST" else dict(self.query)


Handler = Callable[[Call], tuple[int, dict[str, Any]]]
# The lists the app reads: an empty one is an empty page, as at Stripe.
LISTS = ("/v1/events", "/v1/payment_intents", "/v1/invoices", "/v1/charges", "/v1/disputes")


@dataclass
class StripeAPI:
    """The stand-in's state; `reset()` between tests."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    failures: dict[tuple[str, str], deque[int]] = field(default_factory=lambda: defaultdict(deque))
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    lists: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    handlers: dict[tuple[str, str], Handler] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _sorted: dict[tuple[int, int], list[dict[str, Any]]] = field(default_factory=dict)

    def _newest_first(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The list as Stripe orders it, sorted once per length (benchmarks page 10,000)."""
        key = (id(items), len(items))
        found = self._sorted.get(key)
        if found is None:
            found = sorted(items, key=lambda i: (i.get("created", 0), i["id"]), reverse=True)
            self._sorted = {key: found}
        return found

    def reset(self) -> None:
        self._sorted = {}
        self.calls.clear()
        self.failures.clear()
        self.objects.clear()
        self.lists.clear()
        self.handlers.clear()

    def fail(self, method: str, path: str, *statuses: int) -> None:
        """Answer the next requests to `path` with these statuses, then normally."""
        self.failures[(method, path)].extend(statuses)

    def on(self, method: str, path: str, handler: Handler) -> None:
        """Answer `path` with `handler(call)` -> (status, JSON) instead of the default."""
        self.handlers[(method, path)] = handler

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if (c.method, c.path) == (method, path)]

    # --- answering -------------------------------------------------------------

    def answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        queued = self.failures.get((call.method, call.path))
        if queued:
            status = queued.popleft()
            return status, _error(status)
        handler = self.handlers.get((call.method, call.path))
        if handler is not None:
            return handler(call)
        if call.method == "POST" and call.path == "/v1/checkout/sessions":
            return 200, self._checkout_session(call)
        if call.method == "POST" and call.path == "/v1/refunds":
            refund = se.example("refund")
            refund.update(id=f"re_test_{next(self._ids)}", amount=int(call.form.get("amount", 0)))
            return 200, refund
        if call.method == "POST" and call.path == "/v1/billing_portal/sessions":
            n = next(self._ids)
            return 200, {
                "id": f"bps_test_{n}",
                "object": "billing_portal.session",
                "customer": call.form.get("customer"),
                "return_url": call.form.get("return_url"),
                "url": f"https://billing.stripe.com/p/session/test_{n}",
            }
        if call.method == "GET" and (call.path in self.lists or call.path in LISTS):
            return 200, self._page(call, self.lists[call.path])
        if call.method == "GET" and call.path.count("/") >= 3:  # /v1/<kind>[/<sub>]/<id>
            found = self.objects.get(call.path.rsplit("/", 1)[1])
            if found is not None:
                return 200, found
        return 404, _error(404)

    def _checkout_session(self, call: Call) -> dict[str, Any]:
        n = next(self._ids)
        session = se.example("checkout.session")
        session.update(
            id=f"cs_test_stub{n}",
            url=f"https://checkout.stripe.com/c/pay/cs_test_stub{n}",
            mode=call.form.get("mode"),
            currency=call.form.get("line_items[0][price_data][currency]"),
            status="open",
        )
        return session

    def _page(self, call: Call, items: list[dict[str, Any]]) -> dict[str, Any]:
        """One page of a list, newest first, filtered by created[...] and types[] as Stripe does."""
        query = call.query
        types = [v for k, v in query if k in ("types[]", "types[0]") or k.startswith("types[")]
        bounds = {k: int(v) for k, v in query if k.startswith("created[")}
        # Plain filters (status=paid, charge=ch_...): the item's field must equal the value.
        paging = ("limit", "starting_after", "ending_before")
        equal = {k: v for k, v in query if "[" not in k and k not in paging}
        chosen = [
            item
            for item in self._newest_first(items)
            if (not types or item.get("type") in types)
            and all(str(item.get(k)) == v for k, v in equal.items())
            and item.get("created", 0) >= bounds.get("created[gte]", -(10**18))
            and item.get("created", 0) < bounds.get("created[lt]", 10**18)
            and item.get("created", 0) <= bounds.get("created[lte]", 10**18)
        ]
        after = dict(query).get("starting_after")
        if after:
            ids = [item["id"] for item in chosen]
            chosen = chosen[ids.index(after) + 1 :] if after in ids else []
        limit = int(dict(query).get("limit", 10))
        return {
            "object": "list",
            "url": call.path,
            "has_more": len(chosen) > limit,
            "data": chosen[:limit],
        }


def _error(status: int) -> dict[str, Any]:
    kind = {429: "rate_limit_error", 404: "invalid_request_error"}.get(status, "api_error")
    return {"error": {"type": kind, "message": f"stand-in answered {status}"}}


def serve() -> tuple[StripeAPI, Callable[[], None]]:
    """Start the stand-in on a free local port; returns it and a function that stops it."""
    api = StripeAPI()
    lock = threading.Lock()

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        call = Call(
            method=request.method,
            path=request.path,
            query=list(urllib.parse.parse_qsl(request.query_string.decode(), True)),
            form=dict(urllib.parse.parse_qsl(request.get_data(as_text=True), True)),
            headers=dict(request.headers),
        )
        with lock:
            api.calls.append(call)
            status, body = api.answer(call)
            call.status, call.answer = status, body
        return Response(
            json.dumps(body),
            status=status,
            content_type="application/json",
            headers={"Request-Id": f"req_stand_in_{len(api.calls)}"},
        )

    server = make_server("127.0.0.1", 0, app, threaded=True)
    api.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join()

    return api, stop
