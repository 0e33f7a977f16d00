"""Malformed requests get a clear 4xx and never a trace."""

from __future__ import annotations

import pytest

PATHS = [
    "/api/v1/campaigns/%ff%fe/progress",
    "/api/v1/campaigns/a%00b/progress",
    "/api/v1/campaigns/" + "a" * 10000 + "/progress",
    "/api/v1/campaigns/%C0%AF/periods",
    "/api/v1/campaigns/../../etc/passwd/progress",
    "/" + "x" * 20000,
    "/embed/%00",
]


@pytest.mark.parametrize("path", PATHS)
def test_malformed_paths_are_4xx(client, path) -> None:
    response = client.get(path)
    assert 400 <= response.status_code < 500
    assert b"Traceback" not in response.data
    assert len(response.data) < 2000


def test_query_with_invalid_bytes_is_harmless(client) -> None:
    response = client.get("/api/v1/campaigns/nope/progress?a=%ff&b=%00")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
