"""The one error handler: JSON for api/webhooks, a small HTML page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

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


def error_response(status: int, message: str, code: str | None = None) -> Response:
    """An error answer in the shape the current blueprint uses."""
    code = code or TITLES.get(status, "error").lower().replace(" ", "_")
    if wants_json():
        response = jsonify({"error": code, "message": message})
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
        response = error_response(status, message)
        if exc.response is not None:  # e.g. 429 with Retry-After from Flask-Limiter
            for key in ("Retry-After",):
                if key in exc.response.headers:
                    response.headers[key] = exc.response.headers[key]
        return response
    if isinstance(exc, NotFound):
        return error_response(404, str(exc))
    _rollback()
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is away (stopped, unreachable, locked): answer 503 so
        # clients and Stripe retry; the app reconnects by itself when it is back.
        log.error("database unavailable on %s %s: %s", request.method, request.path, exc.orig)
        response = error_response(503, "The database is unavailable; please retry shortly.")
        response.headers["Retry-After"] = "5"
        return response
    if isinstance(exc, ValueError):
        return error_response(422, str(exc))
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "Something went wrong on our side. It has been logged.")


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # a dead connection cannot even roll back; the pool drops it
        log.warning("rollback failed", exc_info=True)


def register(app: Flask) -> None:
    app.register_error_handler(Exception, handle)
