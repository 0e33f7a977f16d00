"""The channels notifications go out on, each optional (README, "Notifications"):

- `slack`: a Slack-compatible incoming webhook (TRACKER_NOTIFY_SLACK_URL): `POST` JSON
  `{"text": ...}`;
- `webhook`: TRACKER_NOTIFY_WEBHOOK_URL gets `POST` JSON `{"id", "type", "created",
  "campaign", "data"}`, signed with TRACKER_NOTIFY_WEBHOOK_SECRET as Stripe signs:
  `Tracker-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`;
- `email`: to TRACKER_NOTIFY_EMAIL_TO (comma-separated) through TRACKER_SMTP_URL
  (`smtp://user:pass@host:port`), with STARTTLS where the server offers it.

`send` raises ChannelError for anything a retry may mend: no answer, a non-2xx status, an
SMTP error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
from collections.abc import Mapping
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import requests

if TYPE_CHECKING:
    from tracker.notifications import Rendered

CHANNELS = ("slack", "webhook", "email")
TIMEOUT_S = 10.0
SIGNATURE_HEADER = "Tracker-Signature"


class ChannelError(RuntimeError):
    """The channel did not take the notification; the message says how."""


def configured(config: Mapping[str, Any]) -> list[str]:
    """The channels the settings turn on."""
    found = []
    if config.get("TRACKER_NOTIFY_SLACK_URL"):
        found.append("slack")
    if config.get("TRACKER_NOTIFY_WEBHOOK_URL") and config.get("TRACKER_NOTIFY_WEBHOOK_SECRET"):
        found.append("webhook")
    if config.get("TRACKER_NOTIFY_EMAIL_TO") and config.get("TRACKER_SMTP_URL"):
        found.append("email")
    return found


def signature(secret: str, body: bytes, at: int) -> str:
    """The Tracker-Signature header's value for `body` sent at unix time `at`."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def send(channel: str, config: Mapping[str, Any], rendered: Rendered) -> str:
    """Send on one channel; a short note of what happened (ChannelError on failure)."""
    timeout: float = config.get("TRACKER_NOTIFY_TIMEOUT_S", TIMEOUT_S)  # seconds
    if channel == "slack":
        body = json.dumps({"text": rendered.text}).encode()
        return _post(str(config["TRACKER_NOTIFY_SLACK_URL"]), body, {}, timeout)
    if channel == "webhook":
        body = json.dumps(rendered.document, sort_keys=True).encode()
        secret = str(config["TRACKER_NOTIFY_WEBHOOK_SECRET"])
        header = {SIGNATURE_HEADER: signature(secret, body, int(time.time()))}
        return _post(str(config["TRACKER_NOTIFY_WEBHOOK_URL"]), body, header, timeout)
    if channel == "email":
        return _mail(config, rendered, timeout)
    raise ChannelError(f"unknown channel {channel!r}")


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> str:
    try:
        response = requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": "tracker", **headers},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise ChannelError(f"no answer: {type(exc).__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise ChannelError(f"answered {response.status_code}")
    return f"answered {response.status_code}"


def _mail(config: Mapping[str, Any], rendered: Rendered, timeout: float) -> str:
    url = urlsplit(str(config["TRACKER_SMTP_URL"]))
    recipients = [a.strip() for a in str(config["TRACKER_NOTIFY_EMAIL_TO"]).split(",") if a.strip()]
    mail = EmailMessage()
    mail["Subject"] = rendered.subject
    mail["From"] = str(config.get("TRACKER_NOTIFY_EMAIL_FROM") or f"tracker@{url.hostname}")
    mail["To"] = ", ".join(recipients)
    mail.set_content(rendered.text)
    try:
        with smtplib.SMTP(url.hostname or "localhost", url.port or 25, timeout=timeout) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if url.username:
                smtp.login(unquote(url.username), unquote(url.password or ""))
            refused = smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise ChannelError(f"SMTP: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if refused:
        raise ChannelError(f"SMTP refused {', '.join(sorted(refused))}")
    return f"sent to {len(recipients)} address(es)"
