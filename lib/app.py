"""Start-up shared by the web app and the CLI: schema, demo data, folders."""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from lib import db, demo
from lib.config import Settings

log = logging.getLogger(__name__)


def start(settings: Settings, *, today: date | None = None) -> Engine:
    """Return a ready engine: schema at the newest revision, demo rows if configured and empty."""
    engine = db.create_engine_for(settings.database_url)
    db.migrate(engine)
    settings.outbox_dir.mkdir(parents=True, exist_ok=True)
    if settings.demo_data:
        load_demo_if_empty(engine, today=today)
    return engine


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
