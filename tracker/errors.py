"""The one error handler: JSON for api/webhooks, a small HTML page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from tracker.extensions import db
from tracker.services import NotFound

log = logging.getLogger(__name__)

JSON_BLUEPRINTS = {"api", "webhooks"}

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Too large",
    422: "Unprocessable",
    429: "Too many requests",
    500: "Server error",
    502: "Payment provider unavailable",
    503: "Unavailable",
}


def wants_json() -> bool:
    if request.blueprint in JSON_BLUEPRINTS:
        return True
    return request.path.startswith(("/api/", "/webhooks/")) or request.path == "/healthz"


def error_document(status: int, message: str, code: str | None = None) -> dict[str, str]:
    """The JSON body of an error: {"error": code, "message": message}."""
    return {
        "error": code or TITLES.get(status, "error").lower().replace(" ", "_"),
        "message": message,
    }


def error_response(status: int, message: str, code: str | None = None) -> Response:
    """An error answer in the shape the current blueprint uses."""
    if wants_json():
        response = jsonify(error_document(status, message, code))
    else:
        title = TITLES.get(status, "Error")
        try:
            page = render_template("error.html", status=status, title=title, message=message)
        except Exception:  # the error page itself must never fail
            log.exception("error page could not be rendered")
            page = f"{status} {title}"
        response = Response(page, mimetype="text/html")
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def handle(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        message = exc.description or TITLES.get(status, "Error")
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            allowed = ", ".join(m for m in exc.valid_methods if m not in ("HEAD", "OPTIONS"))
            message = f"{request.method} is not allowed here; use {allowed}."
        response = error_response(status, message)
        for key, value in exc.get_headers():  # a 405's Allow, a 429's Retry-After
            if key.lower() != "content-type":
                response.headers[key] = value
        return response
    if isinstance(exc, NotFound):
        return error_response(404, str(exc))
    status, message, headers = failure(exc, f"{request.method} {request.path}")
    response = error_response(status, message)
    response.headers.update(headers)
    return response


def failure(exc: Exception, where: str) -> tuple[int, str, dict[str, str]]:
    """Roll back and log an exception no view caught: (status, message, extra headers)."""
    _rollback()
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is away (stopped, unreachable, locked): answer 503 so
        # clients and Stripe retry; the app reconnects by itself when it is back.
        log.error("database unavailable on %s: %s", where, exc.orig)
        return 503, "The database is unavailable; please retry shortly.", {"Retry-After": "5"}
    if isinstance(exc, ValueError):
        return 422, str(exc), {}
    log.exception("unhandled error on %s", where)
    return 500, "Something went wrong on our side. It has been logged.", {}


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # a dead connection cannot even roll back; the pool drops it
        log.warning("rollback failed", exc_info=True)


def register(app: Flask) -> None:
    app.register_error_handler(Exception, handle)
