"""The one error handler: JSON for api/webhooks, a small HTML page elsewhere.

JSON bodies say what was wrong in English, with a stable `error` code; HTML pages say it in
the reader's language, with a link back.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from tracker.domain.text import Message, Said, message
from tracker.extensions import db
from tracker.services import NotFound

log = logging.getLogger(__name__)

JSON_BLUEPRINTS = {"api", "webhooks"}

# The JSON `error` code, and the title a page shows, for each status.
CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "unprocessable",
    429: "too_many_requests",
    500: "server_error",
    502: "payment_provider_unavailable",
    503: "unavailable",
}
TITLES = {
    400: message("Bad request"),
    403: message("Forbidden"),
    404: message("Not found"),
    405: message("Method not allowed"),
    413: message("Too large"),
    422: message("Unprocessable"),
    429: message("Too many requests"),
    500: message("Server error"),
    502: message("Payment provider unavailable"),
    503: message("Unavailable"),
}
# Werkzeug's own descriptions, in our words (it says them in English only).
DESCRIPTIONS = {
    400: message("The request could not be understood."),
    403: message("You may not see this page."),
    404: message("There is no page at this address."),
    413: message("The request is larger than this server takes (1 MB)."),
    500: message("Something went wrong on our side. It has been logged."),
}
UNAVAILABLE = message("The database is unavailable; please retry shortly.")
SERVER_ERROR = DESCRIPTIONS[500]


def title(status: int) -> Message:
    """The title of an error page for this status."""
    return TITLES.get(status, message("Error"))


def wants_json() -> bool:
    if request.blueprint in JSON_BLUEPRINTS:
        return True
    return request.path.startswith(("/api/", "/webhooks/")) or request.path == "/healthz"


def error_document(status: int, text: Message | str, code: str | None = None) -> dict[str, str]:
    """The JSON body of an error: {"error": code, "message": what was wrong, in English}."""
    english = text.english() if isinstance(text, Message) else text
    return {"error": code or CODES.get(status, "error"), "message": english}


def error_response(
    status: int, text: Message | str, code: str | None = None, back: str | None = None
) -> Response:
    """An error answer in the shape the current blueprint uses (a page links `back`)."""
    if wants_json():
        response = jsonify(error_document(status, text, code))
    else:
        try:
            page = render_template(
                "error.html",
                status=status,
                title=title(status),
                message=text,
                back=back or _back(),
            )
        except Exception:  # the error page itself must never fail
            log.exception("error page could not be rendered")
            page = f"{status} {title(status).english()}"
        response = Response(page, mimetype="text/html")
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _back() -> str:
    """The page an error page links back to: the donate page it came from, else home."""
    slug = (request.view_args or {}).get("slug")
    if request.blueprint == "donate" and slug:
        return url_for("donate.page", slug=slug)
    return url_for("home.index")


def explanation(exc: Exception) -> Message | str:
    """What went wrong, for a person: our own message, else the status's description."""
    if isinstance(exc, Said):
        return exc.message
    if isinstance(exc, CSRFError):
        return message(
            "The form's security token (CSRF) is missing or has expired; "
            "reload the page and send the form again."
        )
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        allowed = ", ".join(m for m in exc.valid_methods if m not in ("HEAD", "OPTIONS"))
        return message(
            "%(method)s is not allowed here; use %(allowed)s.",
            method=request.method,
            allowed=allowed,
        )
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        return DESCRIPTIONS.get(status) or exc.description or title(status)
    return SERVER_ERROR


def handle(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        response = error_response(status, explanation(exc))
        for key, value in exc.get_headers():  # a 405's Allow, a 429's Retry-After
            if key.lower() != "content-type":
                response.headers[key] = value
        return response
    if isinstance(exc, NotFound):
        return error_response(404, exc.message)
    status, text, headers = failure(exc, f"{request.method} {request.path}")
    response = error_response(status, text)
    response.headers.update(headers)
    return response


def failure(exc: Exception, where: str) -> tuple[int, Message, dict[str, str]]:
    """Roll back and log an exception no view caught: (status, message, extra headers)."""
    _rollback()
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is away (stopped, unreachable, locked): answer 503 so
        # clients and Stripe retry; the app reconnects by itself when it is back.
        log.error("database unavailable on %s: %s", where, exc.orig)
        return 503, UNAVAILABLE, {"Retry-After": "5"}
    if isinstance(exc, Said) and isinstance(exc, ValueError):
        return 422, exc.message, {}
    if isinstance(exc, ValueError):
        return 422, message("%(reason)s", reason=str(exc)), {}
    log.exception("unhandled error on %s", where)
    return 500, SERVER_ERROR, {}


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # a dead connection cannot even roll back; the pool drops it
        log.warning("rollback failed", exc_info=True)


def register(app: Flask) -> None:
    app.register_error_handler(Exception, handle)
