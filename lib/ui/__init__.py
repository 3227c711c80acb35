"""The only lib code that imports streamlit: app start-up, login, navigation, shared widgets.

The engine is created once per process and per database URL (`st.cache_resource`), never at
import time. Pages get sessions from here and call plain lib services with them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.pages_manager import PagesManager

from lib import app, auth, catalog, config, db, formatting, users
from lib.models import SendItem, SendRun
from lib.normalize import InvalidValue
from lib.sending import log as runlog
from lib.sending import processes, runs
from lib.sending.status import ItemStatus
from lib.ui import login, sso

log = logging.getLogger(__name__)
_user: ContextVar[login.SignedIn | None] = ContextVar("user", default=None)
_through_navigation: ContextVar[bool] = ContextVar("through_navigation", default=False)

RUN_NUMBER = "ui-numero-de-ejecucion"
VISIT, VISITED_PAGE = "ui-visita", "ui-pagina-visitada"
# What makes markup inside a line: emphasis, code, links, strike-through, formulas.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]~$<>])")
PAGES_DIR = Path(__file__).resolve().parent.parent.parent / "pages"
APOLOGY = (
    "Lo sentimos, ocurrió un error inesperado. Ya quedó registrado; "
    "intenta de nuevo y, si se repite, avisa al administrador."
)


@st.cache_resource(show_spinner="Preparando la base de datos…")
def _engine(database_url: str, _settings: config.Settings) -> Engine:
    started = app.start(_settings)
    processes.start_background(_settings)
    return started


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
    """Who is acting, for audit entries: the logged-in user."""
    user = _user.get()
    if user is None:
        raise RuntimeError("actor() outside a logged-in page")
    return user.username


def current_user() -> login.SignedIn:
    user = _user.get()
    if user is None:
        raise RuntimeError("current_user() outside a logged-in page")
    return user


def save(action: Callable[[Session], object], done: str) -> None:
    """Run one change in its own transaction; a user error is shown, success reruns the page
    with `done` as a notice so everything on it shows the new state.
    """
    try:
        with session() as current, current.begin():
            action(current)
    except InvalidValue as exc:
        refuse(exc)
        return
    report(True, done)


def literal(text: str) -> str:
    """Text from the data (names, addresses, amounts) shown as written inside Streamlit's
    Markdown: no links, emphasis or `$…$` formulas out of `[x](…)`, `*`, `_` or two amounts.
    """
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def flagged(bounce_text: str) -> str:
    """A table's Rebotes cell: the bounce marks behind a ⚠️, or empty when there are none."""
    return f"⚠️ {bounce_text}" if bounce_text else ""


def refuse(error: InvalidValue) -> None:
    """A user error from lib (bad input, unknown customer) as one sentence, shown as written."""
    st.error(literal(formatting.sentence(str(error))))


def report(ok: bool, message: str) -> None:
    """Show the outcome of a change: an error stays on this run; a success reruns the page, so
    everything on it shows the new state, with `message` on top. Messages are plain text.
    """
    if not ok:
        st.error(literal(message))
        return
    st.session_state["flash"] = message
    st.rerun()


def button_pair() -> tuple[DeltaGenerator, DeltaGenerator]:
    """Two slots side by side with the usual small gap, for a question's yes and no buttons;
    slots, so the caller can handle "no" first and still draw "yes" on the left."""
    row = st.container(horizontal=True)
    return row.empty(), row.empty()


def ask(
    question: str, asked: str, yes: str, *, no: str = "Cancelar", icon: str | None = None
) -> bool:
    """A last look before something that cannot be taken back: `question` with `yes` and `no`.

    `asked` is the session key that keeps the question up; either button drops it. True on
    `yes`, and the caller acts; `no` reruns the page with nothing done.
    """
    st.warning(literal(question), icon=icon)
    first, second = button_pair()
    if second.button(no, key=f"{asked}-no"):
        st.session_state.pop(asked, None)
        st.rerun()
    if first.button(yes, type="primary", key=f"{asked}-si"):
        st.session_state.pop(asked, None)
        return True
    return False


def confirm_send(question: str, asked: str) -> bool:
    """The last look before a send: `question` (built in lib) with Enviar and Cancelar."""
    return ask(question, asked, "Enviar", icon=":material/send:")


OUTCOME_FIGURES = (
    ("Enviados", ItemStatus.SENT),
    ("Con error", ItemStatus.FAILED),
    ("Detenidos", ItemStatus.STOPPED),
    ("Parciales", ItemStatus.PARTIAL),
    ("Rebotados", ItemStatus.BOUNCED),
    ("Inciertos", ItemStatus.UNCERTAIN),
    ("Sin saldo", ItemStatus.SKIPPED),
    ("Pendientes", ItemStatus.PENDING),
)


# At 1366 px (about 900 px for a table beside the sidebar) every column stays on screen; the
# Mensaje starts with what failed, and a cut one shows whole on hover.
ITEM_COLUMNS = {
    "Estado": st.column_config.TextColumn("Estado", width=120),
    "Sociedad": st.column_config.TextColumn("Sociedad", width=75),
    "No. Cliente": st.column_config.TextColumn("No. Cliente", width=90),
    "Nombre": st.column_config.TextColumn("Nombre", width=170),
    "Mensaje": st.column_config.TextColumn("Mensaje", width=300),
    "Correos": st.column_config.TextColumn("Correos", width=140),
}


def verdict_table(verdicts: list[catalog.Verdict], last: str) -> None:
    """Masiva's check (`last` = Verificación) and result (Mensaje) of each row."""
    st.dataframe(
        pd.DataFrame(
            {
                "Fila": [v.row for v in verdicts],
                "Sociedad": [v.company_code for v in verdicts],
                "No. Cliente": [v.customer_no for v in verdicts],
                "Nombre": [v.customer_name for v in verdicts],
                "Correo": [v.emails for v in verdicts],
                last: [v.message or v.label for v in verdicts],
            }
        ),
        hide_index=True,
        width="stretch",
        column_config=_verdict_columns(last),
    )


def _verdict_columns(last: str) -> dict[str, object]:
    """At 1366 px the verdict gets the room, so the reason a row failed is on screen."""
    return {
        "Fila": st.column_config.NumberColumn("Fila", width=50),
        "Sociedad": st.column_config.TextColumn("Sociedad", width=75),
        "No. Cliente": st.column_config.TextColumn("No. Cliente", width=90),
        "Nombre": st.column_config.TextColumn("Nombre", width=180),
        "Correo": st.column_config.TextColumn("Correo", width=190),
        last: st.column_config.TextColumn(last, width=300),
    }


def summary_columns(currencies: list[str]) -> dict[str, object]:
    """Inicio's table at 1366 px: the sociedad's whole name, each balance as wide as its
    figures (hundreds of millions with cents)."""
    return {
        "Sociedad": st.column_config.TextColumn("Sociedad", width=70),
        "Nombre": st.column_config.TextColumn("Nombre", width=320),
        "Clientes": st.column_config.NumberColumn("Clientes", width=70),
        "En catálogo": st.column_config.NumberColumn("En catálogo", width=85),
        "Partidas abiertas": st.column_config.NumberColumn("Partidas abiertas", width=115),
        **{f"Saldo {c}": st.column_config.TextColumn(f"Saldo {c}", width=120) for c in currencies},
    }


def show_items(rows: list[SendItem]) -> None:
    st.dataframe(items_table(rows), hide_index=True, width="stretch", column_config=ITEM_COLUMNS)


def items_table(rows: list[SendItem]) -> pd.DataFrame:
    """A send run's customers with ✅/❌ and the reason, as the send and history pages show it."""
    zone = settings().timezone
    return pd.DataFrame(
        {
            "Estado": [ItemStatus(r.status).label for r in rows],
            "Sociedad": [r.company_code for r in rows],
            "No. Cliente": [r.customer_no for r in rows],
            "Nombre": [r.customer_name for r in rows],
            "Mensaje": [
                " · ".join(
                    part
                    # What failed first: a narrow column still shows it.
                    for part in (
                        runs.item_message(r),
                        r.note,  # what the email lacked (an invoice), though it went out
                        r.sent_at and f"Enviado {formatting.moment(r.sent_at, zone)}",
                    )
                    if part
                )
                for r in rows
            ],
            "Correos": [r.emails for r in rows],
        }
    )


def log_notice(run: SendRun) -> None:
    if run.log_sent_at:
        st.success(literal(f"El log se envió a {run.notify_email}."))
    elif run.log_error:
        st.warning(
            literal(f"El log no se pudo enviar por correo ({run.log_error}); descárgalo aquí.")
        )
    else:
        st.info(
            literal(
                f"El log se enviará a {run.notify_email} en cuanto el servidor de correo "
                "responda; mientras, puedes descargarlo aquí."
            )
        )


def log_download(run: SendRun, text: str, where: DeltaGenerator | None = None) -> None:
    """The run's `LogEnvioMasivo_<AAAAMMDD>.txt`, as the log email carries it."""
    (where or st).download_button(
        f"Descargar {runlog.file_name(run)}",
        text,
        file_name=runlog.file_name(run),
        mime="text/plain",
        icon=":material/download:",
    )


def live(render: Callable[[int], bool | None], run_id: int) -> None:
    """Redraw `render(run_id)` every second while the run goes on; when it says the run has
    ended (True), one full rerun draws the final page (and the refreshing stops).

    Only what `render` draws is redrawn: a page can call this for several parts and put
    controls between them that must stay still to be clicked (Detener envío).
    """

    @st.fragment(run_every=1.0)
    def refresh() -> None:
        # A fragment rerun runs outside run_app()'s safety net: same apology, same log.
        try:
            finished = render(run_id)
        except Exception:
            log.exception("unexpected error following send run %d", run_id)
            st.error(APOLOGY)
            return
        if finished:
            st.rerun()

    refresh()


def password_changed(new_version: int, notice: str, *, was_forced: bool) -> None:
    """Keep this session after the user's own password change; the first-admin file goes.

    A forced change kept the user on Mi cuenta: now they go on to Inicio, the notice with them.
    """
    login.refresh_cookie(new_version)
    auth.first_admin_password_file(settings().data_dir).unlink(missing_ok=True)
    if not was_forced:
        report(True, notice)
        return
    st.session_state["flash"] = notice
    # This run's navigation has Inicio's URL showing Mi cuenta; the next run, with every page
    # of the user's role, opens Inicio there.
    st.switch_page(_stand_in(ACCOUNT_PAGE, ACCOUNT_TITLE, PAGES[0]))


def first_admin_hint() -> str | None:
    path = auth.first_admin_password_file(settings().data_dir)
    if not path.exists():
        return None
    return (
        f"Primer inicio: ingresa con el usuario **admin** y la contraseña que está en "
        f"`{path}` (también se mostró en la consola que inició la aplicación). "
        "Te pedirá cambiarla y escribir tu correo, al que llegará el log de cada envío."
    )


# Streamlit 1.67's file uploader, element by element: its English is text in the page, with no
# locale setting, so it is hidden and Spanish drawn in its place by CSS. Each entry: the element
# that draws the Spanish, its English child to remove (so screen readers get the Spanish only)
# or "" to shrink the element's own text, the text, its style. Every uploader of the app takes
# .xlsx and .csv.
UPLOADER_TEXTS = (
    (
        '[data-testid="stFileUploaderDropzone"] [data-testid="stBaseButton-secondary"] '
        '[data-testid="stMarkdownContainer"]',
        "p",
        "Buscar archivo",
        "font-size: 0.875rem",
    ),
    (
        '[data-testid="stFileUploaderDropzoneInstructions"] > div',
        "span",
        "Límite {limit} MB por archivo · XLSX, CSV",
        "font-size: 0.875rem; opacity: 0.7",
    ),
    # Shown only while a file is dragged over the box.
    (
        '[data-testid="stFileUploaderDropzone"] > div:not([data-testid]) > span:only-child',
        "",
        "Suelta el archivo aquí",
        "font-size: 0.875rem",
    ),
)


def spanish_widgets_style() -> str:
    """The one piece of HTML the app writes itself: a `<style>` with no data in it."""
    limit = st.get_option("server.maxUploadSize")
    rules = []
    for host, english, text, style in UPLOADER_TEXTS:
        hidden = f"{host} > {english}" if english else host
        rules.append(f"{hidden} {{ {'display: none' if english else 'font-size: 0'}; }}")
        rules.append(f'{host}::after {{ content: "{text.format(limit=limit)}"; {style}; }}')
    return "<style>\n" + "\n".join(rules) + "\n</style>"


def _spanish_widgets() -> None:
    """Streamlit's own texts in Spanish, on every run (a style-only `st.html` takes no room)."""
    st.html(spanish_widgets_style())


def run_app() -> None:
    """Entry point of `Home.py`: login, the pages of the user's role, a safety net per page."""
    st.set_page_config(page_title="Envío masivo", page_icon=":material/mail:", layout="wide")
    _spanish_widgets()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    st.session_state[RUN_NUMBER] = st.session_state.get(RUN_NUMBER, 0) + 1
    current = settings()
    factory = sessions()
    login.start(current, factory)
    user = login.signed_in(factory) if current.password_login else None
    user = user or sso.signed_in(factory, current)
    _user.set(user)
    page = st.navigation(navigation(user))
    _count_visit(page)
    if user is not None:
        if not sso.active():
            login.write_pending_cookie()
        _sidebar(user, factory)
    # Drawn on every run, empty or not: a notice that came and went would move the page's
    # elements, and a moved data editor is drawn anew without the user's edits.
    notices = st.container()
    if notice := st.session_state.pop("flash", None):
        notices.success(literal(notice))
    token = _through_navigation.set(True)
    try:
        page.run()
    except Exception:
        log.exception("unexpected error on page %s", page.title)
        st.error(APOLOGY)
    finally:
        _through_navigation.reset(token)


def run_number() -> int:
    """How many full runs this browser session has had; fragment reruns do not count.

    Streamlit forgets a widget's state after a full run without it, so a page can tell whether
    a widget was on screen in the run just before this one.
    """
    return st.session_state.get(RUN_NUMBER, 0)


def visit() -> int:
    """Which visit to the current page this is: it goes up whenever a run shows another page
    than the run before (a rerun within the page keeps it), counted before the page runs.

    Streamlit keeps session state across pages, so what a page left behind (a preview, a
    pasted grid) would greet the user coming back; a page puts this in widget keys, or drops
    its own state when it changes, to start each visit afresh.
    """
    return st.session_state.get(VISIT, 0)


def _count_visit(page: st.Page) -> None:
    # The title too: a stand-in (the login form at Masiva's URL) is another page than Masiva.
    shown = (page.url_path, page.title)
    if st.session_state.get(VISITED_PAGE) != shown:
        st.session_state[VISITED_PAGE] = shown
        st.session_state[VISIT] = visit() + 1


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


@dataclass(frozen=True)
class PageSpec:
    file: str
    title: str
    icon: str
    section: str
    roles: frozenset[str]

    @property
    def url_path(self) -> str:
        return Path(self.file).stem


EVERYONE = frozenset(users.ROLES)
ACCOUNT_PAGE, ACCOUNT_TITLE = PAGES_DIR / "cuenta.py", "Mi cuenta"
CATALOG = "Catálogo Envío Masivo"
SENDING = "Envío masivo"
PAGES = (
    PageSpec("inicio.py", "Inicio", ":material/home:", "", EVERYONE),
    PageSpec("catalogo_individual.py", "Individual", ":material/person_add:", CATALOG, EVERYONE),
    PageSpec("catalogo_masiva.py", "Masiva", ":material/group_add:", CATALOG, EVERYONE),
    PageSpec(
        "envio_masivo.py", "Envío masivo estado de cuenta", ":material/send:", SENDING, EVERYONE
    ),
    PageSpec("historial.py", "Historial de envíos", ":material/history:", SENDING, EVERYONE),
    PageSpec("programados.py", "Programados", ":material/schedule:", SENDING, EVERYONE),
    PageSpec("estado_cuenta.py", "Vista previa", ":material/description:", SENDING, EVERYONE),
    PageSpec("datos.py", "Datos", ":material/upload_file:", "Administración", frozenset({"admin"})),
    PageSpec(
        "sociedades.py", "Sociedades", ":material/domain:", "Administración", frozenset({"admin"})
    ),
    PageSpec("usuarios.py", "Usuarios", ":material/group:", "Administración", frozenset({"admin"})),
    PageSpec("cuenta.py", "Mi cuenta", ":material/key:", "Cuenta", EVERYONE),
)


def navigation(user: login.SignedIn | None) -> dict[str, list[st.Page]]:
    """The pages this session may open; every other known URL shows the login form, the
    password change or a "sin acceso" notice instead, so no URL runs a page it should not.
    """
    if user is None:
        return _everything_shows(PAGES_DIR / "login.py", "Ingresar")
    if user.must_change_password:
        return _everything_shows(ACCOUNT_PAGE, ACCOUNT_TITLE)
    sections: dict[str, list[st.Page]] = {}
    for index, spec in enumerate(PAGES):
        if user.role in spec.roles:
            page = st.Page(PAGES_DIR / spec.file, title=spec.title, icon=spec.icon,
                           url_path=spec.url_path, default=index == 0)  # fmt: skip
        else:
            page = st.Page(_no_access, title=spec.title, url_path=spec.url_path,
                           visibility="hidden")  # fmt: skip
        sections.setdefault(spec.section, []).append(page)
    return sections


def _everything_shows(path: Path, title: str) -> dict[str, list[st.Page]]:
    hidden = [_stand_in(path, title, spec) for spec in PAGES if spec.url_path != path.stem]
    return {"": [st.Page(path, title=title, url_path=path.stem, default=True), *hidden]}


def _stand_in(path: Path, title: str, spec: PageSpec) -> st.Page:
    """`path` at the URL of `spec`'s page, for a session that may not open it yet."""
    return st.Page(path, title=title, url_path=spec.url_path, visibility="hidden")


def _no_access() -> None:
    st.warning("No tienes acceso a esta página. Elige una opción del menú.")


def _sidebar(user: login.SignedIn, factory: sessionmaker[Session]) -> None:
    with st.sidebar:
        st.markdown(f"**{user.name}**  \nRol: {user.role}")
        if sso.active():
            sso.logout_button(factory)
        else:
            login.logout_button(factory)


def login_options() -> None:
    """The login page: the provider's button when single sign-on is configured, the password
    form unless PASSWORD_LOGIN=false.
    """
    current = settings()
    if sso.configured():
        sso.login_button(current)
    if current.password_login:
        if hint := first_admin_hint():
            st.info(hint)
        login.login_form()
    elif not sso.configured():
        st.error(
            "No hay forma de ingresar: PASSWORD_LOGIN=false necesita la sección [auth] "
            "de inicio de sesión único en .streamlit/secrets.toml. Avisa al administrador."
        )
