"""The yardstick: a bare Flask app answering a constant body (SPEC, "Scale and speed")."""

from flask import Flask, Response

app = Flask(__name__)
BODY = b"x" * 3000


@app.get("/")
def constant() -> Response:
    return Response(BODY, content_type="text/html; charset=utf-8")
