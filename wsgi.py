"""The WSGI entry point: `flask --app wsgi ...`, `gunicorn wsgi:app`."""

from tracker.app import create_app

app = create_app()
