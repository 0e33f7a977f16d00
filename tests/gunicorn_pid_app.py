"""wsgi.app with the answering worker's pid in a header, so tests can tell workers apart."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from wsgi import app as flask_app

PID = str(os.getpid())


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("X-Worker-Pid", str(os.getpid()))], exc_info)

    return flask_app(environ, start)
