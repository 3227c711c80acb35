"""Ten people in the app at once while a send run goes on (issue #7).

One real `streamlit run` (the `app_server` fixture) with its own background worker sending a run
of every demo catalog customer to the outbox. Ten sessions are ten Playwright browser *contexts*
(separate cookies and websockets, as ten people) in the one shared Chromium: ten Chromium
processes would not fit this 2-core machine, and ten contexts stay well under two minutes.
Playwright's sync API is single-threaded, so each step is started in all ten sessions first and
then every session is polled until it shows its outcome: the server handles all ten at the same
time, and each session's latency runs from its own click to its own result.

Each session logs in as its own analista, searches the catalog (Búsqueda) and adds a distinct
customer (Catálogo › Individual, Grabar). Then: no session shows an error or a traceback, every
catalog write is in the database, and the run finishes with every customer sent exactly once.
Figures are printed (`pytest -s`) and recorded in docs/PERFORMANCE.md ("Concurrency").
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from sqlalchemy.orm import Session, sessionmaker

from lib import users
from lib.models import Customer, Recipient, SendItem
from lib.sending import runs
from lib.sending.status import ItemStatus
from tests.support import AppServer
from tests.test_browser import IDLE, session_cookie

SESSIONS = 10
PASSWORD = "clave-concurrente-1"
STEP_SECONDS = 90
RUN_SECONDS = 240


def username(index: int) -> str:
    return f"analista{index}"


@pytest.fixture
def analysts(people: dict[str, str], database: sessionmaker[Session]) -> list[str]:
    with database() as session, session.begin():
        for index in range(SESSIONS):
            users.create_user(session, username=username(index), name=f"Analista {index}",
                              email=f"{username(index)}@e.example", role="analista",
                              password=PASSWORD, created_by="test")  # fmt: skip
    return [username(index) for index in range(SESSIONS)]


@pytest.fixture
def busy_server(
    analysts: list[str],
    app_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> AppServer:
    """The app with demo data and its own send worker writing to an outbox in `tmp_path`."""
    monkeypatch.setenv("WORKERS", "2")
    monkeypatch.setenv("DEMO_DATA", "true")
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    return request.getfixturevalue("app_server")


def form(page: Page, index: int) -> Locator:
    """Catálogo › Individual: form 0 is the alta, form 1 the Búsqueda."""
    return page.locator('[data-testid="stForm"]').nth(index)


def all_until(
    pages: list[Page], started: list[float], shown: Callable[[Page], bool]
) -> list[float]:
    """Poll every page until `shown(page)`; each page's seconds since its own `started`."""
    latency: list[float | None] = [None] * len(pages)
    deadline = time.monotonic() + STEP_SECONDS
    while None in latency:
        assert time.monotonic() < deadline, f"sessions still waiting: {latency}"
        for index, page in enumerate(pages):
            if latency[index] is None and shown(page):
                latency[index] = time.monotonic() - started[index]
        pages[0].wait_for_timeout(50)
    return latency  # type: ignore[return-value]


def idle(page: Page) -> bool:
    return page.locator(IDLE).count() == 1


def run_state(database: sessionmaker[Session], run_id: int) -> runs.Progress:
    with database() as session:
        return runs.progress(session, run_id)


def start_send_run(database: sessionmaker[Session]) -> tuple[int, int]:
    """A run of every catalog customer, created through lib.sending as Procesar does."""
    with database() as session, session.begin():
        keys = list(session.execute(sa.select(Recipient.company_code, Recipient.customer_no)))
        run = runs.create_run(session, username="root", notify_email="root@e.example",
                                 keys=[tuple(k) for k in keys], cutoff=date.today(),
                                 run_date=date.today())  # fmt: skip
        return run.id, run.total


def new_customers(database: sessionmaker[Session]) -> list[str]:
    """SM02 customers not yet in the catalog, one per session."""
    with database() as session:
        listed = sa.select(Recipient.customer_no).where(Recipient.company_code == "SM02")
        numbers = session.scalars(
            sa.select(Customer.customer_no)
            .where(Customer.company_code == "SM02", Customer.customer_no.not_in(listed))
            .order_by(Customer.customer_no)
            .limit(SESSIONS)
        ).all()
    assert len(numbers) == SESSIONS
    return list(numbers)


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[round(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered):.2f} s, p90 {p90:.2f} s, max {ordered[-1]:.2f} s"


def test_ten_sessions_edit_the_catalog_while_a_send_run_goes_on(
    busy_server: AppServer, browser: Browser, database: sessionmaker[Session], tmp_path: Path
) -> None:
    began = time.monotonic()
    contexts: list[BrowserContext] = [
        browser.new_context(viewport={"width": 1400, "height": 900}, locale="es-MX")
        for _ in range(SESSIONS)
    ]
    try:
        pages = [context.new_page() for context in contexts]
        # The first run of the app loads the demo data and starts its send worker.
        pages[0].goto(f"{busy_server.url}/catalogo_individual")
        expect(pages[0].get_by_role("textbox", name="Usuario", exact=True)).to_be_visible(
            timeout=60_000
        )
        run_id, total = start_send_run(database)
        numbers = new_customers(database)

        for page in pages[1:]:
            page.goto(f"{busy_server.url}/catalogo_individual")
        for page in pages:
            expect(page.get_by_role("textbox", name="Usuario", exact=True)).to_be_visible(
                timeout=60_000
            )
        # Every page has drawn its login form and finished its first run.
        all_until(pages, [time.monotonic()] * SESSIONS, idle)
        opened = time.monotonic()
        at_start = run_state(database, run_id)

        started = []
        for index, page in enumerate(pages):
            page.get_by_role("textbox", name="Usuario", exact=True).fill(username(index))
            page.get_by_role("textbox", name="Contraseña", exact=True).fill(PASSWORD)
            started.append(time.monotonic())
            page.get_by_role("button", name="Ingresar").click()
        login = all_until(
            pages,
            started,
            lambda p: p.get_by_role("button", name="Cerrar sesión").is_visible() and idle(p),
        )
        # The remember-me cookie's component reruns each app once more, after it wrote the
        # cookie: a click sent into that rerun can be lost (seen in CI under load, after a fixed
        # 1 s wait). So wait for every cookie, then for every page to be idle, as log_in does.
        all_until(pages, [time.monotonic()] * SESSIONS, lambda p: session_cookie(p) is not None)
        pages[0].wait_for_timeout(300)
        all_until(pages, [time.monotonic()] * SESSIONS, idle)

        started = []
        for page in pages:
            form(page, 1).get_by_role("textbox", name="Nombre o correo contiene").fill("SA")
            started.append(time.monotonic())
            form(page, 1).get_by_role("button", name="Buscar").click()
        search = all_until(
            pages, started, lambda p: p.get_by_text(re.compile(r"^Mostrando \d")).is_visible()
        )

        started = []
        for index, page in enumerate(pages):
            alta = form(page, 0)
            alta.get_by_role("textbox", name="No. Cliente").fill(numbers[index])
            alta.get_by_role("textbox", name="Correo(s)").fill(f"sesion{index}@concurrencia.mx")
            started.append(time.monotonic())
            alta.get_by_role("button", name="Grabar").click()
        grabar = all_until(
            pages,
            started,
            lambda p: p.get_by_text("quedó dado de alta en el catálogo").is_visible() and idle(p),
        )
        sessions_done = time.monotonic()
        at_end = run_state(database, run_id)

        for index, page in enumerate(pages):
            assert page.locator('[data-testid="stException"]').count() == 0, index
            assert page.locator('[data-testid="stAlertContentError"]').count() == 0, index
            expect(page.get_by_text(f"El cliente {numbers[index]} (")).to_be_visible()
    finally:
        for context in contexts:
            context.close()

    with database() as session:
        stored = dict(
            session.execute(
                sa.select(Recipient.customer_no, Recipient.emails).where(
                    Recipient.customer_no.in_(numbers), Recipient.company_code == "SM02"
                )
            ).all()
        )
        authors = set(
            session.scalars(
                sa.select(Recipient.created_by).where(Recipient.customer_no.in_(numbers))
            )
        )
    assert stored == {number: f"sesion{i}@concurrencia.mx" for i, number in enumerate(numbers)}
    assert authors == {username(index) for index in range(SESSIONS)}

    deadline = time.monotonic() + RUN_SECONDS
    while not (final := run_state(database, run_id)).finished:
        assert time.monotonic() < deadline, f"run {run_id} not finished: {final.counts}"
        time.sleep(0.5)
    run_done = time.monotonic()
    with database() as session:
        items = list(session.scalars(sa.select(SendItem).where(SendItem.run_id == run_id)))
    assert len(items) == total
    assert {item.status for item in items} == {ItemStatus.SENT}
    assert {item.attempts for item in items} == {1}
    outbox = [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted((tmp_path / "outbox").glob("*.eml"))
    ]
    # A long Message-ID (SM02 sends from its own, longer domain) is folded onto its own line,
    # which the parser hands back with the fold's leading space.
    sent_ids = Counter(str(message["Message-ID"]).strip() for message in outbox)
    assert all(sent_ids[item.message_id] == 1 for item in items)
    assert len(outbox) == total + 1  # and the log email

    print(  # noqa: T201 - the figures issue #7 asks for, read with `pytest -s`
        f"\n{SESSIONS} sessions, send run of {total} customers "
        f"({at_start.done} done when the sessions logged in, {at_end.done} when they finished)\n"
        f"ten login forms shown {opened - began:.1f} s after the first page was asked for\n"
        f"login:  {summary(login)}\n"
        f"search: {summary(search)}\n"
        f"grabar: {summary(grabar)}\n"
        f"sessions wall time {sessions_done - began:.1f} s; run finished "
        f"{run_done - began:.1f} s after the first page opened"
    )
