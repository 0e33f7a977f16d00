"""The migrations build exactly the schema the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask


def test_migrations_match_models(app: Flask, db: object) -> None:
    from tracker.extensions import db as sa_db

    with sa_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, sa_db.metadata)
    assert diff == []
