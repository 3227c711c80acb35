"""Engine, sessions and schema migrations.

Engines are created by `create_engine_for()` when asked, never at import time, so each test and
each app process owns its own. Alembic runs programmatically: the app and the CLI both call
`migrate()` before anything else touches the database.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lib.config import PROJECT_ROOT

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same for every process of this app.
MIGRATION_LOCK_ID = 72_402_011


SQLITE_BUSY_SECONDS = 30.0


def create_engine_for(
    database_url: str, *, sqlite_busy_seconds: float = SQLITE_BUSY_SECONDS
) -> Engine:
    """Create an engine; a relative SQLite path is taken from the project root, not the cwd.
    SQLite waits up to `sqlite_busy_seconds` for a lock held by another writer.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:" and not Path(url.database).is_absolute():
        url = url.set(database=str(PROJECT_ROOT / url.database))
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": sqlite_busy_seconds})
    sa.event.listen(engine, "connect", _sqlite_setup)
    return engine


def _sqlite_setup(dbapi_connection: object, _record: object) -> None:
    """WAL lets the page read while a send writes; foreign keys are off by default in SQLite."""
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision.

    On PostgreSQL an advisory lock keeps several app instances or workers that start together
    from migrating at the same time.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as lock_connection:
            lock_connection.execute(sa.select(sa.func.pg_advisory_lock(MIGRATION_LOCK_ID)))
            try:
                command.upgrade(alembic_config(engine), "head")
            finally:
                lock_connection.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATION_LOCK_ID)))
                lock_connection.commit()
    else:
        command.upgrade(alembic_config(engine), "head")


def reason(error: OperationalError) -> str:
    """The driver's explanation of a connection failure, on one line for a message or a CLI."""
    return " ".join(str(error.orig or error).split())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
