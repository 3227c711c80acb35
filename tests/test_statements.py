import io
from datetime import date, timedelta
from decimal import Decimal
from email import message_from_bytes, policy

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker

from lib import messages, pdf, statements
from lib.models import Company, Customer, OpenItem, Recipient
from lib.normalize import InvalidValue

CUTOFF = date(2020, 3, 2)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (-10, "Por vencer"),
        (0, "Por vencer"),
        (1, "1–30"),
        (30, "1–30"),
        (31, "31–60"),
        (60, "31–60"),
        (61, "61–90"),
        (90, "61–90"),
        (91, "Más de 90"),
        (400, "Más de 90"),
    ],
)
def test_aging_bucket_boundaries(days: int, expected: str) -> None:
    assert statements.bucket(days) == expected


def item(
    customer: str,
    doc: str,
    amount: str,
    *,
    overdue: int,
    currency: str = "MXN",
    kind: str = "Factura",
    doc_date: date | None = None,
    open_amount: str | None = None,
):
    due = CUTOFF - timedelta(days=overdue)
    return OpenItem(
        company_code="SM02",
        customer_no=customer,
        doc_no=doc,
        doc_type=kind,
        doc_date=doc_date or due - timedelta(days=30),
        due_date=due,
        reference="R",
        amount=Decimal(amount),
        open_amount=Decimal(open_amount or amount),
        currency=currency,
    )


@pytest.fixture
def ledger(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        session.add(
            Company(
                code="SM02",
                name="Soluciones & Tubos <Bajío>",
                tax_id="SHB950612AB3",
                address="Querétaro",
            )
        )
        session.flush()
        session.add_all(
            [
                Customer(
                    company_code="SM02",
                    customer_no="1006210",
                    name="PEÑA & HIJOS <SA>",
                    tax_id="PEH800101AB1",
                    address="Calle Ñandú 5",
                ),
                Customer(company_code="SM02", customer_no="1004273", name="OTRO CLIENTE"),
                Customer(company_code="SM02", customer_no="1000001", name="SIN SALDO SA"),
            ]
        )
        session.flush()
        session.add_all(
            [
                item("1006210", "9000000001", "1000.00", overdue=0),
                item("1006210", "9000000002", "2500.50", overdue=45),
                item("1006210", "1700000001", "-300.25", overdue=100, kind="Nota de crédito"),
                item("1006210", "9000000003", "5000.00", overdue=91, open_amount="1234.56"),
                item("1006210", "9000000004", "99.99", overdue=1, currency="USD"),
                item(
                    "1006210",
                    "9000000005",
                    "777.00",
                    overdue=-20,
                    doc_date=CUTOFF + timedelta(days=1),
                ),
                item("1004273", "9999999999", "10.00", overdue=5),
            ]
        )
        session.add(
            Recipient(
                company_code="SM02",
                customer_no="1006210",
                emails="cobranza@pena.mx;pagos@pena.mx",
                created_by="t",
                updated_by="t",
            )
        )


def build(sessions, customer: str = "1006210", cutoff: date = CUTOFF) -> statements.Statement:
    with sessions() as session:
        return statements.build(session, "sm02", customer, cutoff)


def test_statement_ages_and_totals_per_currency(sessions, ledger) -> None:
    statement = build(sessions)
    assert [line.doc_no for line in statement.lines if line.currency == "MXN"] == [
        "1700000001",
        "9000000003",
        "9000000002",
        "9000000001",
    ]
    assert statement.totals == {"MXN": Decimal("4434.81"), "USD": Decimal("99.99")}
    assert statement.aging == {
        "MXN": {
            "Por vencer": Decimal("1000.00"),
            "1–30": Decimal("0"),
            "31–60": Decimal("2500.50"),
            "61–90": Decimal("0"),
            "Más de 90": Decimal("934.31"),
        },
        "USD": {
            "Por vencer": Decimal("0"),
            "1–30": Decimal("99.99"),
            "31–60": Decimal("0"),
            "61–90": Decimal("0"),
            "Más de 90": Decimal("0"),
        },
    }
    assert statement.has_balance


def test_items_after_the_cutoff_appear_at_a_later_cutoff(sessions, ledger) -> None:
    later = build(sessions, cutoff=CUTOFF + timedelta(days=1))
    assert "9000000005" in [line.doc_no for line in later.lines]
    assert later.totals["MXN"] == Decimal("5211.81")


def test_a_customer_without_items_has_no_balance(sessions, ledger) -> None:
    statement = build(sessions, "1000001")
    assert (statement.lines, statement.totals, statement.has_balance) == ((), {}, False)
    text = pdf_text(pdf.render(statement))
    assert "Sin saldo" in text


def test_unknown_customer_is_a_clear_error(sessions, ledger) -> None:
    with sessions() as session, pytest.raises(InvalidValue, match="el cliente 42 no está dado"):
        statements.build(session, "SM02", "42", CUTOFF)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_pdf_has_the_customer_totals_and_every_document_only_once(sessions, ledger) -> None:
    statement = build(sessions)
    content = pdf.render(statement)
    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    for expected in (
        "PEÑA & HIJOS <SA>",
        "Soluciones & Tubos <Bajío>",
        "Estado de cuenta al 02/03/2020",
        "Calle Ñandú 5",
        "$4,434.81",
        "$99.99",
        "-$300.25",
        "Página 1 de 1",
        *(line.doc_no for line in statement.lines),
    ):
        assert expected in text, expected
    assert "9999999999" not in text
    assert "9000000005" not in text


def test_a_300_line_statement_repeats_the_table_header_on_every_page(sessions, ledger) -> None:
    with sessions() as session, session.begin():
        session.add_all(item("1004273", f"8{n:09d}", "1.00", overdue=n % 120) for n in range(300))
    content = pdf.render(build(sessions, "1004273"))
    pages = PdfReader(io.BytesIO(content)).pages
    assert len(pages) >= 4
    for number, page in enumerate(pages, start=1):
        text = page.extract_text()
        assert "Documento" in text
        assert f"Página {number} de {len(pages)}" in text


def test_the_html_escapes_names(sessions, ledger) -> None:
    html = pdf.html(build(sessions))
    assert "PEÑA &amp; HIJOS &lt;SA&gt;" in html
    assert "<SA>" not in html


def test_email_headers_recipients_body_and_attachment(sessions, ledger) -> None:
    statement = build(sessions)
    message = messages.compose(
        statement,
        ("cobranza@pena.mx", "pagos@pena.mx"),
        b"%PDF-1.4 x",
        mail_from="Cobranza <cobranza@empresa.example>",
        sent_on=date(2026, 11, 28),
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Estado de cuenta al 02/03/2020 - PEÑA & HIJOS <SA> (1006210)"
    assert parsed["To"] == "cobranza@pena.mx, pagos@pena.mx"
    assert parsed["From"] == "Cobranza <cobranza@empresa.example>"
    assert parsed["Message-ID"].endswith("@empresa.example>")
    assert parsed["Date"]
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "Estimado cliente PEÑA & HIJOS <SA>:" in text
    assert "Saldo: MXN $4,434.81 · USD $99.99." in text
    assert "PEÑA &amp; HIJOS &lt;SA&gt;" in html
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "1006210_20261128.pdf"
    assert attachment.get_content() == b"%PDF-1.4 x"


def test_a_sociedad_template_override_cannot_break_the_subject_header(sessions, ledger) -> None:
    with sessions() as session, session.begin():
        company = session.get(Company, "SM02")
        company.email_subject_template = "Saldo {{ saldo }}\r\nBcc: intruso@x.mx"
        company.email_body_template = "Hola {{ cliente }}, corte {{ fecha_corte }}."
    statement = build(sessions)
    message = messages.compose(
        statement, ("a@b.mx",), b"%PDF", mail_from="a@b.mx", sent_on=date(2026, 11, 28)
    )
    assert message["Subject"] == "Saldo MXN $4,434.81 · USD $99.99 Bcc: intruso@x.mx"
    assert message["Bcc"] is None
    assert message.get_body(("plain",)).get_content() == (
        "Hola PEÑA & HIJOS <SA>, corte 02/03/2020.\n"
    )


def test_preview_gathers_recipients_subject_and_pdf(sessions, ledger, tmp_path) -> None:
    with sessions() as session:
        shown = messages.preview(
            session, "SM02", "1006210", CUTOFF, data_dir=tmp_path, today=date(2026, 11, 28)
        )
    assert shown.recipients == ("cobranza@pena.mx", "pagos@pena.mx")
    assert shown.attachment_name == "1006210_20261128.pdf"
    assert shown.pdf.startswith(b"%PDF-")
