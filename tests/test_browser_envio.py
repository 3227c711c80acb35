"""Manual section 3 in a real browser: the app's own worker sends to aiosmtpd on loopback."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import date

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from lib import config
from lib.catalog import company_choices
from lib.models import Recipient, SendRun
from lib.sending import runs
from tests.mailserver import MailServer
from tests.support import AppServer
from tests.test_browser import log_in, settle

ANA = "ana@e.example"


@pytest.fixture
def smtp(with_demo_data: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    """The app sends through SMTP to this server, with its background worker on."""
    with MailServer() as server:
        settings = {"MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1",
                    "SMTP_PORT": str(server.port), "SMTP_SECURITY": "none",
                    "MAIL_RATE_PER_MINUTE": "0", "WORKERS": "2"}  # fmt: skip
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        yield server


def su01_catalog(database: sessionmaker[Session]) -> list[runs.Candidate]:
    with database() as session:
        return runs.candidates(session, "SU01", None, date.today())


def open_send_page(page: Page, app_server: AppServer, people: dict[str, str]) -> None:
    page.goto(f"{app_server.url}/envio_masivo")
    log_in(page, "ana", people["ana"])
    expect(page.get_by_role("heading", name="Envío masivo estado de cuenta")).to_be_visible()


def search(page: Page, company: str) -> None:
    page.get_by_role("combobox").first.click()
    page.get_by_role("option", name=re.compile(f"^{company}")).click()
    page.get_by_role("button", name="Buscar").click()
    settle(page)
    expect(page.get_by_text(re.compile(r"\d+ de \d+ clientes seleccionados"))).to_be_visible()


def untick(page: Page, rows: list[int], total: int) -> None:
    """Click the Enviar checkbox of these rows in the editor's canvas (rows of 35 px under a
    35 px header, the Enviar column first), each click confirmed by the count under the table.
    """
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    expect(grid.locator("canvas").first).to_be_visible()
    for done, row in enumerate(rows, start=1):
        cell = {"x": 40, "y": 35 + 35 * row + 17}
        grid.hover(position=cell)
        grid.click(position=cell)
        expect(
            page.get_by_text(f"{total - done} de {total} clientes seleccionados")
        ).to_be_visible()
        settle(page)


def send_first_run(page: Page) -> None:
    """Procesar, Enviar at its question, and wait until the first run is Terminado."""
    page.get_by_role("button", name="Procesar").click()
    page.get_by_role("button", name="Enviar").click()
    expect(page.get_by_role("heading", name="Envío núm. 1 · Terminado")).to_be_visible(
        timeout=120_000
    )
    settle(page)


def figure(page: Page, label: str) -> Locator:
    block = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    return block.locator('[data-testid="stMetricValue"]')


def test_envio_masivo_sends_exactly_the_selected_customers_and_the_log(
    smtp: MailServer, people: dict[str, str], app_server: AppServer, page: Page, database
) -> None:
    open_send_page(page, app_server, people)
    search(page, "SU01")
    catalog = su01_catalog(database)
    expect(
        page.get_by_text(f"{len(catalog)} de {len(catalog)} clientes seleccionados")
    ).to_be_visible()

    untick(page, [1, 3], len(catalog))
    chosen = [c for i, c in enumerate(catalog) if i not in (1, 3)]
    with database() as session:
        name = company_choices(session)["SU01"]
    addresses = sum(len(c.emails.split(";")) for c in chosen)
    question = page.get_by_text(
        f"Se enviarán {len(chosen)} estados de cuenta de {name} con fecha de corte "
        f"{config.load_settings().today():%d/%m/%Y} a {len(chosen)} clientes ({addresses} correos)."
    )
    page.get_by_role("button", name="Procesar").click()
    expect(question).to_be_visible()
    page.get_by_role("button", name="Cancelar").click()
    expect(question).to_be_hidden()
    expect(page.get_by_text(f"{len(chosen)} de {len(catalog)} clientes")).to_be_visible()
    with database() as session:
        assert session.query(SendRun).count() == 0, "Procesar and Cancelar create nothing"

    page.get_by_role("button", name="Procesar").click()
    expect(question).to_be_visible()
    page.get_by_role("button", name="Enviar").click()
    expect(page.get_by_role("heading", name=re.compile("Envío núm. 1"))).to_be_visible()
    with database() as session:
        assert runs.progress(session, 1).run.total == len(catalog) - 2

    expect(page.get_by_role("heading", name="Envío núm. 1 · Terminado")).to_be_visible(
        timeout=120_000
    )
    settle(page)
    expect(figure(page, "Enviados")).to_have_text(str(len(catalog) - 2))
    expect(figure(page, "Pendientes")).to_have_text("0")
    expect(page.get_by_text(f"El log se envió a {ANA}.")).to_be_visible()
    expected = sorted(c.emails.split(";")[0] for c in chosen)
    received = sorted(m.recipients[0] for m in smtp.received if ANA not in m.recipients)
    assert received == expected
    (log_mail,) = smtp.to(ANA)
    log = next(log_mail.message.iter_attachments()).get_content()
    assert len(log.splitlines()) == len(chosen)
    assert all(line.endswith("| Enviado: ok") for line in log.splitlines())


def start_stalled_run(
    smtp: MailServer, page: Page, app_server: AppServer, people: dict[str, str]
) -> None:
    """Procesar for SU01 with the server holding the first customer's DATA until released."""
    smtp.faults.stall_data = threading.Event()
    open_send_page(page, app_server, people)
    search(page, "SU01")
    page.get_by_role("button", name="Procesar").click()
    page.get_by_role("button", name="Enviar").click()
    assert smtp.handler.in_data.wait(60)


def test_closing_the_page_mid_run_does_not_stop_it(
    smtp: MailServer, people: dict[str, str], app_server: AppServer, page: Page, database
) -> None:
    start_stalled_run(smtp, page, app_server, people)
    expect(page.get_by_role("heading", name=re.compile("Envío núm. 1"))).to_be_visible()
    context = page.context
    page.close()
    smtp.faults.stall_data.set()
    time.sleep(0.5)

    again = context.new_page()
    again.goto(f"{app_server.url}/envio_masivo")
    expect(again.get_by_role("heading", name="Envío núm. 1 · Terminado")).to_be_visible(
        timeout=120_000
    )
    catalog = su01_catalog(database)
    assert len([m for m in smtp.received if ANA not in m.recipients]) == len(catalog)


# Notes in window.staleSeen[name] whether the element's block is ever greyed out as being
# redrawn (Streamlit's data-stale), which is what made the buttons hard to click.
WATCH_STALE = """(element, name) => {
    const block = element.closest('[data-testid="stElementContainer"]');
    window.staleSeen = window.staleSeen || {};
    new MutationObserver(() => {
        if (block.dataset.stale === "true") window.staleSeen[name] = true;
    }).observe(block, {attributes: true, attributeFilter: ["data-stale"]});
}"""


def test_detener_stays_still_while_the_run_refreshes_and_the_run_reads_detenido(
    smtp: MailServer, people: dict[str, str], app_server: AppServer, page: Page, database
) -> None:
    start_stalled_run(smtp, page, app_server, people)

    page.get_by_role("button", name="Detener envío").click()
    expect(page.get_by_text(re.compile("quedarán como detenidos"))).to_be_visible()
    confirm = page.get_by_role("button", name="Sí, detener")
    confirm.evaluate(WATCH_STALE, "boton")
    page.locator('[data-testid="stProgress"]').evaluate(WATCH_STALE, "avance")
    # The user reads the question while the progress above it is redrawn every second: the
    # progress goes stale at each redraw, the button never does (it is not redrawn).
    page.wait_for_timeout(2_500)
    assert page.evaluate("window.staleSeen") == {"avance": True}
    confirm.click()
    total = len(su01_catalog(database))
    notice = page.get_by_text(
        re.compile(r"Envío núm\. 1 detenido: \d+ clientes quedaron sin enviar\.")
    )
    expect(notice).to_be_visible(timeout=30_000)
    stopped = int(re.search(r"(\d+) clientes", notice.inner_text()).group(1))
    # Each worker process (WORKERS=2) may hold one customer: those finish.
    assert total - 2 <= stopped <= total - 1
    expect(page.get_by_role("button", name="Detener envío")).to_have_count(0)
    smtp.faults.stall_data.set()

    expect(page.get_by_role("heading", name="Envío núm. 1 · Detenido")).to_be_visible(
        timeout=60_000
    )
    # Polled: the heading can be redrawn a moment before the figures under it.
    expect(figure(page, "Enviados")).to_have_text(str(total - stopped))
    expect(figure(page, "Detenidos")).to_have_text(str(stopped))
    expect(figure(page, "Con error")).to_have_text("0")
    assert len([m for m in smtp.received if ANA not in m.recipients]) == total - stopped
    (log_mail,) = smtp.to(ANA)
    log = next(log_mail.message.iter_attachments()).get_content().splitlines()
    assert sum(line.endswith("Enviado: error: envío detenido por ana") for line in log) == stopped


def test_an_address_the_server_refuses_shows_the_customer_partial_with_the_reason(
    smtp: MailServer, people: dict[str, str], app_server: AppServer, page: Page, database
) -> None:
    open_send_page(page, app_server, people)  # the app loads its demo data on the first page
    first = su01_catalog(database)[0]
    refused = f"antigua.{first.emails.split(';')[0]}"
    with database() as session, session.begin():
        session.execute(
            update(Recipient)
            .where(Recipient.company_code == "SU01", Recipient.customer_no == first.customer_no)
            .values(emails=f"{first.emails};{refused}")
        )
    catalog = su01_catalog(database)
    smtp.faults.refuse[refused] = "550 5.1.1 User unknown"
    search(page, "SU01")

    send_first_run(page)

    expect(figure(page, "Parciales")).to_have_text("1")
    expect(figure(page, "Enviados")).to_have_text(str(len(catalog) - 1))
    (log_mail,) = smtp.to(ANA)
    log = next(log_mail.message.iter_attachments()).get_content()
    assert f"Enviado: parcial: {refused}: rechazado: 550 5.1.1 User unknown" in log
