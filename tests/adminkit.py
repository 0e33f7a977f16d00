"""Helpers for admin tests: an admin account, CSRF tokens, a logged-in client."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tracker import accounts
from tracker.extensions import db

EMAIL = "ada@example.org"
PASSWORD = "correct horse battery staple"

_TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def make_admin(email: str = EMAIL, password: str = PASSWORD) -> None:
    accounts.set_admin_password(email, password)
    db.session.commit()


def csrf_token(client: FlaskClient, url: str = "/admin/login") -> str:
    """The CSRF token of the client's session, read from a page's form."""
    page = client.get(url)
    match = _TOKEN_RE.search(page.get_data(as_text=True))
    assert match, f"no csrf_token on {url}"
    return match.group(1)


def log_in(client: FlaskClient, email: str = EMAIL, password: str = PASSWORD) -> None:
    token = csrf_token(client)
    response = client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
