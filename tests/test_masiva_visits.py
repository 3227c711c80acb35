"""Masiva starts afresh on every visit (issue #15): coming back from another page shows an
empty grid and no earlier preview or result, so Grabar cannot save rows of an earlier visit;
reruns within the page keep them."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.support import seed_catalog
from tests.test_catalogo_pages import MASIVA, button, paste
from tests.test_pages import start

ROWS = [["SM02", "1006210", "a@pena.mx"], ["SM02", "1004273", "nuevo@y.mx"]]


@pytest.fixture
def customers(people, database) -> None:
    seed_catalog(database)


def procesar(at: AppTest) -> AppTest:
    button(at, "Procesar").click()
    return at.run()


def leave_and_come_back(at: AppTest) -> AppTest:
    at.switch_page("pages/inicio.py")
    at.run()
    at.switch_page(MASIVA)
    return at.run()


def test_reruns_within_the_page_keep_the_preview(customers) -> None:
    at = procesar(paste(start(MASIVA, user="ana"), ROWS))
    visit = at.session_state["ui-visita"]
    at.run()
    assert at.session_state["ui-visita"] == visit
    assert list(at.dataframe[-1].value["Verificación"]) == ["nuevo", "actualiza"]
    assert not button(at, "Grabar").disabled


def test_coming_back_shows_an_empty_grid_and_no_preview(customers) -> None:
    at = procesar(paste(start(MASIVA, user="ana"), ROWS))
    assert not button(at, "Grabar").disabled

    at = leave_and_come_back(at)

    assert not at.exception
    assert "masiva" not in at.session_state
    assert [d.value.columns.tolist() for d in at.dataframe] == [
        ["Sociedad", "No. Cliente", "Correo"]
    ]
    assert not at.warning
    assert button(at, "Grabar").disabled
    at = procesar(at)
    assert at.warning[0].value.startswith("No hay filas para procesar")
    assert button(at, "Grabar").disabled


def test_the_earlier_visits_grid_state_is_not_used_again(customers) -> None:
    """The browser may still hold the grid it showed before leaving and send its edits back."""
    at = procesar(paste(start(MASIVA, user="ana"), ROWS))
    at = leave_and_come_back(at)

    at = procesar(paste(at, ROWS, generation=0))

    assert at.warning[0].value.startswith("No hay filas para procesar")
    assert button(at, "Grabar").disabled


def test_coming_back_after_grabar_shows_no_result(customers, database) -> None:
    at = procesar(paste(start(MASIVA, user="ana"), ROWS))
    button(at, "Grabar").click()
    at.run()
    assert at.success[0].value == "Se grabaron 2 de 2 filas."

    at = leave_and_come_back(at)

    assert not at.success
    assert "masiva-resultado" not in at.session_state
    assert len(at.dataframe) == 1
    assert button(at, "Grabar").disabled


def test_a_fresh_visit_pastes_into_the_new_grid(customers) -> None:
    at = leave_and_come_back(procesar(paste(start(MASIVA, user="ana"), ROWS)))

    at = procesar(paste(at, ROWS[:1], generation=at.session_state["masiva-generacion"]))

    assert list(at.dataframe[-1].value["Verificación"]) == ["nuevo"]
    assert not button(at, "Grabar").disabled


def test_switching_origen_and_back_gives_a_new_grid(customers) -> None:
    """In the browser a new key is a grid with no cell selected, where a paste lands."""
    at = paste(start(MASIVA, user="ana"), ROWS)
    at.radio[0].set_value("Subir archivo")
    at.run()
    at.radio[0].set_value("Pegar desde Excel")
    at = procesar(at.run())

    assert at.session_state["masiva-generacion"] == 2
    assert at.warning[0].value.startswith("No hay filas para procesar")
