"""The only lib module that imports streamlit: app start-up, navigation and shared widgets.

The engine is created once per process and per database URL (`st.cache_resource`), never at
import time. Pages get sessions from here and call plain lib services with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import streamlit as st
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from streamlit.runtime.pages_manager import PagesManager

from lib import app, config, db

log = logging.getLogger(__name__)
_through_navigation: ContextVar[bool] = ContextVar("through_navigation", default=False)

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"
APOLOGY = (
    "Lo sentimos, ocurrió un error inesperado. Ya quedó registrado; "
    "intenta de nuevo y, si se repite, avisa al administrador."
)


@st.cache_resource(show_spinner="Preparando la base de datos…")
def _engine(database_url: str, _settings: config.Settings) -> Engine:
    return app.start(_settings)


def settings() -> config.Settings:
    try:
        return config.load_settings()
    except config.SettingsError as exc:
        st.error(f"Configuración no válida: {exc}")
        st.stop()
        raise


def engine() -> Engine:
    current = settings()
    try:
        return _engine(current.database_url, current)
    except OperationalError as exc:
        log.exception("database unavailable")
        st.error(f"No se pudo abrir la base de datos: {db.reason(exc)}")
        st.stop()
        raise


def sessions() -> sessionmaker[Session]:
    return db.session_factory(engine())


@contextmanager
def session() -> Iterator[Session]:
    """One session per unit of work; the caller commits."""
    with sessions()() as current:
        yield current


@contextmanager
def progress(text: str) -> Iterator[Callable[[float, str], None]]:
    """A progress bar for a long call in lib; yields the `progress(fraction, step)` callback."""
    bar = st.progress(0.0, text=text)
    try:
        yield lambda fraction, step: bar.progress(min(max(fraction, 0.0), 1.0), text=step)
    finally:
        bar.empty()


def actor() -> str:
    """Who is acting, for audit entries; the login issue puts the logged-in user here."""
    return st.session_state.get("username", "app")


def run_app() -> None:
    """Entry point of `Home.py`: page config, navigation, and a safety net around the page."""
    st.set_page_config(page_title="Envío masivo", page_icon=":material/mail:", layout="wide")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    engine()
    page = st.navigation(_pages())
    token = _through_navigation.set(True)
    try:
        page.run()
    except Exception:
        log.exception("unexpected error on page %s", page.title)
        st.error(APOLOGY)
    finally:
        _through_navigation.reset(token)


def page_guard() -> None:
    """First call of every page: make sure the page runs inside `Home.py`'s navigation.

    When a `pages/` folder exists, Streamlit may run a page file directly (its old multipage
    mode: the first request after a start is a page's URL, and every `AppTest` run), skipping
    `Home.py` and whatever it checks. Such a run is handed to `run_app()` here, which runs the
    page through the navigation, and the direct run stops.
    """
    if not _through_navigation.get():
        PagesManager.uses_pages_directory = False
        run_app()
        st.stop()


def _pages() -> dict[str, list[st.Page]]:
    return {
        "": [
            st.Page(PAGES_DIR / "inicio.py", title="Inicio", icon=":material/home:", default=True)
        ],
        "Admin": [
            st.Page(
                PAGES_DIR / "datos.py",
                title="Datos",
                icon=":material/upload_file:",
                url_path="datos",
            )
        ],
    }
