"""In-process cost of one widget read on the fast path, and of its metrics.

    .venv/bin/python bench/hotpath.py

Calls the WSGI app directly (no server, no network) for a cached progress read:
A/B alternated rounds, medians, reported in microseconds per request and as ratios:
- the fast path with its counters against the same path with counting switched off;
- the fast path against a bare WSGI callable returning the same bytes;
- a read through Flask (fast path off) against the fast path.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from tracker import services  # noqa: E402
from tracker.app import create_app  # noqa: E402
from tracker.extensions import db  # noqa: E402

CALLS = 20_000
ROUNDS = 5


def environ(path: str) -> dict[str, object]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": None,
        "wsgi.errors": sys.stderr,
    }


def per_call_us(app, path: str, calls: int = CALLS) -> float:  # type: ignore[no-untyped-def]
    def start_response(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
        return None

    env = environ(path)
    started = time.perf_counter()
    for _ in range(calls):
        for _chunk in app(dict(env), start_response):
            pass
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/b.db"}
        )
        with app.app_context():
            upgrade()
            campaign = services.create_campaign(
                "bench", name="Bench", currency="USD", milestones=[0, 500000]
            )
            services.record_donation(
                campaign, amount_minor=218000, received_at=services.now(), source="manual"
            )
            db.session.commit()
        path = "/api/v1/campaigns/bench/progress"
        fast = app.extensions["tracker.fastpath"]
        body = app.test_client().get(path).data  # builds and caches the entry

        def bare(environ, start_response):  # type: ignore[no-untyped-def]
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]

        counting = fast._count

        def without_metrics():  # type: ignore[no-untyped-def]
            fast._count = lambda route, status: None
            try:
                return per_call_us(app.wsgi_app, path)
            finally:
                fast._count = counting

        def through_flask():  # type: ignore[no-untyped-def]
            return per_call_us(fast.app, path, CALLS // 10)  # the WSGI app behind the layer

        runs: dict[str, list[float]] = {k: [] for k in ("fast", "nometrics", "bare", "flask")}
        for i in range(ROUNDS):
            order = [
                ("fast", lambda: per_call_us(app.wsgi_app, path)),
                ("nometrics", without_metrics),
                ("bare", lambda: per_call_us(bare, path)),
                ("flask", through_flask),
            ]
            if i % 2:
                order.reverse()
            for name, run in order:
                runs[name].append(run())
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(f"fast path hit           {med['fast']:8.2f} us/request")
        print(f"  without its counters  {med['nometrics']:8.2f} us/request")
        print(f"bare WSGI callable      {med['bare']:8.2f} us/request")
        print(f"through Flask           {med['flask']:8.2f} us/request")
        print(f"metrics cost: fast/without = {med['fast'] / med['nometrics']:.3f}")
        print(f"fast path / bare WSGI      = {med['fast'] / med['bare']:.2f}")
        print(f"Flask / fast path          = {med['flask'] / med['fast']:.1f}")


if __name__ == "__main__":
    main()
