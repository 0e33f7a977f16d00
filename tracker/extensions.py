"""Flask extensions, created unbound and initialised in create_app()."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login = LoginManager()
# Limits are declared where they apply (login, donate); storage from
# RATELIMIT_STORAGE_URI (memory:// by default, redis://... when several processes serve).
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@login.user_loader
def _load_admin(user_id: str) -> object | None:
    # Any HTML page (error pages, the donate page) runs Flask-Login's context processor,
    # which needs a loader; the admin dashboard may replace this one with its own.
    from tracker.models import Admin

    if not user_id.isdigit():
        return None
    return db.session.get(Admin, int(user_id))
