"""Start-up shared by the web app and the CLI: schema, demo data, folders."""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from lib import auth, db, demo
from lib.config import Settings

log = logging.getLogger(__name__)


def start(settings: Settings, *, today: date | None = None) -> Engine:
    """Return a ready engine: schema at the newest revision, demo rows if configured and empty."""
    engine = db.create_engine_for(settings.database_url)
    db.migrate(engine)
    settings.outbox_dir.mkdir(parents=True, exist_ok=True)
    create_first_admin(engine, settings)
    if settings.demo_data and load_demo_if_empty(engine, today=today):
        demo.install_logos(settings.data_dir)
    return engine


def create_first_admin(engine: Engine, settings: Settings) -> None:
    """A database without users gets `admin`; its one-time password goes to the console once."""
    sessions = db.session_factory(engine)
    try:
        with sessions() as session, session.begin():
            password = auth.create_first_admin(session, settings.data_dir)
    except IntegrityError:
        return  # another process created it at the same moment
    if password is None:
        return
    path = auth.first_admin_password_file(settings.data_dir)
    print(  # noqa: T201 - shown once to whoever started the app, as the login page explains
        f"\n  Primer inicio: usuario 'admin', contraseña '{password}'.\n"
        f"  También está en {path} (solo legible por su dueño). "
        "Se pedirá cambiarla al ingresar.\n",
        flush=True,
    )


def load_demo_if_empty(engine: Engine, *, today: date | None = None) -> bool:
    """Load the demo data set into an empty database; True if it did."""
    sessions = db.session_factory(engine)
    try:
        with sessions() as session, session.begin():
            if not demo.is_empty(session):
                return False
            data = demo.load(session, today)
    except IntegrityError:
        # Another process starting at the same moment loaded it first.
        log.info("demo data already loaded by another process")
        return False
    log.info(
        "demo data loaded: %d sociedades, %d clientes, %d partidas, %d en catálogo",
        len(data.companies),
        len(data.customers),
        len(data.open_items),
        len(data.recipients),
    )
    return True
