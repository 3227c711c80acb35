"""Catálogo pages through AppTest: Individual (alta, Búsqueda, Borrado) and Masiva."""

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from lib import tables
from lib.models import Customer, Recipient
from tests.support import seed_catalog
from tests.test_pages import start

INDIVIDUAL = "pages/catalogo_individual.py"
MASIVA = "pages/catalogo_masiva.py"


@pytest.fixture
def customers(people, database) -> None:
    seed_catalog(database)


def stored(database) -> dict[str, str]:
    with database() as session:
        return dict(session.execute(sa.select(Recipient.customer_no, Recipient.emails)).all())


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def grabar(at: AppTest, company: str, customer: str, emails: str) -> AppTest:
    at.selectbox[0].select(company)
    at.text_input[0].input(customer)
    at.text_input[1].input(emails)
    button(at, "Grabar").click()
    return at.run()


def test_grabar_adds_a_customer_and_names_it(customers, database) -> None:
    at = grabar(
        start(INDIVIDUAL, user="ana"), "SM02", "0001006210", "Cobranza@Pena.MX; pagos@pena.mx"
    )
    assert not at.exception
    assert at.success[0].value == (  # the Markdown a browser shows as "PEÑA & HIJOS <SA>"
        "El cliente 1006210 (PEÑA & HIJOS \\<SA\\>) quedó dado de alta en el catálogo de la "
        "sociedad SM02."
    )
    assert stored(database)["1006210"] == "Cobranza@pena.mx;pagos@pena.mx"


def test_after_grabar_the_form_is_ready_for_the_next_customer_of_the_same_sociedad(
    customers,
) -> None:
    at = grabar(start(INDIVIDUAL, user="ana"), "SM05", "1006210", "a@b.mx")
    assert [t.value for t in at.text_input[:2]] == ["1006210", "a@b.mx"]  # refused: kept

    at = grabar(at, "SM02", "1006210", "a@b.mx")

    assert at.success
    assert at.selectbox[0].value == "SM02"
    assert [t.value for t in at.text_input[:2]] == ["", ""]


def language_of(database, customer: str) -> str:
    with database() as session:
        return session.get_one(Customer, ("SM02", customer)).language


def test_grabar_sets_the_statement_language_chosen_and_leaves_it_otherwise(
    customers, database
) -> None:
    at = start(INDIVIDUAL, user="ana")
    language = at.selectbox(key="alta-idioma-0")
    assert language.label == "Idioma del estado de cuenta"
    assert language.options == ["Sin cambiar", "Español", "English"]
    assert language.value == ""
    language.select("en")
    at = grabar(at, "SM02", "1006210", "a@b.mx")
    assert at.success[0].value.endswith("Su estado de cuenta y su correo irán en inglés.")
    assert language_of(database, "1006210") == "en"
    assert at.selectbox(key="alta-idioma-1").value == ""  # the next alta starts unchanged

    at = grabar(at, "SM02", "1006210", "otro@b.mx")
    assert "fue actualizado: otro@b.mx." in at.success[0].value
    assert language_of(database, "1006210") == "en"


def test_grabar_an_unknown_customer_says_so_and_saves_nothing(customers, database) -> None:
    at = grabar(start(INDIVIDUAL, user="ana"), "SM05", "1006210", "a@b.mx")
    assert at.error[0].value == "El cliente 1006210 no está dado de alta en la sociedad SM05."
    assert "1006210" not in stored(database)


def test_grabar_an_existing_entry_updates_it(customers, database) -> None:
    at = grabar(start(INDIVIDUAL, user="ana"), "SM02", "1004273", "new@y.mx")
    assert "fue actualizado: new@y.mx" in at.success[0].value
    assert stored(database)["1004273"] == "new@y.mx"


def test_grabar_with_a_bad_email_names_it(customers) -> None:
    at = grabar(start(INDIVIDUAL, user="ana"), "SM02", "1006210", "a@b.mx; malo@")
    assert at.error[0].value == "Correo no válido: 'malo@'."


def buscar(at: AppTest, **fields: str) -> AppTest:
    if "customer" in fields:
        at.text_input(key="buscar-cliente").input(fields["customer"])
    button(at, "Buscar").click()
    return at.run()


def test_buscar_lists_the_catalog_with_last_change(customers) -> None:
    at = buscar(start(INDIVIDUAL, user="ana"))
    table = at.dataframe[0].value
    assert list(table["No. Cliente"]) == ["1004273"]
    assert table.loc[0, "Último cambio"].startswith("seed, ")
    assert at.caption[0].value == "Mostrando 1–1 de 1."


def test_buscar_without_matches_says_so(customers) -> None:
    at = buscar(start(INDIVIDUAL, user="ana"), customer="1006210")
    assert at.info[0].value == "No hay clientes en el catálogo con esos datos."


def edit_results(at: AppTest, changes: dict[int, dict[str, object]]) -> AppTest:
    """What the result table reports after the user ticks Borrar or edits Correos in rows."""
    generation = at.session_state["resultados-generacion"]
    at.session_state[f"resultados-{generation}-1"] = {
        "edited_rows": changes,
        "added_rows": [],
        "deleted_rows": [],
    }
    return at.run()


def test_the_delete_icon_of_a_row_asks_for_confirmation_then_deletes(customers, database) -> None:
    at = buscar(start(INDIVIDUAL, user="ana"))
    assert list(at.dataframe[0].value.columns)[:3] == ["Borrar", "Sociedad", "No. Cliente"]
    edit_results(at, {0: {"Borrar": True}})
    assert at.warning[0].value.startswith("¿Borrar del catálogo al cliente 1004273")
    button(at, "Cancelar").click()
    at.run()
    assert not at.warning
    assert "1004273" in stored(database)
    edit_results(at, {0: {"Borrar": True}})
    button(at, "Sí, borrar").click()
    at.run()
    assert at.success[0].value == "El cliente 1004273 se borró del catálogo de SM02."
    assert stored(database) == {}
    assert at.info[0].value == "No hay clientes en el catálogo con esos datos."


def test_emails_are_edited_in_the_table(customers, database) -> None:
    at = buscar(start(INDIVIDUAL, user="ana"))
    assert button(at, "Grabar correos").disabled
    edit_results(at, {0: {"Correos": "nuevo@y.mx;otro@y.mx"}})
    button(at, "Grabar correos").click()
    at.run()
    assert "fue actualizado" in at.success[0].value
    assert stored(database)["1004273"] == "nuevo@y.mx;otro@y.mx"
    assert at.dataframe[0].value.loc[0, "Correos"] == "nuevo@y.mx;otro@y.mx"


def test_a_bad_address_edited_in_the_table_is_refused_and_nothing_saved(
    customers, database
) -> None:
    at = edit_results(buscar(start(INDIVIDUAL, user="ana")), {0: {"Correos": "no-es-correo"}})
    button(at, "Grabar correos").click()
    at.run()
    assert "no-es-correo" in at.error[0].value
    assert stored(database)["1004273"] == "old@y.mx"


def paste(at: AppTest, rows: list[list[str]], generation: int = 0) -> AppTest:
    """What the data editor reports after a paste: its widget state, set before the run."""
    edited = {
        i: dict(zip(["Sociedad", "No. Cliente", "Correo"], r, strict=True))
        for i, r in enumerate(rows)
    }
    at.session_state[f"masiva-editor-{generation}"] = {
        "edited_rows": edited,
        "added_rows": [],
        "deleted_rows": [],
    }
    return at.run()


def test_masiva_procesar_then_grabar_fills_mensaje(customers, database) -> None:
    at = start(MASIVA, user="ana")
    assert button(at, "Grabar").disabled
    at = paste(
        at,
        [
            ["Sociedad", "No. Cliente", "Correo"],
            ["sm02", "0001006210", "a@pena.mx"],
            ["SM02", "1004273", "old@y.mx"],
            ["SM02", "9999999", "x@y.mx"],
        ],
    )
    button(at, "Procesar").click()
    at.run()
    assert at.info[0].value == "La fila 1 parece un encabezado y se ignoró."
    preview = at.dataframe[-1].value
    assert list(preview["Verificación"]) == [
        "nuevo",
        "sin cambios",
        "error: el cliente 9999999 no está dado de alta en la sociedad SM02",
    ]
    assert "**nuevo**: 1 · **actualiza**: 0 · **sin cambios**: 1" in at.main.markdown[-1].value
    assert stored(database) == {"1004273": "old@y.mx"}
    button(at, "Grabar").click()
    at.run()
    assert not at.exception
    assert at.success[0].value == "Se grabó 1 de 3 filas; 1 fila con error no se grabó."
    assert list(at.dataframe[-1].value["Mensaje"]) == [
        "guardado",
        "sin cambios",
        "no se guardó: el cliente 9999999 no está dado de alta en la sociedad SM02",
    ]
    assert stored(database) == {"1004273": "old@y.mx", "1006210": "a@pena.mx"}
    assert at.session_state["masiva-generacion"] == 1


def test_masiva_needs_a_fresh_procesar_before_grabar(customers) -> None:
    at = paste(start(MASIVA, user="ana"), [["SM02", "1006210", "a@pena.mx"]])
    button(at, "Procesar").click()
    at.run()
    assert not button(at, "Grabar").disabled
    at = paste(at, [["SM02", "1006210", "otro@pena.mx"]])
    assert button(at, "Grabar").disabled
    assert at.warning[0].value.startswith("Los datos cambiaron después de Procesar")


def test_masiva_from_an_uploaded_file(customers, database) -> None:
    at = start(MASIVA, user="ana")
    at.radio[0].set_value("Subir archivo")
    at.run()
    content = tables.write_xlsx(
        ["Sociedad", "NoCliente", "Correo", "Notas"], [["SM02", "1006210", "a@pena.mx", "x"]]
    )
    at.get("file_uploader")[0].set_value(("alta.xlsx", content, "application/octet-stream"))
    button(at, "Procesar").click()
    at.run()
    assert at.info[0].value == "Se ignoraron las columnas que no son Sociedad, NoCliente o Correo."
    button(at, "Grabar").click()
    at.run()
    assert list(at.dataframe[0].value["Mensaje"]) == ["guardado"]
    assert stored(database)["1006210"] == "a@pena.mx"


def test_estado_de_cuenta_preview_shows_the_email_and_offers_the_pdf(customers) -> None:
    at = start("pages/estado_cuenta.py", user="ana")
    at.text_input[0].input("1004273")
    button(at, "Ver estado de cuenta").click()
    at.run()
    assert not at.exception
    assert at.subheader[0].value == "1004273 · PLUMBERS CENTER"
    headers = next(m.value for m in at.main.markdown if m.value.startswith("**De:**"))
    assert "**Para:** old@y.mx" in headers
    assert "**Asunto:** Estado de cuenta al " in headers
    assert at.text[0].value.startswith("Estimado cliente PLUMBERS CENTER:")
    assert at.get("download_button")[0].proto.label.startswith("Descargar 1004273_")


def test_estado_de_cuenta_preview_of_an_unknown_customer(customers) -> None:
    at = start("pages/estado_cuenta.py", user="ana")
    at.text_input[0].input("42")
    button(at, "Ver estado de cuenta").click()
    at.run()
    assert at.error[0].value == "El cliente 42 no está dado de alta en la sociedad SM02."
