"""Cost of `tracker sync-stripe` and `tracker reconcile`: time and peak memory against count.

Stripe is the tests' stand-in API (tests/stripe_api.py) on a local port, paging 100 a page
as Stripe does. For each size it measures, in this process:

- sync: N `payment_intent.succeeded` events over 30 days, received into an empty ledger
  (every one new), then the same run again (every one stored already);
- reconcile: a month of N PaymentIntents (with their charges) that the ledger already
  agrees with, compared (no difference).

It prints seconds per 1,000 and the peak traced memory (tracemalloc) of each run, and the
ratios of the large size to the small one: time linear in N gives a ratio near N_large /
N_small in seconds and near 1 per event; constant memory gives a memory ratio near 1.

    .venv/bin/python bench/stripe_sync.py [--sizes 1000,10000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


TRACED = False  # tracemalloc slows Python down: memory and time come from separate runs


def measure(fn):
    if TRACED:
        tracemalloc.start()
    started = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - started
    peak = 0
    if TRACED:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return result, elapsed, peak


def run(size: int, database_url: str, api) -> dict[str, float]:
    import time_machine
    from sqlalchemy import text

    from tests import stripe_events as se
    from tracker import reconcile, services, sync
    from tracker.app import create_app
    from tracker.domain.periods import Period as Month
    from tracker.extensions import db

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "STRIPE_SECRET_KEY": "sk_test_bench",
            "STRIPE_WEBHOOK_SECRET": "whsec_bench",
            "STRIPE_API_BASE": api.url,
            "STRIPE_MAX_NETWORK_RETRIES": 0,
        }
    )
    out: dict[str, float] = {}
    with time_machine.travel(NOW, tick=True), app.app_context():
        from flask_migrate import upgrade

        if database_url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        services.create_campaign("bench", name="Bench", currency="USD", milestones=[0, 10**11])
        db.session.commit()
        api.reset()
        start = NOW - timedelta(days=29)
        for n in range(size):
            at = start + timedelta(seconds=n * 29 * 86400 // size)
            intent = se.payment_intent(
                intent_id=f"pi_b{n}", amount=1000, created=at, campaign="bench"
            )
            api.lists["/v1/events"].append(
                se.event("payment_intent.succeeded", intent, event_id=f"evt_b{n}", created=at)
            )
        since = NOW - timedelta(days=29, hours=23)
        result, out["sync_new_s"], out["sync_new_peak"] = measure(lambda: sync.sync_stripe(since))
        assert result.new == size, result
        result, out["sync_again_s"], out["sync_again_peak"] = measure(
            lambda: sync.sync_stripe(since)
        )
        assert result.new == 0 and result.fetched == size

        # A month of N payments the ledger agrees with, of a campaign of their own.
        services.create_campaign("bench2", name="Bench 2", currency="USD", milestones=[0, 10**11])
        db.session.commit()
        api.reset()
        nov = Month(2026, 11)
        lo, hi = nov.bounds(UTC)
        month_start = lo
        for n in range(size):
            at = month_start + timedelta(seconds=n * 29 * 86400 // size)
            intent = se.payment_intent(
                intent_id=f"pi_r{n}", amount=500, created=at, campaign="bench2"
            )
            intent["latest_charge"] = se.charge(
                charge_id=f"ch_r{n}",
                payment_intent=f"pi_r{n}",
                amount=500,
                amount_refunded=0,
                created=at,
            )
            api.lists["/v1/payment_intents"].append(intent)
            services.record_donation(
                services.require_campaign("bench2"),
                amount_minor=500,
                received_at=at,
                source="stripe",
                external_key=f"pi_r{n}",
                payment_intent_id=f"pi_r{n}",
            )
        db.session.commit()
        campaign = services.require_campaign("bench2")
        run_row, out["reconcile_s"], out["reconcile_peak"] = measure(
            lambda: reconcile.reconcile(campaign, nov)
        )
        assert run_row.differences == [] and run_row.at_stripe == size, run_row.differences[:3]
        db.session.remove()
        db.engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    from tests.stripe_api import serve

    api, stop = serve()
    sizes = [int(s) for s in args.sizes.split(",")]
    global TRACED
    results = {}
    try:
        for size in sizes:
            for traced in (False, True):
                TRACED = traced
                url = args.database_url
                if not url:
                    url = f"sqlite:///{tempfile.mkdtemp()}/bench-{size}.db"
                got = run(size, url, api)
                if traced:
                    results[size].update({k: v for k, v in got.items() if k.endswith("_peak")})
                else:
                    results[size] = got
    finally:
        stop()
    small, large = sizes[0], sizes[-1]
    db_name = "postgresql" if args.database_url.startswith("postgresql") else "sqlite"
    print(f"database            {db_name}; stand-in Stripe API in process, 100 a page")
    for label, key in (
        ("sync, all new", "sync_new"),
        ("sync, all stored", "sync_again"),
        ("reconcile, agreeing", "reconcile"),
    ):
        for size in sizes:
            r = results[size]
            print(
                f"{label:<20}N={size:>6}  {r[key + '_s'] * 1000 / size:7.2f} s per 1,000"
                f"  peak {r[key + '_peak'] / 1e6:6.2f} MB"
            )
        per_event = (results[large][key + "_s"] / large) / (results[small][key + "_s"] / small)
        memory = results[large][key + "_peak"] / results[small][key + "_peak"]
        print(
            f"{'':<20}N={large}/N={small}: time per item x{per_event:.2f},"
            f" peak memory x{memory:.2f}"
        )


if __name__ == "__main__":
    main()
