"""The WSGI entry point: `flask --app wsgi ...`, `gunicorn wsgi:app`, `granian ... wsgi:app`."""

import sys

import config
from tracker.app import create_app

try:
    app = create_app()
except config.ConfigError as exc:
    # A setting is missing: say so in one line and stop. Exit status 3 is what gunicorn calls
    # a worker that failed to boot (it then stops instead of starting another); granian stops
    # when a worker fails at start unless told to respawn it.
    print(f"tracker: {exc}", file=sys.stderr)
    raise SystemExit(3) from None
