"""Admin accounts: passwords (argon2id), logging in, and the failed-login limit.

Like tracker.services, these add and flush; the caller (view or command) commits once.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select

from tracker.admin_services import AdminError, audit
from tracker.domain.text import message
from tracker.extensions import db
from tracker.models import Admin
from tracker.throttle import LOGIN_FAILURES, throttle

EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024

_STRONG = PasswordHasher()  # argon2id, 64 MiB, 3 passes (RFC 9106's second choice)
_CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
_dummy_hashes: dict[int, str] = {}


def hasher() -> PasswordHasher:
    """The password hasher; tests may ask for a cheap one (never outside TESTING)."""
    if current_app.testing and current_app.config.get("TRACKER_CHEAP_PASSWORD_HASH"):
        return _CHEAP
    return _STRONG


def _dummy_hash(chosen: PasswordHasher) -> str:
    # Verified when the email is unknown, so a wrong email costs as much as a wrong password.
    if id(chosen) not in _dummy_hashes:
        _dummy_hashes[id(chosen)] = chosen.hash("not the password of anyone")
    return _dummy_hashes[id(chosen)]


def normalize_email(text: str) -> str:
    """Lower-cased, trimmed email; AdminError when it does not look like one."""
    email = (text or "").strip().lower()
    if not EMAIL_RE.fullmatch(email):
        raise AdminError(message("invalid email '%(email)s'", email=email[:80]))
    return email


def check_password(password: str) -> str:
    """A new password: at least 12 characters (and not absurdly long)."""
    if len(password) < MIN_PASSWORD:
        raise AdminError(message("password must be at least %(num)s characters", num=MIN_PASSWORD))
    if len(password) > MAX_PASSWORD:
        raise AdminError(message("password must be at most %(num)s characters", num=MAX_PASSWORD))
    return password


def set_admin_password(email: str, password: str, actor: str = "cli") -> tuple[Admin, bool]:
    """Create the admin, or reset its password; returns (admin, created)."""
    email = normalize_email(email)
    digest = hasher().hash(check_password(password))
    admin = find_admin(email)
    created = admin is None
    if admin is None:
        admin = Admin(email=email, password_hash=digest)
        db.session.add(admin)
    else:
        admin.password_hash = digest
    db.session.flush()
    audit(actor, "admin_created" if created else "admin_password_reset", email=email)
    return admin, created


def find_admin(email: str) -> Admin | None:
    """The admin with this (normalised) email, or None."""
    return db.session.scalar(select(Admin).where(Admin.email == email.strip().lower()))


def authenticate(email: str, password: str) -> Admin | None:
    """The admin when email and password match; None otherwise (in about the same time)."""
    admin = find_admin(email) if email and len(email) <= 254 else None
    if not password or len(password) > MAX_PASSWORD:
        return None
    chosen = hasher()
    try:
        chosen.verify(admin.password_hash if admin else _dummy_hash(chosen), password)
    except (VerificationError, InvalidHashError):
        return None
    if admin is None:
        return None
    if chosen.check_needs_rehash(admin.password_hash):
        admin.password_hash = chosen.hash(password)
        db.session.flush()
    return admin


def session_key(admin: Admin) -> str:
    """Changes when the password does: a reset logs out every session of that admin."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, admin.password_hash.encode(), hashlib.sha256).hexdigest()[:32]


# --- login throttle ------------------------------------------------------------


def _login_keys(email: str, address: str) -> list[tuple[str, str]]:
    found = [("email", (email or "").strip().lower()[:254]), ("address", address or "-")]
    return [(kind, value) for kind, value in found if value]


def login_wait_s(email: str, address: str) -> int | None:
    """Seconds until a login for this email, from this address, may be tried again."""
    for kind, value in _login_keys(email, address):
        wait = throttle().wait_s(LOGIN_FAILURES, "admin-login", kind, value)
        if wait is not None:
            return wait
    return None


def login_failed(email: str, address: str) -> None:
    """Count one failed login against the email and against the address."""
    for kind, value in _login_keys(email, address):
        throttle().hit(LOGIN_FAILURES, "admin-login", kind, value)
