"""Local receivers for notifications: an HTTP endpoint, one that never answers, and SMTP."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Records every POST; answers the queued statuses first, then 200."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)


@contextlib.contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    lock = threading.Lock()

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        with lock:
            receiver.received.append(Received(dict(request.headers), request.get_data()))
            status = receiver.statuses.popleft() if receiver.statuses else 200
        return Response("ok" if status < 300 else "no", status=status)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        thread.join()


@contextlib.contextmanager
def silent_receiver() -> Iterator[str]:
    """A port that takes connections and never answers (the caller's timeout ends it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        sock.close()


@dataclass
class Mailbox:
    url: str = ""
    messages: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


@contextlib.contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """aiosmtpd on a free port, with a login (user "news", password "s3cret")."""
    from email import message_from_bytes
    from email.policy import default

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append(message_from_bytes(envelope.content, policy=default))
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        if isinstance(data, LoginPassword):
            box.logins.append((data.login.decode(), data.password.decode()))
            ok = (data.login, data.password) == (b"news", b"s3cret")
            return AuthResult(success=ok)
        return AuthResult(success=False)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    box.url = f"smtp://news:s3cret@127.0.0.1:{port}"
    try:
        yield box
    finally:
        controller.stop()
