from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from lib import importers, open_item_imports, tables
from lib.models import AuditEvent, Company, Customer, OpenItem
from lib.normalize import InvalidValue

CUSTOMER_HEADERS = ["Sociedad", "No. Cliente", "Nombre Cliente", "RFC", "Dirección"]
ITEM_HEADERS = [
    "Sociedad",
    "NoCliente",
    "Documento",
    "Tipo",
    "FechaDocumento",
    "FechaVencimiento",
    "Referencia",
    "Importe",
    "Saldo",
    "Moneda",
]


def xlsx(headers: list[str], rows: list[list[object]]) -> bytes:
    return tables.write_xlsx(headers, rows)


def run(sessions: sessionmaker[Session], kind: str, name: str, content: bytes):
    return importers.import_file(sessions, kind, name, content, username="tester")


@pytest.fixture
def companies(sessions: sessionmaker[Session]) -> None:
    content = xlsx(
        ["Sociedad", "Nombre", "RFC", "Direccion", "Moneda"],
        [
            ["sm02", "Soluciones del Bajío", "SHB950612AB3", "Querétaro", "mxn"],
            ["SU01", "Aqua USA", "", "Houston", "USD"],
        ],
    )
    assert run(sessions, "companies", "sociedades.xlsx", content).ok


@pytest.fixture
def customers(sessions: sessionmaker[Session], companies: None) -> None:
    content = xlsx(
        CUSTOMER_HEADERS,
        [
            ["SM02", "0001006210", "PEÑA & HIJOS SA DE CV", "PEH800101AB1", "Centro"],
            ["SM02", 1004273.0, "FELIPE BARRERA MALDONADO", "", ""],
            ["SU01", "3000001", "LONE STAR PLUMBING INC", "", "Houston"],
        ],
    )
    assert run(sessions, "customers", "clientes.xlsx", content).ok


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_companies_are_added_then_updated(sessions: sessionmaker[Session], companies: None) -> None:
    result = run(sessions, "companies", "s.csv", b"Sociedad,Nombre\nSM02,Nuevo nombre\nSM09,Otra\n")
    assert (result.inserted, result.updated) == (1, 1)
    with sessions() as session:
        sm02 = session.get(Company, "SM02")
        sm09 = session.get(Company, "SM09")
    assert sm02.name == "Nuevo nombre"
    assert sm02.currency == "MXN"
    assert sm09.currency == "MXN"


PAYMENT_HEADERS = ["Sociedad", "Nombre", "Responder A", "Banco", "Cuenta", "CLABE", "Referencia"]


def payment_details(sessions: sessionmaker[Session], code: str) -> tuple[str, ...]:
    with sessions() as session:
        company = session.get_one(Company, code)
        return (
            company.reply_to,
            company.bank,
            company.account,
            company.clabe,
            company.payment_reference,
        )


def test_companies_import_payment_details_and_contact(
    sessions: sessionmaker[Session], companies: None
) -> None:
    content = xlsx(
        PAYMENT_HEADERS,
        [
            ["SM02", "Soluciones", " Cobranza@Bajio.EXAMPLE", "BBVA México", "0118359012",
             "032 180 00011835971 9", "RFC"],
            ["SM09", "Nueva", "", "", "", "", ""],
            ["SU01", "Aqua USA", "ar@aqua.example", "Bank of America", "4381 2290", "",
             "No. Cliente"],
        ],
    )  # fmt: skip
    result = run(sessions, "companies", "s.xlsx", content)
    assert result.ok, result.errors
    assert (result.inserted, result.updated) == (1, 2)
    assert payment_details(sessions, "SM02") == (
        "Cobranza@bajio.example",
        "BBVA México",
        "0118359012",
        "032180000118359719",
        "tax_id",
    )
    assert payment_details(sessions, "SM09") == ("", "", "", "", "customer_no")
    assert payment_details(sessions, "SU01") == (
        "ar@aqua.example",
        "Bank of America",
        "4381 2290",
        "",
        "customer_no",
    )


def test_a_companies_file_without_the_new_columns_imports_and_keeps_them(
    sessions: sessionmaker[Session], companies: None
) -> None:
    details = ["cobranza@bajio.example", "BBVA", "0118359012", "002010077777777771", "RFC"]
    assert run(sessions, "companies", "s.xlsx", xlsx(PAYMENT_HEADERS, [["SM02", "S", *details]])).ok

    result = run(sessions, "companies", "s.csv", b"Sociedad,Nombre\nSM02,Otro nombre\nSM09,N\n")

    assert result.ok
    assert payment_details(sessions, "SM02") == (*details[:4], "tax_id")
    assert payment_details(sessions, "SM09") == ("", "", "", "", "customer_no")
    # A column in the file sets what it says, an empty cell too: the CLABE is gone.
    assert run(sessions, "companies", "s.csv", b"Sociedad,Nombre,CLABE\nSM02,Otro,\n").ok
    assert payment_details(sessions, "SM02") == (*details[:3], "", "tax_id")


def test_bad_payment_details_are_row_errors_and_nothing_is_saved(
    sessions: sessionmaker[Session], companies: None
) -> None:
    ok = ["cobranza@bajio.example", "BBVA", "0118359012", "032180000118359719", "NoCliente"]
    content = xlsx(
        PAYMENT_HEADERS,
        [
            ["SM02", "Bien", *ok],
            ["SM03", "Dígito", *ok[:3], "032180000118359718", ""],
            ["SM04", "Corta", *ok[:3], "03218000011835971", ""],
            ["SM05", "Número", *ok[:3], 32180000118359719, ""],
            ["SM06", "Correo", "cobranza@", *ok[1:]],
            ["SM07", "Dos", "a@bajio.example; b@bajio.example", *ok[1:]],
            ["SM08", "Referencia", *ok[:4], "Factura"],
        ],
    )
    result = run(sessions, "companies", "s.xlsx", content)
    assert [str(e) for e in result.errors] == [
        "Fila 3, CLABE: CLABE '032180000118359718' no válida: el dígito verificador no coincide",
        "Fila 4, CLABE: CLABE '03218000011835971' no válida: debe tener 18 dígitos (tiene 17)",
        # The number cell came back from the .xlsx as a float: not even the digits written.
        "Fila 5, CLABE: CLABE '32180000118359720' no válida: llegó como número y Excel le "
        "cambia los dígitos; da formato de texto a la columna CLABE",
        "Fila 6, Responder A: correo no válido: 'cobranza@'",
        "Fila 7, Responder A: correo no válido: 'a@bajio.example; b@bajio.example' "
        "(solo un correo)",
        "Fila 8, Referencia: Referencia 'Factura' no válida: usa NoCliente o RFC",
    ]
    with sessions() as session:
        assert session.get(Company, "SM03") is None
        assert session.get_one(Company, "SM02").clabe == ""


SENDER_HEADERS = ["Sociedad", "Nombre", "Remitente", "CC", "BCC", "Adjuntar Partidas",
                  "AdjuntarFacturas"]  # fmt: skip


def sender_details(sessions: sessionmaker[Session], code: str) -> tuple[object, ...]:
    with sessions() as session:
        company = session.get_one(Company, code)
        return (
            company.sender_name,
            company.sender_email,
            company.cc,
            company.bcc,
            company.attach_open_items,
            company.attach_invoices,
        )


def test_companies_import_the_sender_copies_and_attachments(
    sessions: sessionmaker[Session], companies: None
) -> None:
    content = xlsx(
        SENDER_HEADERS,
        [
            ["SM02", "Bajío", "Cobranza Bajío <Cobranza@Bajio.EXAMPLE>",
             "a@bajio.example; B@BAJIO.example ,a@bajio.example;", "auditoria@bajio.example",
             "Sí", "no"],
            ["SM09", "Nueva", " pagos@nueva.example ", "", "", "x", ""],
            ["SU01", "Aqua USA", '"Aqua, Inc." <ar@aqua.example>', "", " ; ", True, 1],
        ],
    )  # fmt: skip
    result = run(sessions, "companies", "s.xlsx", content)
    assert result.ok, result.errors
    assert sender_details(sessions, "SM02") == (
        "Cobranza Bajío",
        "Cobranza@bajio.example",
        "a@bajio.example;B@bajio.example",
        "auditoria@bajio.example",
        True,
        False,
    )
    assert sender_details(sessions, "SM09") == ("", "pagos@nueva.example", "", "", True, False)
    assert sender_details(sessions, "SU01") == ("Aqua, Inc.", "ar@aqua.example", "", "", True, True)


@pytest.mark.parametrize(
    ("cells", "error"),
    [
        (["Cobranza <cobranza@bajio>", "", "", "", ""],
         "Remitente: correo no válido: 'cobranza@bajio'"),
        (["a@bajio.example; b@bajio.example", "", "", "", ""],
         "Remitente: remitente no válido: 'a@bajio.example; b@bajio.example' (solo un correo)"),
        (["Juan <a@bajio.example>, Ana <b@bajio.example>", "", "", "", ""],
         "Remitente: remitente no válido: 'Juan <a@bajio.example>, Ana <b@bajio.example>' "
         "(solo un correo)"),
        (["Cobranza <a@bajio.example", "", "", "", ""],
         "Remitente: remitente no válido: 'Cobranza <a@bajio.example' (usa Nombre "
         "<correo@dominio> o solo el correo)"),
        (['"jefe@banco.example" <a@bajio.example>', "", "", "", ""],
         "Remitente: remitente no válido: '\"jefe@banco.example\" <a@bajio.example>' (el "
         "nombre no puede llevar @ ni =?)"),
        (["=?utf-8?q?Cobranza=0D=0A?= <a@bajio.example>", "", "", "", ""],
         "Remitente: remitente no válido: '=?utf-8?q?Cobranza=0D=0A?= <a@bajio.example>'"
         " (el nombre no puede llevar @ ni =?)"),
        (["Cobranza\r\nBcc: x@y.example <a@bajio.example>", "", "", "", ""],
         "Remitente: remitente no válido: tiene saltos de línea o caracteres de control"),
        (["", "a@bajio.example; nadie", "", "", ""], "CC: correo no válido: 'nadie'"),
        (["", "", "ok@bajio.example, @bajio.example", "", ""],
         "BCC: correo no válido: '@bajio.example'"),
        (["", "", "", "tal vez", ""], "Adjuntar Partidas: 'tal vez' no válido: usa Sí o No"),
    ],
)  # fmt: skip
def test_a_bad_sender_copy_or_attachment_flag_is_a_row_error_and_nothing_is_saved(
    sessions: sessionmaker[Session], companies: None, cells: list[str], error: str
) -> None:
    rows = [["SM02", "Bien", "cobranza@bajio.example", "", "", "", ""], ["SM09", "Mal", *cells]]

    result = run(sessions, "companies", "s.xlsx", xlsx(SENDER_HEADERS, rows))

    assert [str(e) for e in result.errors] == [f"Fila 3, {error}"]
    assert sender_details(sessions, "SM02") == ("", "", "", "", False, False)
    with sessions() as session:
        assert session.get(Company, "SM09") is None


def test_a_companies_file_without_the_sender_columns_keeps_the_stored_values(
    sessions: sessionmaker[Session], companies: None
) -> None:
    stored = ["SM02", "S", "Cobranza <cobranza@bajio.example>", "a@bajio.example", "", "sí", "sí"]
    assert run(sessions, "companies", "s.xlsx", xlsx(SENDER_HEADERS, [stored])).ok
    expected = ("Cobranza", "cobranza@bajio.example", "a@bajio.example", "", True, True)

    assert run(sessions, "companies", "s.csv", b"Sociedad,Nombre\nSM02,Otro\nSM09,N\n").ok

    assert sender_details(sessions, "SM02") == expected
    assert sender_details(sessions, "SM09") == ("", "", "", "", False, False)
    # A column in the file sets what it says, an empty cell too: no sender, no copies.
    assert run(sessions, "companies", "s.csv", b"Sociedad,Nombre,Remitente,CC\nSM02,O,,\n").ok
    assert sender_details(sessions, "SM02") == ("", "", "", "", True, True)


def test_customers_are_normalised_and_upserted(
    sessions: sessionmaker[Session], customers: None
) -> None:
    content = xlsx(
        CUSTOMER_HEADERS,
        [
            ["sm02 ", "1006210.0", "PEÑA & HIJOS SA DE CV", "", "Norte"],
            ["SM02", "1000001", "NUEVO CLIENTE", "", ""],
        ],
    )
    result = run(sessions, "customers", "clientes.xlsx", content)
    assert result.ok
    assert (result.rows, result.inserted, result.updated) == (2, 1, 1)
    assert "2 filas importadas" in result.summary()
    with sessions() as session:
        updated = session.get(Customer, ("SM02", "1006210"))
    assert updated.address == "Norte"
    assert updated.name == "PEÑA & HIJOS SA DE CV"
    assert count(sessions, Customer) == 4


def test_customer_file_without_optional_columns_keeps_them(
    sessions: sessionmaker[Session], customers: None
) -> None:
    content = xlsx(["Sociedad", "NoCliente", "NombreCliente"], [["SM02", "1006210", "PEÑA SA"]])
    assert run(sessions, "customers", "c.xlsx", content).ok
    with sessions() as session:
        customer = session.get(Customer, ("SM02", "1006210"))
    assert (customer.name, customer.tax_id, customer.address) == (
        "PEÑA SA",
        "PEH800101AB1",
        "Centro",
    )


def languages_stored(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return dict(session.execute(sa.select(Customer.customer_no, Customer.language)).all())


def test_customers_import_their_statement_language(
    sessions: sessionmaker[Session], customers: None
) -> None:
    assert set(languages_stored(sessions).values()) == {"es"}  # no Idioma column: Spanish
    content = xlsx(
        ["Sociedad", "NoCliente", "NombreCliente", "Idioma"],
        [
            ["SM02", "1006210", "PEÑA & HIJOS SA DE CV", " EN "],
            ["SM02", "1004273", "FELIPE BARRERA MALDONADO", "Español"],
            ["SU01", "3000001", "LONE STAR PLUMBING INC", "inglés"],
            ["SU01", "3000002", "BORDER IRRIGATION LLC", "english"],
            ["SU01", "3000003", "GULF COAST CORP", ""],
        ],
    )
    assert run(sessions, "customers", "clientes.xlsx", content).ok
    assert languages_stored(sessions) == {
        "1006210": "en",
        "1004273": "es",
        "3000001": "en",
        "3000002": "en",
        "3000003": "es",  # an empty cell is the default
    }


def test_a_customers_file_without_idioma_keeps_the_stored_language(
    sessions: sessionmaker[Session], customers: None
) -> None:
    with_language = xlsx(["Sociedad", "NoCliente", "NombreCliente", "Idioma"],
                         [["SU01", "3000001", "LONE STAR PLUMBING INC", "en"]])  # fmt: skip
    assert run(sessions, "customers", "c.xlsx", with_language).ok
    content = xlsx(CUSTOMER_HEADERS, [["SU01", "3000001", "LONE STAR PLUMBING LLC", "", "TX"]])
    assert run(sessions, "customers", "c.xlsx", content).ok
    with sessions() as session:
        customer = session.get_one(Customer, ("SU01", "3000001"))
    assert (customer.name, customer.language) == ("LONE STAR PLUMBING LLC", "en")


def test_an_unknown_language_is_a_row_error_and_nothing_is_saved(
    sessions: sessionmaker[Session], customers: None
) -> None:
    content = xlsx(
        ["Sociedad", "NoCliente", "NombreCliente", "Idioma"],
        [
            ["SM02", "1006210", "PEÑA & HIJOS SA DE CV", "en"],
            ["SM02", "1004273", "FELIPE BARRERA MALDONADO", "fr"],
            ["SU01", "3000001", "LONE STAR PLUMBING INC", "inglés americano"],
        ],
    )
    result = run(sessions, "customers", "clientes.xlsx", content)
    assert [str(e) for e in result.errors] == [
        "Fila 3, Idioma: idioma no válido: 'fr' (usa es para español o en para inglés)",
        "Fila 4, Idioma: idioma no válido: 'inglés americano' (usa es para español o en para "
        "inglés)",
    ]
    assert set(languages_stored(sessions).values()) == {"es"}


def test_the_customers_template_has_the_idioma_column() -> None:
    table = tables.read_table("plantilla.xlsx", importers.KINDS["customers"].template())
    assert table.headers == ["Sociedad", "NoCliente", "NombreCliente", "RFC", "Dirección", "Idioma"]


def test_bad_customer_rows_are_reported_and_nothing_is_saved(
    sessions: sessionmaker[Session], companies: None
) -> None:
    content = xlsx(
        CUSTOMER_HEADERS,
        [
            ["SM02", "1000001", "BUENO SA", "", ""],
            ["SM02", "", "SIN NUMERO", "", ""],
            ["SM02", "1000002", "", "", ""],
            ["XX99", "1000003", "SOCIEDAD RARA", "", ""],
            [],
            ["SM02", "0001000001", "REPETIDO", "", ""],
        ],
    )
    result = run(sessions, "customers", "clientes.xlsx", content)
    assert not result.ok
    assert [str(e) for e in result.errors] == [
        "Fila 3, No. Cliente: No. Cliente vacío",
        "Fila 4, Nombre Cliente: vacío",
        "Fila 5, Sociedad: la sociedad XX99 no existe; impórtala primero",
        "Fila 7: repetida (igual que la fila 2)",
    ]
    assert "no se guardó nada" in result.summary()
    assert count(sessions, Customer) == 0
    assert count(sessions, AuditEvent) == 1  # only the sociedades fixture's import


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "c.xlsx",
            xlsx(["Sociedad", "Cliente"], [["SM02", "1"]]),
            "Faltan las columnas NombreCliente",
        ),
        ("c.xls", b"whatever", "Excel 97-2003"),
        ("c.pdf", b"%PDF", "no soportado"),
        ("c.xlsx", b"not a zip", "no es un Excel .xlsx válido"),
        ("c.csv", b"\n\n", "está vacío"),
    ],
)
def test_unreadable_files_say_why(
    sessions: sessionmaker[Session], companies: None, name: str, content: bytes, message: str
) -> None:
    result = run(sessions, "customers", name, content)
    assert len(result.errors) == 1
    assert result.errors[0].row is None
    assert message in str(result.errors[0])
    assert count(sessions, Customer) == 0


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_from_excel_in_cp1252_with_any_delimiter(
    sessions: sessionmaker[Session], companies: None, delimiter: str
) -> None:
    lines = ["Sociedad", "NoCliente", "NombreCliente"], ["SM02", "0001006210", "MUÑOZ & CÍA"]
    content = "\r\n".join(delimiter.join(line) for line in lines).encode("cp1252")
    assert run(sessions, "customers", "c.csv", content).ok
    with sessions() as session:
        assert session.get(Customer, ("SM02", "1006210")).name == "MUÑOZ & CÍA"


def item(customer: str = "1006210", **changes: object) -> list[object]:
    row = {
        "Sociedad": "SM02",
        "NoCliente": customer,
        "Documento": "9000000001",
        "Tipo": "Factura",
        "FechaDocumento": datetime(2020, 3, 2),
        "FechaVencimiento": "01/04/2020",
        "Referencia": "A-1",
        "Importe": 1160.5,
        "Saldo": "1,160.50",
        "Moneda": "MXN",
    }
    row.update(changes)
    return [row[h] for h in ITEM_HEADERS]


def test_open_items_are_typed_and_replace_only_their_sociedades(
    sessions: sessionmaker[Session], customers: None
) -> None:
    first = xlsx(ITEM_HEADERS, [item(), item(Sociedad="SU01", NoCliente="3000001", Moneda="USD")])
    assert run(sessions, "open-items", "p.xlsx", first).ok
    second = xlsx(
        ITEM_HEADERS,
        [
            item("1004273", Documento="9000000002", Saldo="500.00-", FechaVencimiento=""),
            item(Documento="1700000001", Tipo="Nota de crédito", Importe=-100, Saldo=-100),
        ],
    )
    result = run(sessions, "open-items", "p.xlsx", second)
    assert (result.inserted, result.replaced, result.companies) == (2, 1, ("SM02",))
    with sessions() as session:
        rows = session.scalars(sa.select(OpenItem).order_by(OpenItem.company_code, OpenItem.doc_no))
        stored = [(i.company_code, i.doc_no, i.open_amount, i.doc_date, i.due_date) for i in rows]
    assert stored == [
        ("SM02", "1700000001", Decimal("-100.00"), date(2020, 3, 2), date(2020, 4, 1)),
        ("SM02", "9000000002", Decimal("-500.00"), date(2020, 3, 2), date(2020, 3, 2)),
        ("SU01", "9000000001", Decimal("1160.50"), date(2020, 3, 2), date(2020, 4, 1)),
    ]


def uuids(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return dict(session.execute(sa.select(OpenItem.doc_no, OpenItem.cfdi_uuid)).all())


@pytest.mark.parametrize("header", ["UUID", "Folio fiscal", "UUID CFDI", "cfdi"])
def test_open_items_take_the_cfdi_uuid_in_upper_case(
    sessions: sessionmaker[Session], customers: None, header: str
) -> None:
    rows = [
        [*item(Documento="1"), " 6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f "],
        [*item(Documento="2"), ""],
        [*item(Documento="3"), "AB12CD34-0000-4FFF-A000-123456789ABC"],
    ]
    assert run(sessions, "open-items", "p.xlsx", xlsx([*ITEM_HEADERS, header], rows)).ok
    assert uuids(sessions) == {
        "1": "6F1C2D3E-4A5B-4C6D-8E7F-0A1B2C3D4E5F",
        "2": "",
        "3": "AB12CD34-0000-4FFF-A000-123456789ABC",
    }
    assert run(sessions, "open-items", "p.xlsx", xlsx(ITEM_HEADERS, [item(Documento="4")])).ok
    assert uuids(sessions) == {"4": ""}


def test_a_malformed_uuid_is_a_row_error_and_nothing_is_saved(
    sessions: sessionmaker[Session], customers: None
) -> None:
    rows = [
        [*item(Documento="1"), "6F1C2D3E-4A5B-4C6D-8E7F-0A1B2C3D4E5F"],
        [*item(Documento="2"), "6F1C2D3E4A5B4C6D8E7F0A1B2C3D4E5F"],
        [*item(Documento="3"), "6F1C2D3E-4A5B-4C6D-8E7F-0A1B2C3D4E5G"],
        [*item(Documento="4"), "A-1"],
    ]
    result = run(sessions, "open-items", "p.xlsx", xlsx([*ITEM_HEADERS, "UUID"], rows))
    rule = (
        "no válido: el folio fiscal son 32 letras A-F y dígitos en grupos de 8-4-4-4-12, como "
        "6F1C2D3E-4A5B-4C6D-8E7F-0A1B2C3D4E5F"
    )
    assert [str(e) for e in result.errors] == [
        f"Fila 3, UUID: UUID '6F1C2D3E4A5B4C6D8E7F0A1B2C3D4E5F' {rule}",
        f"Fila 4, UUID: UUID '6F1C2D3E-4A5B-4C6D-8E7F-0A1B2C3D4E5G' {rule}",
        f"Fila 5, UUID: UUID 'A-1' {rule}",
    ]
    assert count(sessions, OpenItem) == 0


def test_bad_open_items_leave_the_previous_snapshot(
    sessions: sessionmaker[Session], customers: None
) -> None:
    assert run(sessions, "open-items", "p.xlsx", xlsx(ITEM_HEADERS, [item()])).ok
    bad = xlsx(
        ITEM_HEADERS,
        [
            item("1004273"),
            item("7777777"),
            item(FechaDocumento="31/02/2020"),
            item(Importe="mil"),
            item(Moneda="pesos"),
        ],
    )
    result = run(sessions, "open-items", "p.xlsx", bad)
    assert [str(e) for e in result.errors] == [
        "Fila 3, NoCliente: el cliente 7777777 no está dado de alta en la sociedad SM02",
        "Fila 4, FechaDocumento: fecha no válida: '31/02/2020' (usa dd/mm/aaaa)",
        "Fila 5, Importe: importe no válido: 'mil'",
        "Fila 6, Moneda: moneda no válida: 'PESOS' (usa un código de 3 letras como MXN)",
    ]
    with sessions() as session:
        assert list(session.scalars(sa.select(OpenItem.customer_no))) == ["1006210"]


@pytest.mark.parametrize("amount", ["1E+400", "12345678901234567890123", "(1E+20)", 1e308])
def test_an_amount_out_of_range_is_a_row_error_and_nothing_is_saved(
    sessions: sessionmaker[Session], customers: None, amount: object
) -> None:
    result = run(sessions, "open-items", "p.xlsx", xlsx(ITEM_HEADERS, [item(), item(Saldo=amount)]))

    (error,) = result.errors
    assert str(error).startswith("Fila 3, Saldo: importe fuera de rango: ")
    assert count(sessions, OpenItem) == 0


def test_the_same_document_twice_in_one_file_is_refused_with_both_rows(
    sessions: sessionmaker[Session], customers: None
) -> None:
    rows = [item(), item("1004273"), item(Saldo="99.00")]

    result = run(sessions, "open-items", "p.xlsx", xlsx(ITEM_HEADERS, rows))

    assert [str(e) for e in result.errors] == ["Fila 4: repetida (igual que la fila 2)"]
    assert count(sessions, OpenItem) == 0
    other_type = [item(), item(Tipo="Nota de crédito", Saldo=-10, Importe=-10)]
    assert run(sessions, "open-items", "p.xlsx", xlsx(ITEM_HEADERS, other_type)).ok


def test_successful_import_is_audited(sessions: sessionmaker[Session], customers: None) -> None:
    with sessions() as session:
        event = session.scalars(sa.select(AuditEvent).where(AuditEvent.entity == "customers")).one()
    assert (event.username, event.action, event.entity_key) == ("tester", "import", "SM02,SU01")
    assert '"file": "clientes.xlsx"' in event.details


def test_the_companies_template_has_the_payment_columns() -> None:
    table = tables.read_table("plantilla.xlsx", importers.KINDS["companies"].template())
    assert table.headers == [
        "Sociedad",
        "Nombre",
        "RFC",
        "Dirección",
        "Moneda",
        "Remitente",
        "ResponderA",
        "CC",
        "CCO",
        "Banco",
        "Cuenta",
        "CLABE",
        "Referencia",
        "AdjuntarPartidas",
        "AdjuntarFacturas",
    ]


def test_templates_have_the_expected_columns() -> None:
    table = tables.read_table("plantilla.xlsx", importers.KINDS["open-items"].template())
    assert table.headers == [
        "Sociedad",
        "NoCliente",
        "Documento",
        "Tipo",
        "FechaDocumento",
        "FechaVencimiento",
        "Referencia",
        "Importe",
        "Saldo",
        "Moneda",
        "UUID",
    ]
    assert table.rows == []


def test_progress_is_reported_while_a_large_file_is_read(
    sessions: sessionmaker[Session], customers: None
) -> None:
    rows = [item(Documento=str(n)) for n in range(4_500)]
    steps: list[tuple[float, str]] = []
    result = importers.import_file(
        sessions,
        "open-items",
        "p.xlsx",
        xlsx(ITEM_HEADERS, rows),
        username="t",
        progress=lambda fraction, step: steps.append((fraction, step)),
    )
    assert result.ok
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions)
    assert len([s for _, s in steps if s == "Leyendo…"]) == 2
    assert steps[-2] == (0.7, "Revisando y guardando 4,500 filas…")
    assert steps[-1] == (1.0, "Listo")


@pytest.mark.parametrize("control", ["\x1b[31m", "\x07", "\x00", "\x9b"])
@pytest.mark.parametrize(
    ("kind", "headers", "row", "column"),
    [
        ("companies", ["Sociedad", "Nombre"], ["SM09", "BAJÍO{}"], "Nombre"),
        ("companies", ["Sociedad", "Nombre", "Banco"], ["SM09", "B", "BBVA{}"], "Banco"),
        ("companies", ["Sociedad", "Nombre", "Cuenta"], ["SM09", "B", "01{}18"], "Cuenta"),
        ("customers", CUSTOMER_HEADERS, ["SM02", "1000009", "PEÑA{}", "", ""], "Nombre Cliente"),
        ("customers", CUSTOMER_HEADERS, ["SM02", "1000009", "PEÑA", "", "Calle{} 1"], "Dirección"),
    ],
)
def test_control_characters_are_refused_in_every_import(
    sessions: sessionmaker[Session],
    companies: None,
    control: str,
    kind: str,
    headers: list[str],
    row: list[str],
    column: str,
) -> None:
    cells = [cell.format(control) for cell in row]
    content = ("\r\n".join([",".join(headers), ",".join(cells)]) + "\r\n").encode("utf-8")

    result = run(sessions, kind, "f.csv", content)

    (error,) = result.errors
    assert str(error) == f"Fila 2, {column}: tiene caracteres de control (no imprimibles)"
    assert control not in str(error)
    assert count(sessions, Customer) == 0


def test_control_characters_are_refused_in_open_items(
    sessions: sessionmaker[Session], customers: None
) -> None:
    rows = [item(Referencia="A-\x1b[2J"), item(Tipo="Fac\x07tura", Documento="2")]
    lines = [ITEM_HEADERS, *([str(cell) for cell in row] for row in rows)]
    content = "\r\n".join(";".join(line) for line in lines).encode("utf-8")  # xlsx can't hold them

    result = run(sessions, "open-items", "p.csv", content)

    assert [str(e) for e in result.errors] == [
        "Fila 2, Referencia: tiene caracteres de control (no imprimibles)",
        "Fila 3, Tipo: tiene caracteres de control (no imprimibles)",
    ]


def open_items(sessions: sessionmaker[Session]) -> list[tuple[str, str, str, Decimal, str]]:
    with sessions() as session:
        rows = session.execute(
            sa.select(
                OpenItem.company_code,
                OpenItem.customer_no,
                OpenItem.doc_no,
                OpenItem.open_amount,
                OpenItem.currency,
            ).order_by(OpenItem.company_code, OpenItem.doc_no)
        )
        return [tuple(r) for r in rows]


def snapshot(sessions: sessionmaker[Session], rows: list[list[object]], name: str = "p.xlsx"):
    result = run(sessions, "open-items", name, xlsx(ITEM_HEADERS, rows))
    assert result.ok, result.errors
    return result


@pytest.fixture
def twelve_items(sessions: sessionmaker[Session], customers: None) -> list[tuple]:
    """SM02 with 10 invoices in MXN and 1 in USD, SU01 with one in USD."""
    rows = [item(Documento=f"90000000{n:02}", Saldo=100) for n in range(10)]
    rows.append(item("1004273", Documento="9100000000", Saldo="50.25", Moneda="USD"))
    rows.append(item(Sociedad="SU01", NoCliente="3000001", Moneda="USD", Saldo=7))
    snapshot(sessions, rows, "inicial.xlsx")
    return open_items(sessions)


def test_a_dry_run_shows_the_effect_per_sociedad_and_changes_nothing(
    sessions: sessionmaker[Session], twelve_items: list[tuple]
) -> None:
    content = xlsx(ITEM_HEADERS, [item(Documento="9300000000", Saldo="1,000.00")])
    with sessions() as session:
        audits = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    result = importers.import_file(
        sessions, "open-items", "nuevas.xlsx", content, username="ana", dry_run=True
    )
    assert result.ok
    [effect] = result.effects
    assert (effect.code, effect.name) == ("SM02", "Soluciones del Bajío")
    assert (effect.before.items, effect.after.items) == (11, 1)
    assert effect.before.balance == {"MXN": Decimal("1000.00"), "USD": Decimal("50.25")}
    assert effect.after.balance == {"MXN": Decimal("1000.00")}
    assert open_items(sessions) == twelve_items
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == audits
        assert open_item_imports.last_imports(session)[0].filename == "inicial.xlsx"


def test_undo_puts_back_exactly_what_the_last_import_replaced(
    sessions: sessionmaker[Session], twelve_items: list[tuple]
) -> None:
    snapshot(sessions, [item(Documento="9300000000")], "solo_nuevas.xlsx")
    assert [r[2] for r in open_items(sessions) if r[0] == "SM02"] == ["9300000000"]
    with sessions() as session:
        last = {i.code: i for i in open_item_imports.last_imports(session)}
    assert (last["SM02"].filename, last["SM02"].username) == ("solo_nuevas.xlsx", "tester")
    assert (last["SM02"].replaced, last["SM02"].imported) == (11, 1)
    assert last["SU01"].filename == "inicial.xlsx"  # SU01 was not in the second file
    with sessions() as session, session.begin():
        undone = open_item_imports.undo(session, "SM02", username="ana")
    assert (undone.removed, undone.restored, undone.lost) == (1, 11, 0)
    assert open_items(sessions) == twelve_items
    with sessions() as session:
        audit = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (audit.action, audit.entity_key, audit.username) == ("undo_import", "SM02", "ana")
        assert '"file": "solo_nuevas.xlsx"' in audit.details
        assert "SM02" not in {i.code for i in open_item_imports.last_imports(session)}


def test_only_the_last_import_of_a_sociedad_can_be_undone_and_only_once(
    sessions: sessionmaker[Session], twelve_items: list[tuple]
) -> None:
    snapshot(sessions, [item(Documento="9300000001")], "segunda.xlsx")
    after_second = open_items(sessions)
    snapshot(sessions, [item(Documento="9300000002")], "tercera.xlsx")
    with sessions() as session, session.begin():
        open_item_imports.undo(session, "SM02", username="ana")
    assert open_items(sessions) == after_second
    with sessions() as session, session.begin(), pytest.raises(InvalidValue, match="SM02"):
        open_item_imports.undo(session, "SM02", username="ana")
    assert open_items(sessions) == after_second


def test_undo_says_how_many_items_could_not_come_back_with_their_customer_gone(
    sessions: sessionmaker[Session], twelve_items: list[tuple]
) -> None:
    snapshot(sessions, [item(Documento="9300000000")])
    with sessions() as session, session.begin():
        session.execute(sa.delete(Customer).where(Customer.customer_no == "1004273"))
    with sessions() as session, session.begin():
        undone = open_item_imports.undo(session, "SM02", username="ana")
    assert (undone.restored, undone.lost) == (10, 1)
    assert "1 partida no se repuso porque su cliente ya no existe" in undone.summary()
