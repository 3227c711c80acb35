"""Datos › Partidas abiertas in a real browser, on the demo data: Importar only shows the effect
per sociedad, Cancelar leaves everything as it was, Confirmar replaces the sociedad's open items,
and Deshacer última importación (after Sí, deshacer) puts the replaced ones back.

Screenshots of the effect and of the undo question go to the test's `tmp_path`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from lib import importers, tables
from lib.models import AuditEvent, Company, Customer, OpenItem
from lib.open_item_imports import ITEM_COLUMNS
from tests.support import AppServer
from tests.test_browser import log_in, settle
from tests.test_browser_catalogo import table

SOCIEDAD = "SU01"  # the smallest demo sociedad, billed in USD

Item = tuple[object, ...]


def open_items(database: sessionmaker[Session]) -> dict[str, list[Item]]:
    """Every open item, all its columns, sorted, per sociedad."""
    with database() as session:
        rows = session.execute(sa.select(*[getattr(OpenItem, c) for c in ITEM_COLUMNS])).all()
    by_company: dict[str, list[Item]] = {}
    for row in sorted(tuple(r) for r in rows):
        by_company.setdefault(str(row[0]), []).append(row)
    return by_company


def keys(rows: list[Item]) -> set[tuple[object, ...]]:
    """(customer, doc_no, open_amount) of each item."""
    position = {name: i for i, name in enumerate(ITEM_COLUMNS)}
    return {
        (r[position["customer_no"]], r[position["doc_no"]], r[position["open_amount"]])
        for r in rows
    }


def snapshot_file(path: Path, customer: str) -> Path:
    """Two open items of `customer` in SOCIEDAD, with the import's own column titles."""
    headers = [c.title for c in importers.KINDS["open-items"].columns]
    rows = [
        [SOCIEDAD, customer, doc, "Factura", day, "", "", amount, amount, "USD"]
        for doc, day, amount in (
            ("PRUEBA-1", "01/11/2026", "1234.50"),
            ("PRUEBA-2", "15/11/2026", "99.00"),
        )
    ]
    path.write_bytes(tables.write_xlsx(headers, rows))
    return path


def upload_and_import(page: Page, file: Path) -> None:
    page.get_by_role("tab", name="Partidas abiertas").click()
    panel = page.get_by_role("tabpanel", name="Partidas abiertas")
    # Through the file chooser, as a user does: setting the same file again straight on the
    # input after Cancelar is no change to Chromium, and the uploader would stay empty.
    with page.expect_file_chooser() as chooser:
        panel.get_by_role("button", name="Buscar archivo").click()
    chooser.value.set_files(file)
    expect(panel.get_by_text(file.name)).to_be_visible()
    page.get_by_role("button", name="Importar").filter(visible=True).click()
    expect(page.get_by_role("button", name="Confirmar")).to_be_visible(timeout=30_000)
    settle(page)


def test_partidas_abiertas_import_shows_its_effect_cancels_confirms_and_undoes(
    with_demo_data: None,
    people: dict[str, str],
    app_server: AppServer,
    page: Page,
    database: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    # Without the File System Access API, a table's CSV export is an ordinary download.
    page.add_init_script("delete window.showSaveFilePicker")
    page.goto(f"{app_server.url}/datos")
    log_in(page, "root", people["root"])  # `root` is the admin of `people`
    expect(page.get_by_role("heading", name="Datos")).to_be_visible(timeout=30_000)

    original = open_items(database)
    with database() as session:
        name = session.scalar(sa.select(Company.name).where(Company.code == SOCIEDAD))
        customer = session.scalar(
            sa.select(Customer.customer_no)
            .where(Customer.company_code == SOCIEDAD)
            .order_by(Customer.customer_no)
            .limit(1)
        )
    assert len(original[SOCIEDAD]) > 2
    assert len(original) == 3
    file = snapshot_file(tmp_path / "partidas_su01.xlsx", customer)

    # 1. Importar only shows the effect: SU01 goes from its items to 2; nothing is written.
    upload_and_import(page, file)
    expect(
        page.get_by_text(f"Quedan menos que ahora: {SOCIEDAD} pasa de {len(original[SOCIEDAD])}")
    ).to_be_visible()
    [effect] = table(page)
    assert effect["Sociedad"] == f"{SOCIEDAD} · {name}"
    assert int(effect["Partidas ahora"]) == len(original[SOCIEDAD])
    assert int(effect["Partidas después"]) == 2
    assert effect["Saldo después"] == "USD $1,333.50"
    # Streamlit scrolls its own main block, so a full-page shot would stop at the viewport.
    page.get_by_role("button", name="Cancelar").scroll_into_view_if_needed()
    page.mouse.move(0, 0)  # no grid toolbar left over from reading the table
    page.screenshot(path=tmp_path / "efecto.png")
    assert open_items(database) == original

    # 2. Cancelar: the question is gone and nothing changed.
    page.get_by_role("button", name="Cancelar").click()
    settle(page)
    expect(page.get_by_role("button", name="Confirmar")).to_have_count(0)
    expect(page.get_by_text("Revisa el efecto de")).to_have_count(0)
    assert open_items(database) == original

    # 3. Importar again, Confirmar: SU01 has exactly the 2 items, the others are as they were.
    upload_and_import(page, file)
    page.get_by_role("button", name="Confirmar").click()
    expect(page.get_by_text(re.compile(r"^Partidas abiertas: 2 filas importadas"))).to_be_visible(
        timeout=30_000
    )
    settle(page)
    imported = open_items(database)
    assert keys(imported[SOCIEDAD]) == {
        (customer, "PRUEBA-1", Decimal("1234.50")),
        (customer, "PRUEBA-2", Decimal("99.00")),
    }
    assert len(imported[SOCIEDAD]) == 2
    assert {c: r for c, r in imported.items() if c != SOCIEDAD} == {
        c: r for c, r in original.items() if c != SOCIEDAD
    }

    # 4. Deshacer última importación → the question → Sí, deshacer: the replaced items are back.
    expect(page.get_by_role("heading", name="Deshacer última importación")).to_be_visible()
    expect(page.get_by_text(f"{name}: {file.name}")).to_contain_text("reemplazó")
    page.get_by_role("button", name="Deshacer última importación").click()
    question = page.get_by_text(f"¿Deshacer la importación de {file.name} en {SOCIEDAD}?")
    expect(question).to_be_visible(timeout=30_000)
    settle(page)
    page.get_by_role("button", name="Sí, deshacer").scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "deshacer.png")
    page.get_by_role("button", name="Sí, deshacer").click()
    expect(page.get_by_text(f"Importación deshecha en {SOCIEDAD}")).to_be_visible(timeout=30_000)
    settle(page)
    expect(question).to_have_count(0)
    expect(page.get_by_role("button", name="Deshacer última importación")).to_have_count(0)
    restored = open_items(database)
    assert keys(restored[SOCIEDAD]) == keys(original[SOCIEDAD])
    assert restored == original
    with database() as session:
        undone = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "undo_import")
        ).all()
    assert [(e.username, e.entity_key) for e in undone] == [("root", SOCIEDAD)]
