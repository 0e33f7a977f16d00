"""Failed logins are counted in Redis, so every process behind the balancer sees them."""

from __future__ import annotations

import os
import secrets

import pytest
import redis

from tests.adminkit import csrf_token

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture()
def two_apps(make_app, db: object):
    if not _redis_up():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL} and CI is set")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    return [make_app(RATELIMIT_STORAGE_URI=REDIS_URL), make_app(RATELIMIT_STORAGE_URI=REDIS_URL)]


def _fail(client, email: str, address: str):
    return client.post(
        "/admin/login",
        data={"email": email, "password": "wrong password", "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": address},
    )


def test_failed_logins_are_shared_across_processes(two_apps) -> None:
    first, second = (each.test_client() for each in two_apps)
    assert (
        two_apps[0].extensions["tracker.throttle"]
        is not (two_apps[1].extensions["tracker.throttle"])
    )
    # Fresh names, so runs never see each other's counts (no flush of a shared Redis).
    email = f"{secrets.token_hex(6)}@example.org"
    network = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    for attempt in range(10):  # five through each app, each from its own address
        client = first if attempt % 2 else second
        assert _fail(client, email, f"{network}.{attempt}").status_code == 401
    assert _fail(first, email, "192.0.2.1").status_code == 429
    assert _fail(second, email, "192.0.2.2").status_code == 429
