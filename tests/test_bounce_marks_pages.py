"""Bounce marks on the screens: Búsqueda's "Solo con rebotes" and its export, the warning
before Procesar, Vista previa's warning, and the mark going away when the address is fixed.
"""

import io
from datetime import UTC, date, datetime

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from lib import bounce_marks, catalog
from lib.models import AddressBounce, AuditEvent, Customer, Recipient
from lib.sending import runs
from lib.statements import message
from tests.support import seed_catalog
from tests.test_catalogo_pages import INDIVIDUAL, button, edit_results
from tests.test_envio_pages import ENVIO, caption, tick
from tests.test_envio_pages import buscar as buscar_envio
from tests.test_pages import start

BOUNCED_AT = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
REASON = "5.1.1 usuario desconocido"
MARK_TEXT = f"cxp_pena@x.mx (02/12/2026: {REASON})"
KEYS = ["SM02/1000001", "SM02/1004273", "SM02/1006210"]


def add_catalog(sessions: sessionmaker[Session]) -> None:
    """SM02 catalog: 1000001, 1004273 and 1006210; 1006210's cxp_pena@x.mx bounced."""
    seed_catalog(sessions)
    with sessions() as session, session.begin():
        for number, addresses in (("1006210", "cxp_pena@x.mx;pagos@x.mx"), ("1000001", "n@x.mx")):
            session.add(Recipient(company_code="SM02", customer_no=number, emails=addresses,
                                  created_by="seed", updated_by="seed"))  # fmt: skip
        session.flush()
        bounce_marks.flag(session, ("SM02", "1006210"), "cxp_pena@x.mx", REASON, BOUNCED_AT, None)


@pytest.fixture
def flagged(people, database: sessionmaker[Session]) -> None:
    add_catalog(database)


def marks(database: sessionmaker[Session]) -> list[tuple[str, str]]:
    with database() as session:
        return list(session.execute(sa.select(AddressBounce.customer_no, AddressBounce.address)))


def buscar_con_rebotes(at: AppTest) -> AppTest:
    at.checkbox(key="buscar-rebotes").check()
    button(at, "Buscar").click()
    return at.run()


# Búsqueda


def test_busqueda_solo_con_rebotes_lists_only_the_flagged_customer_with_its_marks(
    flagged,
) -> None:
    at = start(INDIVIDUAL, user="ana")
    button(at, "Buscar").click()
    at.run()
    everyone = at.dataframe[0].value
    assert list(everyone["No. Cliente"]) == ["1000001", "1004273", "1006210"]
    assert list(everyone["Rebotes"]) == ["", "", f"⚠️ {MARK_TEXT}"]

    at = buscar_con_rebotes(at)

    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["No. Cliente"]) == ["1006210"]
    assert table.loc[0, "Rebotes"] == f"⚠️ {MARK_TEXT}"


def test_the_export_of_solo_con_rebotes_has_the_flagged_customer_and_its_rebotes(
    flagged, database: sessionmaker[Session]
) -> None:
    with database() as session:
        content = catalog.export_xlsx(session, bounced=True)

    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][-1] == "Rebotes"
    assert [(r[1], r[-1]) for r in rows[1:]] == [("1006210", MARK_TEXT)]


def test_grabar_correos_without_the_bounced_address_clears_its_mark_and_audits_it(
    flagged, database
) -> None:
    at = buscar_con_rebotes(start(INDIVIDUAL, user="ana"))
    edit_results(at, {0: {"Correos": "pagos@x.mx;nuevo@x.mx"}})
    button(at, "Grabar correos").click()
    at.run()

    assert not at.exception
    assert "fue actualizado" in at.success[0].value
    assert marks(database) == []
    assert at.info[0].value == "No hay clientes en el catálogo con esos datos."
    with database() as session:
        audit = session.scalars(sa.select(AuditEvent).filter_by(action="clear_bounce")).one()
    assert (audit.username, audit.entity_key) == ("ana", "SM02/1006210")
    assert "cxp_pena@x.mx" in audit.details


def test_grabar_correos_that_keep_the_bounced_address_keep_its_mark(flagged, database) -> None:
    at = buscar_con_rebotes(start(INDIVIDUAL, user="ana"))
    edit_results(at, {0: {"Correos": "cxp_pena@x.mx"}})
    button(at, "Grabar correos").click()
    at.run()

    assert "fue actualizado" in at.success[0].value
    assert marks(database) == [("1006210", "cxp_pena@x.mx")]
    assert at.dataframe[0].value.loc[0, "Rebotes"] == f"⚠️ {MARK_TEXT}"


# Envío masivo

WARNING = (
    "1 de los clientes seleccionados tiene correos que rebotaron en envíos anteriores: "
    r"SM02/1006210 cxp\_pena@x.mx (02/12/2026: 5.1.1 usuario desconocido). Corrígelos en el "
    "Catálogo Envío Masivo o quítalos de la selección antes de Procesar."
)


def test_envio_warns_before_procesar_while_a_flagged_customer_is_selected(flagged) -> None:
    at = buscar_envio(start(ENVIO, user="ana"))

    assert not at.exception
    assert list(at.dataframe[0].value["Rebotes"]) == ["", "", f"⚠️ {MARK_TEXT}"]
    assert [(w.value, w.icon) for w in at.warning] == [(WARNING, "⚠️")]

    at = tick(at, KEYS, {2: False})

    assert caption(at).startswith("2 de 3")
    assert not at.warning


def test_envio_does_not_warn_when_the_flagged_customer_is_not_listed(flagged) -> None:
    at = start(ENVIO, user="ana")
    at.text_input[0].input("1004273")
    at = buscar_envio(at)

    assert list(at.dataframe[0].value["No. Cliente"]) == ["1004273"]
    assert not at.warning


# Vista previa


def test_vista_previa_warns_about_the_customers_bounced_addresses(flagged) -> None:
    at = start("pages/estado_cuenta.py", user="ana")
    at.text_input[0].input("1006210")
    button(at, "Ver estado de cuenta").click()
    at.run()

    assert not at.exception
    assert at.warning[0].icon == "⚠️"
    assert [w.value for w in at.warning] == [
        r"Correos de este cliente que rebotaron en envíos anteriores: cxp\_pena@x.mx "
        "(02/12/2026: 5.1.1 usuario desconocido). Corrígelos en el Catálogo Envío Masivo antes "
        "de enviarle su estado de cuenta."
    ]


def test_vista_previa_of_a_customer_without_marks_does_not_warn(flagged) -> None:
    at = start("pages/estado_cuenta.py", user="ana")
    at.text_input[0].input("1000001")
    button(at, "Ver estado de cuenta").click()
    at.run()

    assert not at.exception
    assert not at.warning


# lib, on both backends


def candidate(number: str, *addresses: str) -> runs.Candidate:
    found = tuple(bounce_marks.Mark(a, REASON, BOUNCED_AT, 7) for a in addresses)
    return runs.Candidate("SM02", number, "X", ";".join(addresses), {}, found)


def test_bounce_warning_is_empty_when_no_selected_customer_has_marks() -> None:
    assert runs.bounce_warning([]) == ""
    assert runs.bounce_warning([candidate("1")]) == ""


def test_bounce_warning_names_each_customer_with_all_its_marked_addresses() -> None:
    text = runs.bounce_warning([candidate("1"), candidate("2", "a@x.mx", "b@x.mx")])
    assert text == (
        "1 de los clientes seleccionados tiene correos que rebotaron en envíos anteriores: "
        f"SM02/2 a@x.mx (02/12/2026: {REASON}), b@x.mx (02/12/2026: {REASON}). Corrígelos en "
        "el Catálogo Envío Masivo o quítalos de la selección antes de Procesar."
    )


def test_bounce_warning_lists_five_customers_and_counts_the_rest() -> None:
    text = runs.bounce_warning([candidate(str(n), f"c{n}@x.mx") for n in range(1, 8)])
    assert text.startswith("7 de los clientes seleccionados tienen correos que rebotaron")
    assert "SM02/5 c5@x.mx" in text
    assert "SM02/6" not in text
    assert f"SM02/5 c5@x.mx (02/12/2026: {REASON}) y 2 más. Corrígelos" in text


def test_candidates_carry_their_marks(sessions: sessionmaker[Session]) -> None:
    add_catalog(sessions)
    with sessions() as session:
        found = runs.candidates(session, "SM02", "", date(2026, 12, 31))
    assert [(c.customer_no, c.bounce_text) for c in found] == [
        ("1000001", ""),
        ("1004273", ""),
        ("1006210", MARK_TEXT),
    ]
    assert found[2].bounces == (bounce_marks.Mark("cxp_pena@x.mx", REASON, BOUNCED_AT, None),)


def test_candidates_take_the_same_queries_for_many_marked_customers(
    engine: sa.Engine, sessions: sessionmaker[Session]
) -> None:
    add_catalog(sessions)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def queries() -> int:
        statements.clear()
        with sessions() as session:
            runs.candidates(session, "SM02", "", date(2026, 12, 31))
        return len(statements)

    few = queries()
    seeded = {"created_by": "seed", "updated_by": "seed"}
    with sessions() as session, session.begin():
        numbers = [str(2000000 + n) for n in range(bounce_marks.KEY_CHUNK + 100)]
        session.add_all(Customer(company_code="SM02", customer_no=n, name=n) for n in numbers)
        session.flush()
        session.add_all(
            Recipient(company_code="SM02", customer_no=n, emails=f"{n}@x.mx", **seeded)
            for n in numbers
        )
        session.flush()
        for number in numbers:
            bounce_marks.flag(session, ("SM02", number), f"{number}@x.mx", REASON, BOUNCED_AT, None)

    assert queries() == few


def test_preview_carries_the_customers_marks(sessions: sessionmaker[Session], tmp_path) -> None:
    add_catalog(sessions)
    day = date(2026, 12, 31)
    options = {"options": message.Options(tmp_path, "a@e.example"), "today": day}
    with sessions() as session:
        shown = message.preview(session, "SM02", "1006210", day, **options)
        clean = message.preview(session, "SM02", "1000001", day, **options)
    assert [m.text() for m in shown.bounces] == [MARK_TEXT]
    assert shown.bounce_warning.startswith(
        f"Correos de este cliente que rebotaron en envíos anteriores: {MARK_TEXT}."
    )
    assert (clean.bounces, clean.bounce_warning) == ((), "")
