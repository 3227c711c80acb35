"""Datos › Partidas abiertas through AppTest: the effect is shown before a snapshot replaces the
open items, Confirmar applies it, Deshacer última importación puts the replaced items back;
and an unreadable file on any import page is one Spanish message, never the apology.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from lib import db, tables
from lib.models import AuditEvent, OpenItem
from lib.ui import APOLOGY
from tests.test_importers import ITEM_HEADERS
from tests.test_pages import start, upload
from tests.test_tables import HOSTILE, SAVE_AS

ITEMS = ITEM_HEADERS
OPEN_ITEMS_TAB = 2


def items(database_url: str) -> list[tuple[str, Decimal]]:
    engine = db.create_engine_for(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(OpenItem.doc_no, OpenItem.open_amount).order_by(OpenItem.doc_no)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def open_items_file(*documents: tuple[str, str]) -> bytes:
    return tables.write_xlsx(
        ITEMS,
        [
            ["SM02", "1006210", d, "Factura", "01/11/2026", "", "", a, a, "MXN"]
            for d, a in documents
        ],
    )


def button(at: AppTest, label: str):
    [found] = [b for b in at.button if b.label == label]
    return found


@pytest.fixture
def datos(people) -> AppTest:
    at = start("pages/datos.py")
    upload(at, 0, "sociedades.csv", "Sociedad,Nombre\nSM02,Bajío\n".encode())
    upload(at, 1, "clientes.csv", b"Sociedad,No. Cliente,Nombre Cliente\nSM02,1006210,PENA\n")
    assert not at.exception
    return at


@pytest.fixture
def three_items(datos: AppTest, app_env) -> AppTest:
    content = open_items_file(("F1", "100.00"), ("F2", "200.00"), ("F3", "300.00"))
    upload(datos, OPEN_ITEMS_TAB, "inicial.xlsx", content)
    button(datos, "Confirmar").click()
    datos.run()
    assert items(app_env["DATABASE_URL"])[0] == ("F1", Decimal("100.00"))
    return datos


def test_open_items_show_their_effect_and_change_nothing_before_confirmar(
    three_items: AppTest, app_env
) -> None:
    at = upload(three_items, OPEN_ITEMS_TAB, "nuevas.xlsx", open_items_file(("F9", "50.00")))
    assert not at.exception
    assert "Quedan menos que ahora: SM02 pasa de 3 a 1 partida." in at.warning[0].value
    effect = at.tabs[OPEN_ITEMS_TAB].dataframe[0].value.to_dict("records")
    assert effect == [
        {
            "Sociedad": "SM02 · Bajío",
            "Partidas ahora": 3,
            "Partidas después": 1,
            "Saldo ahora": "MXN $600.00",
            "Saldo después": "MXN $50.00",
        }
    ]
    assert len(items(app_env["DATABASE_URL"])) == 3
    button(at, "Confirmar").click()
    at.run()
    assert items(app_env["DATABASE_URL"]) == [("F9", Decimal("50.00"))]
    assert "1 fila importada" in at.success[0].value
    applied = at.tabs[OPEN_ITEMS_TAB].dataframe[0].value
    assert list(applied.columns)[1:3] == ["Partidas antes", "Partidas ahora"]


def test_cancelar_leaves_the_open_items_as_they_were(three_items: AppTest, app_env) -> None:
    at = upload(three_items, OPEN_ITEMS_TAB, "nuevas.xlsx", open_items_file(("F9", "50.00")))
    button(at, "Cancelar").click()
    at.run()
    assert not [b for b in at.button if b.label == "Confirmar"]
    assert len(items(app_env["DATABASE_URL"])) == 3


def test_deshacer_puts_back_the_items_the_last_import_replaced(
    three_items: AppTest, app_env
) -> None:
    before = items(app_env["DATABASE_URL"])
    at = upload(three_items, OPEN_ITEMS_TAB, "nuevas.xlsx", open_items_file(("F9", "50.00")))
    button(at, "Confirmar").click()
    at.run()
    undo = [b for b in at.button if b.label == "Deshacer última importación"]
    assert len(undo) == 1  # one sociedad with an import to undo
    assert any(m.value.startswith("**SM02** · Bajío: nuevas.xlsx") for m in at.markdown)
    undo[0].click()
    at.run()
    assert "Se quita 1 partida que trajo y vuelven 3 partidas que reemplazó." in at.warning[0].value
    assert items(app_env["DATABASE_URL"]) == [("F9", Decimal("50.00"))]
    button(at, "Sí, deshacer").click()
    at.run()
    assert not at.exception
    assert items(app_env["DATABASE_URL"]) == before
    assert "se quitó 1 partida y se repusieron 3 partidas" in at.success[0].value
    engine = db.create_engine_for(app_env["DATABASE_URL"])
    with engine.connect() as connection:
        actions = connection.scalars(sa.select(AuditEvent.action)).all()
    engine.dispose()
    assert actions.count("undo_import") == 1


@pytest.mark.parametrize("tab", [0, 1, OPEN_ITEMS_TAB], ids=["sociedades", "clientes", "partidas"])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_an_unreadable_file_on_datos_is_one_spanish_message(
    people, app_env, case: str, tab: int
) -> None:
    filename, content, words = HOSTILE[case]
    at = upload(start("pages/datos.py"), tab, filename, content)
    assert not at.exception
    [message] = [e.value for e in at.error]
    assert words in message
    assert message.endswith(SAVE_AS)
    assert APOLOGY not in message


@pytest.mark.parametrize("case", list(HOSTILE))
def test_an_unreadable_file_on_masiva_is_one_spanish_message(people, case: str) -> None:
    filename, content, words = HOSTILE[case]
    at = start("pages/catalogo_masiva.py")
    at.radio[0].set_value(at.radio[0].options[1]).run()
    at.get("file_uploader")[0].set_value((filename, content, "application/octet-stream"))
    button(at, "Procesar").click()
    at.run()
    assert not at.exception
    [message] = [e.value for e in at.error]
    assert words in message
    assert message.endswith(SAVE_AS)
