import json

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from lib import catalog, tables
from lib.models import AuditEvent, Customer, Recipient
from tests.support import seed_catalog

OK = [
    # (Sociedad, No. Cliente, Correo) as typed/pasted → (sociedad, cliente, correos guardados)
    (("SM02", "1006210", "a@x.mx"), ("SM02", "1006210", "a@x.mx")),
    (("SM02", "0001006210", "a@x.mx"), ("SM02", "1006210", "a@x.mx")),
    (("SM02", "1006210.0", "a@x.mx"), ("SM02", "1006210", "a@x.mx")),
    (("SM02", " 1006210 ", "a@x.mx"), ("SM02", "1006210", "a@x.mx")),
    (("SM02", 1006210.0, "a@x.mx"), ("SM02", "1006210", "a@x.mx")),
    (("sm02 ", "1006210", "a@x.mx"), ("SM02", "1006210", "a@x.mx")),
    ((" Sm02", "1006210", "a@x.mx"), ("SM02", "1006210", "a@x.mx")),
    (("SM02", "1006210", "a@x.mx;b@y.mx"), ("SM02", "1006210", "a@x.mx;b@y.mx")),
    (("SM02", "1006210", "a@x.mx; b@y.mx"), ("SM02", "1006210", "a@x.mx;b@y.mx")),
    (("SM02", "1006210", " a@x.mx ;b@y.mx ; "), ("SM02", "1006210", "a@x.mx;b@y.mx")),
    (("SM02", "1006210", "a@x.mx;"), ("SM02", "1006210", "a@x.mx")),
    (("SM02", "1006210", "a@x.mx,b@y.mx"), ("SM02", "1006210", "a@x.mx;b@y.mx")),
    (("SM02", "1006210", "a@x.mx, b@y.mx;c@z.mx"), ("SM02", "1006210", "a@x.mx;b@y.mx;c@z.mx")),
    (("SM02", "1006210", "a@X.MX"), ("SM02", "1006210", "a@x.mx")),
    (
        ("SM02", "1006210", "Cobranza@Cliente.COM.MX"),
        ("SM02", "1006210", "Cobranza@cliente.com.mx"),
    ),
    (("SM02", "1006210", "a@x.mx;a@x.mx"), ("SM02", "1006210", "a@x.mx")),
    (("SM02", "1006210", "a@x.mx;A@X.MX"), ("SM02", "1006210", "a@x.mx")),
    (("SM02", "1006210", ";;a@x.mx;;"), ("SM02", "1006210", "a@x.mx")),
    (("SM02", "1006210", "a.b+c@sub.x.mx"), ("SM02", "1006210", "a.b+c@sub.x.mx")),
    (("SM02", "1006210", "a@x.mx\n"), ("SM02", "1006210", "a@x.mx")),
]
BAD = [
    (("", "1006210", "a@x.mx"), "Sociedad vacía"),
    (("SM 02", "1006210", "a@x.mx"), "Sociedad 'SM 02' no válida"),
    (("SM02", "", "a@x.mx"), "No. Cliente vacío"),
    (("SM02", "0000", "a@x.mx"), "No. Cliente no puede ser cero"),
    (("SM02", "1.00621E+06", "a@x.mx"), "notación científica"),
    (("SM02", "1006210", ""), "sin correos"),
    (("SM02", "1006210", " ; , "), "sin correos"),
    (("SM02", "1006210", "a@x.mx;malo"), "correo no válido: 'malo'"),
    (("SM02", "1006210", "a@x"), "correo no válido: 'a@x'"),
    (("SM02", "1006210", "a b@x.mx"), "correo no válido: 'a b@x.mx'"),
    (("SM02", "1006210", "ñoño@x.mx"), "correo no válido: 'ñoño@x.mx'"),
    (("SM02", "1006210", "a@x.mx\nb@y.mx"), "Correo contiene saltos de línea"),
    (("SM02", "10062\r10", "a@x.mx"), "No. Cliente contiene saltos de línea"),
    (
        ("SM\x0002", "1006210", "a@x.mx"),
        "Sociedad contiene saltos de línea o caracteres de control",
    ),
    (("SM02", "1006210", "a@x.mx\tb@y.mx"), "Correo contiene saltos de línea"),
]


@pytest.mark.parametrize(("cells", "expected"), OK, ids=[repr(c) for c, _ in OK])
def test_rows_are_normalised(cells, expected) -> None:
    clean = catalog.normalise_row(1, cells)
    assert clean.error == ""
    entry = clean.entry
    assert (entry.company_code, entry.customer_no, ";".join(entry.emails)) == expected


@pytest.mark.parametrize(("cells", "message"), BAD, ids=[repr(c) for c, _ in BAD])
def test_bad_rows_say_why(cells, message) -> None:
    clean = catalog.normalise_row(7, cells)
    assert clean.entry is None
    assert message in clean.error
    assert clean.row == 7


def test_a_pasted_header_blank_rows_and_extra_columns() -> None:
    batch = catalog.from_pasted(
        [
            ["Sociedad", "No. Cliente", "Correo"],
            ["SM02", "1006210", "a@x.mx", "nota"],
            [None, None, None],
            ["", " ", ""],
            ["SM02", "1004273", "b@y.mx"],
        ]
    )
    assert [r.row for r in batch.rows] == [2, 5]
    assert batch.notices == [
        "La fila 1 parece un encabezado y se ignoró.",
        "Se ignoraron las columnas después de Correo.",
    ]


def test_a_first_row_that_is_data_is_not_a_header() -> None:
    batch = catalog.from_pasted([["SM02", "1006210", "a@x.mx"]])
    assert [r.row for r in batch.rows] == [1]
    assert batch.notices == []


@pytest.fixture
def customers(sessions: sessionmaker[Session]) -> None:
    seed_catalog(sessions)


def paste(*rows):
    return catalog.from_pasted([list(r) for r in rows])


def test_review_gives_each_row_its_verdict(sessions, customers) -> None:
    batch = paste(
        ("SM02", "1006210", "a@x.mx"),
        ("SM02", "1004273", "old@y.mx"),
        ("SM02", "1004273", "new@y.mx"),
        ("SM02", "9999999", "a@x.mx"),
        ("XX01", "1006210", "a@x.mx"),
        ("SM02", "1000001", "malo"),
        ("SM05", "1006210", "a@x.mx"),
    )
    with sessions() as session:
        labels = [v.label for v in catalog.review(session, batch)]
    assert labels == [
        "nuevo",
        "omitida: repetida en la fila 3; gana la última",
        "actualiza",
        "error: el cliente 9999999 no está dado de alta en la sociedad SM02",
        "error: la sociedad XX01 no existe",
        "error: correo no válido: 'malo'",
        "error: el cliente 1006210 no está dado de alta en la sociedad SM05",
    ]


def test_unchanged_emails_are_reported_as_such(sessions, customers) -> None:
    with sessions() as session:
        (verdict,) = catalog.review(session, paste(("sm02", "0001004273", "OLD@Y.MX")))
    assert verdict.label == "actualiza"  # the mailbox part keeps its case
    with sessions() as session:
        (verdict,) = catalog.review(session, paste(("sm02", "0001004273", " old@y.mx ;")))
    assert verdict.label == "sin cambios"


def test_apply_saves_valid_rows_only_and_fills_the_message(sessions, customers) -> None:
    batch = paste(
        ("SM02", "1006210", "a@x.mx; b@x.mx"),
        ("SM02", "1004273", "new@y.mx"),
        ("SM02", "1000001", "malo"),
    )
    with sessions() as session, session.begin():
        results = catalog.apply(session, batch, username="ana")
    assert [r.message for r in results] == [
        "guardado",
        "actualizado",
        "no se guardó: correo no válido: 'malo'",
    ]
    with sessions() as session:
        stored = dict(session.execute(sa.select(Recipient.customer_no, Recipient.emails)).all())
        audit = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert stored == {"1006210": "a@x.mx;b@x.mx", "1004273": "new@y.mx"}
    assert [(a.action, a.entity_key) for a in audit] == [
        ("add", "SM02/1006210"),
        ("update", "SM02/1004273"),
    ]
    assert json.loads(audit[1].details) == {"antes": "old@y.mx", "despues": "new@y.mx"}
    assert {a.username for a in audit} == {"ana"}


def test_individual_messages(sessions, customers) -> None:
    with sessions() as session, session.begin():
        saved = catalog.add_one(session, "SM02", "1006210", "a@x.mx", username="ana")
        updated = catalog.add_one(session, "SM02", "1006210", "b@x.mx", username="ana")
        unknown = catalog.add_one(session, "SM02", "1234567", "a@x.mx", username="ana")
    assert catalog.individual_message(saved) == (
        "El cliente 1006210 (PEÑA & HIJOS <SA>) quedó dado de alta en el catálogo de la "
        "sociedad SM02."
    )
    assert "fue actualizado: b@x.mx" in catalog.individual_message(updated)
    assert catalog.individual_message(unknown) == (
        "El cliente 1234567 no está dado de alta en la sociedad SM02."
    )


def language_of(sessions, customer: str) -> str:
    with sessions() as session:
        return session.get_one(Customer, ("SM02", customer)).language


def language_audit(sessions) -> list[tuple[str, str, dict]]:
    with sessions() as session:
        events = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.entity == "customer").order_by(AuditEvent.id)
        ).all()
        return [(e.username, e.entity_key, json.loads(e.details)) for e in events]


def test_individual_sets_the_customers_language_and_audits_the_change(sessions, customers) -> None:
    with sessions() as session, session.begin():
        saved = catalog.add_one(session, "SM02", "1006210", "a@x.mx", username="ana", language="en")
        again = catalog.add_one(
            session, "SM02", "1006210", "a@x.mx", username="ana", language="English"
        )
        kept = catalog.add_one(session, "SM02", "1006210", "b@x.mx", username="beto")
    assert language_of(sessions, "1006210") == "en"
    assert language_audit(sessions) == [("ana", "SM02/1006210", {"antes": "es", "despues": "en"})]
    assert catalog.individual_message(saved) == (
        "El cliente 1006210 (PEÑA & HIJOS <SA>) quedó dado de alta en el catálogo de la "
        "sociedad SM02. Su estado de cuenta y su correo irán en inglés."
    )
    assert catalog.individual_message(again).endswith("ya tenía esos correos; sin cambios.")
    assert catalog.individual_message(kept).endswith("fue actualizado: b@x.mx.")


def test_individual_with_the_same_emails_can_still_change_the_language(sessions, customers) -> None:
    with sessions() as session, session.begin():
        session.get_one(Customer, ("SM02", "1004273")).language = "en"
    with sessions() as session, session.begin():
        verdict = catalog.add_one(
            session, "SM02", "1004273", "old@y.mx", username="ana", language="es"
        )
    assert verdict.status == catalog.UNCHANGED
    assert catalog.individual_message(verdict) == (
        "El cliente 1004273 (PLUMBERS CENTER) de la sociedad SM02 ya tenía esos correos. "
        "Su estado de cuenta y su correo irán en español."
    )
    assert language_of(sessions, "1004273") == "es"
    assert language_audit(sessions) == [("ana", "SM02/1004273", {"antes": "en", "despues": "es"})]


def test_a_refused_row_sets_no_language(sessions, customers) -> None:
    with sessions() as session, session.begin():
        refused = catalog.add_one(
            session, "SM02", "1006210", "malo@", username="ana", language="en"
        )
    assert refused.status == catalog.ERROR
    assert language_of(sessions, "1006210") == "es"
    assert language_audit(sessions) == []


def test_delete_removes_and_audits(sessions, customers) -> None:
    with sessions() as session, session.begin():
        assert catalog.delete(session, "sm02", "0001004273", username="root")
        assert not catalog.delete(session, "SM02", "1004273", username="root")
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Recipient)) == 0
        event = session.scalars(sa.select(AuditEvent)).one()
    assert (event.action, json.loads(event.details)) == (
        "delete",
        {"antes": "old@y.mx", "despues": None},
    )


def test_search_by_sociedad_customer_and_part_of_the_name(sessions, customers) -> None:
    with sessions() as session, session.begin():
        catalog.apply(
            session,
            paste(("SM02", "1006210", "cobranza@pena.mx"), ("SM02", "1000001", "pagos@nandu.mx")),
            username="ana",
        )
    with sessions() as session:
        everything = catalog.search(session)
        by_name = catalog.search(session, name="peña")
        by_email = catalog.search(session, name="NANDU")
        by_number = catalog.search(session, company="sm02", customer="0001004273")
        capped = catalog.search(session, limit=2)
    assert [r.customer_no for r in everything.rows] == ["1000001", "1004273", "1006210"]
    assert [r.customer_no for r in by_name.rows] == ["1006210"]
    assert [r.customer_no for r in by_email.rows] == ["1000001"]
    assert [r.name for r in by_number.rows] == ["PLUMBERS CENTER"]
    assert (len(capped.rows), capped.total) == (2, 3)


@pytest.mark.parametrize("address", ["=cobranza@x.mx", "+pagos@x.mx", "-cxp@x.mx", "a@x.mx"])
def test_export_round_trips_and_neutralises_formulas(sessions, customers, address) -> None:
    with sessions() as session, session.begin():
        session.add(Customer(company_code="SM05", customer_no="7", name='=HYPERLINK("x")'))
        session.flush()
        catalog.apply(session, paste(("SM05", "7", address)), username="ana")
    with sessions() as session:
        content = catalog.export_xlsx(session)
    table = tables.read_table("catalogo.xlsx", content)
    assert table.headers[:4] == ["Sociedad", "NoCliente", "NombreCliente", "Correo"]
    assert ("7", '=HYPERLINK("x")', address) in [tuple(c[1:4]) for _, c in table.rows]
    with sessions() as session:
        batch = catalog.from_table(table)
        assert [v.label for v in catalog.review(session, batch)] == ["sin cambios", "sin cambios"]


def test_an_uploaded_file_without_the_catalog_columns_names_the_missing_ones() -> None:
    table = tables.read_table("alta.csv", b"Sociedad,Cliente,Notas\nSM02,1006210,x\n")
    with pytest.raises(tables.TableError) as raised:
        catalog.from_table(table)
    assert str(raised.value) == (
        "Faltan las columnas Correo. Columnas encontradas: Sociedad, Cliente, Notas"
    )
