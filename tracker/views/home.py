"""GET /: what this service is, for someone who lands on it; and its favicon."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse

home = Blueprint("home", __name__)


@home.get("/")
def index() -> Response:
    return Response(render_template("home.html"), mimetype="text/html")


@home.get("/favicon.ico")
def favicon() -> BaseResponse:
    # Browsers ask for /favicon.ico whatever the page names: answer with ours.
    return redirect(url_for("static", filename="favicon.svg"), code=301)
