"""Envío masivo › Programados in a real browser, on the demo data: a schedule written with the
form, its occurrence run by `due.run_due` (what the app's workers call every 20 s) against the
app's own database, and the run it made in Últimas ejecuciones and in Historial de envíos."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from lib import config, formatting
from lib.models import Schedule
from lib.scheduling import due
from tests.support import AppServer
from tests.test_browser import settle
from tests.test_browser_catalogo import choose, open_page, table
from tests.test_browser_widths import LAPTOP, overflow, visit


def schedule(database: sessionmaker[Session], number: int) -> Schedule:
    with database() as session:
        return session.get(Schedule, number)


def test_a_schedule_made_in_the_form_runs_and_its_run_shows_in_both_tables(
    with_demo_data: None,
    people: dict[str, str],
    app_server: AppServer,
    page: Page,
    database: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    page.set_viewport_size(LAPTOP)
    open_page(page, app_server, people, "programados")
    expect(page.get_by_role("heading", name="Programados")).to_be_visible()
    expect(page.get_by_text("Aún no hay envíos programados")).to_be_visible()

    choose(page, page, "Sociedad", "SM05")
    day = page.get_by_role("spinbutton", name="Día del mes")
    day.fill("28")
    day.press("Enter")
    settle(page)
    expect(page.get_by_text(re.compile(r"el próximo envío sale el 28/"))).to_be_visible()
    page.get_by_role("button", name="Grabar").click()
    saved = page.get_by_text(re.compile(r"Programado núm\. 1 grabado\. Próximo envío: "))
    expect(saved).to_be_visible()
    settle(page)

    zone = config.load_settings().timezone
    made = schedule(database, 1)
    assert (made.company_code, made.owner, made.day_of_month) == ("SM05", "ana", 28)
    following = formatting.moment(made.next_run_at, zone)
    expect(saved).to_have_text(f"Programado núm. 1 grabado. Próximo envío: {following}.")
    (row,) = table(page, 0)
    assert (row["Núm."], row["Sociedad"], row["Clientes"], row["Frecuencia"]) == (
        "1", "SM05", "Todos", "Mensual, día 28, 07:00"
    )  # fmt: skip
    assert (row["Próximo envío"], row["Estado"], row["Dueño"]) == (following, "▶️ Activo", "ana")
    expect(page.get_by_text("Aún no ha llegado ninguna de sus fechas.")).to_be_visible()
    assert overflow(page) == [], "Programados' table at 1366 px"
    page.screenshot(path=tmp_path / "programados.png", full_page=True)

    (occurred,) = due.run_due(database, config.load_settings(), now=made.next_run_at)
    assert (occurred.schedule_id, occurred.outcome) == (1, "started")
    assert occurred.run_id is not None

    page.reload()
    expect(page.get_by_role("heading", name="Programados")).to_be_visible(timeout=30_000)
    settle(page)
    choose(page, page, "Programado", "Núm. 1")
    expect(page.get_by_role("heading", name="Últimas ejecuciones")).to_be_visible()
    settle(page)
    (ran,) = table(page, 1)
    assert ran == {
        "Programado para": following,
        "Resultado": "✅ Envío creado",
        "Envío núm.": str(occurred.run_id),
        "Motivo": "",
    }
    assert overflow(page) == [], "Últimas ejecuciones at 1366 px"
    page.screenshot(path=tmp_path / "ultimas_ejecuciones.png", full_page=True)

    visit(page, "Historial de envíos", "Historial de envíos")
    settle(page)
    listed = {r["Núm."]: r for r in table(page, 0)}
    assert str(occurred.run_id) in listed
    run = listed[str(occurred.run_id)]
    assert (run["Iniciado por"], run["Sociedad"], run["Programado"]) == ("ana", "SM05", "1")
    page.screenshot(path=tmp_path / "historial.png", full_page=True)
