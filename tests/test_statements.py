import gc
import hashlib
import io
import re
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from email import message_from_bytes, policy

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker
from xhtml2pdf import context as pisa_context
from xhtml2pdf import reportlab_paragraph

from lib import statements
from lib.models import Company, CompanyTemplate, Customer, OpenItem, Recipient
from lib.normalize import InvalidValue
from lib.statements import message, pdf
from tests.support import requirement_pins

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
            "Más de 90": Decimal("1234.56"),
            statements.CREDITS: Decimal("-300.25"),
        },
        "USD": {
            "Por vencer": Decimal("0"),
            "1–30": Decimal("99.99"),
            "31–60": Decimal("0"),
            "61–90": Decimal("0"),
            "Más de 90": Decimal("0"),
            statements.CREDITS: Decimal("0"),
        },
    }
    assert statement.has_balance


CREDIT = statements.CREDITS


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # Charges by days past due, at every bucket boundary.
        (
            [
                (0, "1"),
                (1, "2"),
                (30, "4"),
                (31, "8"),
                (60, "16"),
                (61, "32"),
                (90, "64"),
                (91, "128"),
            ],
            {
                "MXN": {
                    "Por vencer": "1",
                    "1–30": "6",
                    "31–60": "24",
                    "61–90": "96",
                    "Más de 90": "128",
                }
            },
        ),
        ([(-45, "10")], {"MXN": {"Por vencer": "10"}}),
        # A payment or credit note is never in a bucket, whatever its date: on its own line.
        (
            [(45, "500"), (10, "-158809.77")],
            {"MXN": {"31–60": "500", CREDIT: "-158809.77"}},
        ),
        ([(200, "-5"), (-3, "-7")], {"MXN": {CREDIT: "-12"}}),
        # Currencies are kept apart, each with its own credits line.
        (
            [(5, "100", "USD"), (5, "-40", "USD"), (95, "900"), (0, "-1", "EUR")],
            {
                "EUR": {CREDIT: "-1"},
                "MXN": {"Más de 90": "900"},
                "USD": {"1–30": "100", CREDIT: "-40"},
            },
        ),
        # A fully settled line (open amount 0) adds nothing anywhere.
        ([(40, "0"), (40, "3")], {"MXN": {"31–60": "3"}}),
    ],
)
def test_aging_by_due_date_with_payments_and_credits_apart_adds_up_to_the_balance(
    lines: list[tuple], expected: dict[str, dict[str, str]]
) -> None:
    statement = statements.Statement(
        *parties(),
        CUTOFF,
        tuple(
            line(
                n,
                days_overdue=days,
                open_amount=Decimal(amount),
                currency=rest[0] if rest else "MXN",
            )
            for n, (days, amount, *rest) in enumerate(lines)
        ),
    )

    aging = statement.aging

    credits = any(Decimal(a) < 0 for _, a, *_ in lines)
    assert statement.aging_rows == (*statements.BUCKETS, CREDIT) if credits else statements.BUCKETS
    for currency, row in aging.items():
        assert list(row) == list(statement.aging_rows)
        shown = {name: amount for name, amount in row.items() if amount}
        assert shown == {name: Decimal(a) for name, a in expected[currency].items() if Decimal(a)}
        assert sum(row.values()) == statement.totals[currency]
    assert set(aging) == set(expected)


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


COLUMNS = (
    "Documento",
    "Tipo",
    "Fecha",
    "Vencimiento",
    "Referencia",
    "Días",
    "vencidos",
    "Importe",
    "Saldo",
    "Moneda",
)


def test_a_300_line_statement_repeats_the_table_header_on_every_page(sessions, ledger) -> None:
    with sessions() as session, session.begin():
        session.add_all(item("1004273", f"8{n:09d}", "1.00", overdue=n % 120) for n in range(300))
    statement = build(sessions, "1004273")
    pages = PdfReader(io.BytesIO(pdf.render(statement))).pages
    assert len(pages) >= 4
    printed = []
    for number, page in enumerate(pages, start=1):
        text = page.extract_text()
        for title in COLUMNS:
            assert title in text, (number, title)
        assert f"Página {number} de {len(pages)}" in text
        printed += [word for word in text.split() if word.startswith("8") and len(word) == 10]
    assert printed == [line.doc_no for line in statement.lines if line.doc_no.startswith("8")]


def line(n: int, **changes) -> statements.Line:
    values = {
        "doc_no": f"90{n:08d}",
        "doc_type": "Factura",
        "doc_date": date(2020, 1, 1),
        "due_date": date(2020, 2, 1),
        "reference": f"A-{n}",
        "days_overdue": 30,
        "amount": Decimal("100.00"),
        "open_amount": Decimal("100.00"),
        "currency": "MXN",
    }
    return statements.Line(**(values | changes))


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ((), []),
        ((line(1),), [[1]]),
        (tuple(line(n) for n in range(pdf.BAND_SIZE)), [list(range(pdf.BAND_SIZE))]),
        (
            tuple(line(n) for n in range(pdf.BAND_SIZE + 1)),
            [list(range(pdf.BAND_SIZE)), [pdf.BAND_SIZE]],
        ),
        # A value too wide for its column: that line alone, the others banded around it.
        (
            (line(0), line(1, reference="PEDIDO 4500012345 CONTRATO MARCO 2026"), line(2)),
            [[0], [1], [2]],
        ),
        ((line(0, doc_type="Nota de crédito"), line(1)), [[0, 1]]),
        ((line(0, amount=Decimal("-12345678.90")), line(1)), [[0, 1]]),
        ((line(0, amount=Decimal("-123456789012.90")), line(1)), [[0], [1]]),
    ],
)
def test_items_are_printed_in_bands(lines, expected) -> None:
    numbers = [[int(item.doc_no) - 9000000000 for item in band.lines] for band in pdf.bands(lines)]
    assert numbers == expected


def test_a_band_has_each_columns_text_and_its_height_unless_it_may_wrap() -> None:
    lines = (
        line(0, days_overdue=45, amount=Decimal("-1234.5")),
        line(1, days_overdue=0),
        line(2, reference="PEDIDO 4500012345 CONTRATO MARCO 2026 & <B>"),
        line(3, days_overdue=12, open_amount=Decimal("0")),
    )
    first, wide, last = pdf.bands(lines)
    assert first.text["doc_no"] == "9000000000\n9000000001"
    assert first.text["days_overdue"] == "45\n"
    assert first.text["amount"] == "-$1,234.50\n$100.00"
    assert first.text["doc_date"] == "01/01/2020\n01/01/2020"
    assert first.height == 2 * pdf.BAND_LEADING + sum(pdf.BAND_PADDING)
    assert wide.height is None
    assert wide.text["reference"] == "PEDIDO 4500012345 CONTRATO MARCO 2026 & <B>"
    assert last.text["days_overdue"] == ""  # nothing owed: not overdue
    assert last.height == pdf.BAND_LEADING + sum(pdf.BAND_PADDING)


def test_each_later_page_is_one_band_until_a_wide_line_then_bands_are_small_again() -> None:
    first, page = pdf.BAND_SIZE, pdf.LATER_PAGE_LINES
    wide = pdf.FIRST_PAGE_LINES + page + 5
    lines = tuple(
        line(n, reference="PEDIDO 4500012345 CONTRATO MARCO 2026" if n == wide else f"A-{n}")
        for n in range(wide + 2 * first + 4)
    )
    sizes = [len(band.lines) for band in pdf.bands(lines)]
    assert sizes[: pdf.FIRST_PAGE_LINES // first] == [first] * (pdf.FIRST_PAGE_LINES // first)
    assert sizes[pdf.FIRST_PAGE_LINES // first :] == [page, 5, 1, first, first, 3]
    assert sum(sizes) == len(lines)


def parties() -> tuple[statements.Party, statements.Party]:
    return (
        statements.Party("SM02", "Soluciones", "SHB950612AB3", "Querétaro"),
        statements.Party("1006210", "PEÑA & HIJOS <SA>", "PEH800101AB1", "Calle Ñandú 5"),
    )


def test_long_statements_fill_every_page_after_the_first_with_the_same_lines() -> None:
    lines = tuple(line(n) for n in range(260))
    statement = statements.Statement(*parties(), date(2020, 3, 2), lines)
    reader = PdfReader(io.BytesIO(pdf.render(statement)))
    per_page = [
        sum(1 for text in page.extract_text().splitlines() if text.startswith("90"))
        for page in reader.pages
    ]
    assert per_page[0] == pdf.FIRST_PAGE_LINES
    assert per_page[1:4] == [pdf.LATER_PAGE_LINES] * 3
    assert sum(per_page) == len(lines)


def drawn_text(content: bytes) -> list[list[tuple[str, float, float]]]:
    """Every piece of text on each page with where it was drawn."""
    pages: list[list[tuple[str, float, float]]] = []

    def visit(text, cm, tm, _font, _size) -> None:
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            pages[-1].append((text, round(x, 2), round(y, 2)))

    for page in PdfReader(io.BytesIO(content)).pages:
        pages.append([])
        page.extract_text(visitor_text=visit)
    return pages


def test_band_heights_given_to_xhtml2pdf_are_the_heights_it_would_measure() -> None:
    """The heights spare xhtml2pdf measuring the bands; they must not move a single line."""
    wide = "PEDIDO 4500012345 / CONTRATO MARCO 2026 & ANEXO <B>"
    lines = tuple(line(n, reference=wide if n in (5, 70, 71) else f"A-{n}") for n in range(190))
    source = pdf.html(statements.Statement(*parties(), date(2020, 3, 2), lines), total_pages=4)
    measured, stripped = re.subn(r' height="[0-9.]+pt"', "", source)
    assert (
        stripped == sum(1 for band in pdf.bands(lines) if band.height) == len(pdf.bands(lines)) - 3
    )
    given = drawn_text(pdf._draw(source))
    assert len(given) == 4
    assert all(len(page) > 100 for page in given)
    assert given == drawn_text(pdf._draw(measured))


def test_the_cycle_collector_is_back_after_drawing_even_when_drawing_fails(monkeypatch) -> None:
    pdf.render(statements.Statement(*parties(), date(2020, 3, 2), (line(1),)))
    assert gc.isenabled()

    def broken(*_args, **_kwargs):
        assert not gc.isenabled()
        raise RuntimeError("xhtml2pdf broke")

    monkeypatch.setattr(pdf.pisa, "CreatePDF", broken)
    with pytest.raises(RuntimeError, match="xhtml2pdf broke"):
        pdf.render(statements.Statement(*parties(), date(2020, 3, 2), (line(1),)))
    assert gc.isenabled()


def rows(content: bytes) -> list[list[str]]:
    """The text of the first page as drawn, one list per baseline, left to right."""
    found: dict[float, list[tuple[float, str]]] = {}
    for text, x, y in drawn_text(content)[0]:
        found.setdefault(round(y), []).append((x, text.strip()))
    return [[text for _x, text in sorted(row)] for _y, row in sorted(found.items(), reverse=True)]


def test_each_line_reads_across_and_a_long_reference_wraps_in_its_own_band() -> None:
    long = "PEDIDO 4500012345 / CONTRATO MARCO 2026 & ANEXO <B>"
    lines = tuple(
        line(n, reference=long if n == 3 else f"R-{n}", amount=Decimal(1000 + n)) for n in range(12)
    )
    statement = statements.Statement(
        statements.Party("SM02", "Soluciones", "SHB950612AB3", "Querétaro"),
        statements.Party("1006210", "PEÑA & HIJOS <SA>", "PEH800101AB1", "Calle Ñandú 5"),
        date(2020, 3, 2),
        lines,
    )
    drawn = rows(pdf.render(statement))
    for n in range(12):
        reference = "PEDIDO" if n == 3 else f"R-{n}"  # the rest of it wraps below
        expected = [f"90{n:08d}", "Factura", "01/01/2020", "01/02/2020", reference, "30"]
        expected += [f"${1000 + n:,}.00", "$100.00", "MXN"]
        assert expected in drawn, n
    wrapped = " ".join(row[0] for row in drawn if len(row) == 1)
    assert "4500012345 / CONTRATO MARCO 2026 & ANEXO <B>" in wrapped


def test_aging_summary_one_column_per_currency(sessions, ledger) -> None:
    text = pdf_text(pdf.render(build(sessions)))
    assert "Antigüedad de saldos" in text
    for bucket in (*statements.BUCKETS, statements.CREDITS):
        assert bucket in text
    for amount in ("$1,000.00", "$2,500.50", "$1,234.56", "-$300.25", "$4,434.81", "$99.99"):
        assert amount in text


def test_the_items_end_with_a_total_per_currency_and_the_issue_date_is_beside_the_cutoff(
    sessions, ledger
) -> None:
    content = pdf.render(build(sessions), issued=date(2020, 3, 5))

    table = rows(content)
    assert ["Total MXN", "$4,434.81", "MXN"] in table
    assert ["Total USD", "$99.99", "USD"] in table
    assert "Estado de cuenta al 02/03/2020 · emitido el 05/03/2020" in pdf_text(content)


def test_the_column_headers_stay_on_one_line(sessions, ledger) -> None:
    (header,) = [row for row in rows(pdf.render(build(sessions))) if row[0] == "Documento"]
    assert header == ["Documento", "Tipo", "Fecha", "Vencimiento", "Referencia",
                      "Días vencidos", "Importe", "Saldo", "Moneda"]  # fmt: skip


def test_a_sociedad_without_rfc_prints_no_rfc_dash(sessions, ledger) -> None:
    foreign = replace(
        build(sessions), company=statements.Party("US01", "Bajío Pipes LLC", "", "Houston, TX")
    )
    text = pdf_text(pdf.render(foreign))
    assert "Houston, TX" in text
    assert "RFC —" not in text
    assert "RFC" not in text.split("Estado de cuenta")[0]


def test_statements_drawn_one_after_another_keep_to_their_own_data(sessions, ledger) -> None:
    """The hooks reuse parsed CSS and the page counts of earlier statements: nothing else."""
    first = pdf_text(pdf.render(build(sessions)))
    second = pdf_text(pdf.render(build(sessions, "1004273")))
    again = pdf_text(pdf.render(build(sessions)))
    assert "PEÑA & HIJOS <SA>" in first
    assert "9999999999" in second
    assert "OTRO CLIENTE" in second
    for own in ("PEÑA", "Ñandú", "9000000001", "$4,434.81", "USD"):
        assert own not in second, own
    assert again == first


def test_the_default_css_is_parsed_once_per_process(sessions, ledger, monkeypatch) -> None:
    from xhtml2pdf import w3c

    pdf.render(build(sessions))
    parsed = []
    real = w3c.cssParser.CSSParser.parse
    monkeypatch.setattr(
        w3c.cssParser.CSSParser,
        "parse",
        lambda self, text: parsed.append(text) or real(self, text),
    )
    assert "Sin saldo" in pdf_text(pdf.render(build(sessions, "1000001")))
    assert len(parsed) == 1  # the template's own <style>, with its @page
    assert "@page" in parsed[0]


@pytest.mark.parametrize(
    ("seen", "lines", "guess"),
    [
        ({}, 300, 1),
        ({(False, 300): 6}, 300, 6),
        ({(True, 300): 7}, 300, 1),  # with a logo it is another layout
        ({(False, 100): 2, (False, 200): 4}, 150, 2),
        ({(False, 100): 3, (False, 200): 3}, 150, 3),
        ({(False, 100): 2}, 300, 6),  # beyond the longest: its lines per page
        ({(False, 500): 9}, 20, 9),  # only longer ones: at most that many
        ({(False, 0): 1}, 300, 1),
    ],
)
def test_the_page_count_guess(monkeypatch, seen, lines, guess) -> None:
    monkeypatch.setattr(pdf, "_pages_seen", dict(seen))
    assert pdf._guess_pages(False, lines) == guess


def test_a_wrong_page_count_guess_is_corrected(sessions, ledger, monkeypatch) -> None:
    statement = build(sessions)
    monkeypatch.setattr(pdf, "_pages_seen", {(False, len(statement.lines)): 3})
    text = pdf_text(pdf.render(statement))
    assert "Página 1 de 1" in text
    assert pdf._pages_seen[(False, len(statement.lines))] == 1


def test_the_html_escapes_names(sessions, ledger) -> None:
    html = pdf.html(build(sessions))
    assert "PEÑA &amp; HIJOS &lt;SA&gt;" in html
    assert "<SA>" not in html


def test_email_headers_recipients_body_and_attachment(sessions, ledger, tmp_path) -> None:
    statement = build(sessions)
    ready = message.ready(
        statement,
        ("cobranza@pena.mx", "pagos@pena.mx"),
        options=message.Options(tmp_path, "Cobranza <cobranza@empresa.example>"),
        sent_on=date(2026, 11, 28),
    )
    parsed = message_from_bytes(ready.message.as_bytes(), policy=policy.default)
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
    assert attachment.get_content() == ready.pdf
    assert ready.pdf.startswith(b"%PDF")
    assert ready.pdf_sha256 == hashlib.sha256(ready.pdf).hexdigest()


def test_a_sociedad_template_override_cannot_break_the_subject_header(
    sessions, ledger, tmp_path
) -> None:
    own_template(
        sessions,
        subject="Saldo {{ saldo }}\r\nBcc: intruso@x.mx",
        text_body="Hola {{ cliente }}, corte {{ fecha_corte }}.",
    )
    statement = build(sessions)
    email = message.ready(
        statement,
        ("a@b.mx",),
        options=message.Options(tmp_path, "a@b.mx"),
        sent_on=date(2026, 11, 28),
    ).message
    assert email["Subject"] == "Saldo MXN $4,434.81 · USD $99.99 Bcc: intruso@x.mx"
    assert email["Bcc"] is None
    assert email.get_body(("plain",)).get_content() == (
        "Hola PEÑA & HIJOS <SA>, corte 02/03/2020.\n"
    )


def test_preview_gathers_recipients_subject_and_pdf(sessions, ledger, tmp_path) -> None:
    with sessions() as session:
        shown = message.preview(
            session,
            "SM02",
            "1006210",
            CUTOFF,
            options=message.Options(tmp_path, "a@b.mx"),
            today=date(2026, 11, 28),
        )
    assert shown.recipients == ("cobranza@pena.mx", "pagos@pena.mx")
    assert shown.attachment_name == "1006210_20261128.pdf"
    assert shown.pdf.startswith(b"%PDF-")


def test_the_xhtml2pdf_hooks_are_installed_on_the_pinned_versions() -> None:
    pins = requirement_pins()
    assert {name: pins[name] for name in pdf.HOOKED_VERSIONS} == pdf.HOOKED_VERSIONS
    assert pdf.hooks_fit()
    pdf._speedups()
    assert pisa_context.pisaContext._parseCSSSource.__name__ == "parse_default_once"
    assert reportlab_paragraph.Paragraph._brokenLines.__name__ == "broken_lines_rounded"


# --- payment details and the sociedad's contact -------------------------------------------------

CLABE = "032180000118359719"
CONTACT = "cobranza@bajio.example"


def pay_to(sessions, **details: str) -> None:
    """Give the ledger's SM02 the payment details and contact given."""
    with sessions() as session, session.begin():
        company = session.get_one(Company, "SM02")
        for name, value in details.items():
            setattr(company, name, value)


def own_template(sessions, language: str = "es", **fields: str) -> None:
    """Give the ledger's SM02 its own email for customers of `language`."""
    with sessions() as session, session.begin():
        session.merge(CompanyTemplate(company_code="SM02", language=language, **fields))


def paying(sessions) -> None:
    pay_to(sessions, bank="BBVA México", account="0118359012", clabe=CLABE, reply_to=CONTACT)


def email_of(statement: statements.Statement, tmp_path) -> message.Ready:
    return message.ready(
        statement,
        ("cobranza@pena.mx",),
        options=message.Options(tmp_path, "Cobranza <cobranza@empresa.example>"),
        sent_on=date(2026, 11, 28),
    )


def parts(ready: message.Ready) -> tuple[object, str, str]:
    """The email as it goes out, parsed back: the message, its text and its HTML."""
    parsed = message_from_bytes(ready.message.as_bytes(), policy=policy.default)
    return (
        parsed,
        parsed.get_body(("plain",)).get_content(),
        parsed.get_body(("html",)).get_content(),
    )


def test_the_pdf_shows_the_payment_details_and_the_sociedads_contact(sessions, ledger) -> None:
    paying(sessions)
    text = pdf_text(pdf.render(build(sessions)))

    block = (
        "Datos para pago\n"
        "Banco: BBVA México\n"
        "Cuenta: 0118359012\n"
        f"CLABE: {CLABE}\n"
        "Referencia: 1006210\n"
        "Al pagar, indique la referencia para que identifiquemos su pago.\n"
    )
    assert block in text
    assert f"Dudas sobre este estado de cuenta: {CONTACT}" in text
    assert text.index("Antigüedad de saldos") < text.index("Datos para pago")


def test_only_the_payment_details_set_are_printed(sessions, ledger) -> None:
    pay_to(sessions, clabe=CLABE)
    text = pdf_text(pdf.render(build(sessions)))
    assert f"Datos para pago\nCLABE: {CLABE}\nReferencia: 1006210\nAl pagar" in text
    assert "Banco" not in text
    assert "Cuenta:" not in text


@pytest.mark.parametrize(
    ("asked", "customer", "reference"),
    [
        ("customer_no", "1006210", "1006210"),
        ("tax_id", "1006210", "PEH800101AB1"),
        ("tax_id", "1004273", "1004273"),  # no RFC: the No. Cliente rather than nothing
    ],
)
def test_the_reference_is_the_customers_no_cliente_or_rfc(
    sessions, ledger, asked, customer, reference
) -> None:
    pay_to(sessions, bank="BBVA México", payment_reference=asked)
    statement = build(sessions, customer)
    assert statement.payment.reference == reference
    assert f"\nReferencia: {reference}\n" in pdf_text(pdf.render(statement))


def test_a_sociedad_without_payment_details_or_contact_shows_neither(
    sessions, ledger, tmp_path
) -> None:
    statement = build(sessions)
    assert (statement.payment, statement.reply_to) == (None, "")
    text = pdf_text(pdf.render(statement))
    parsed, body, html = parts(email_of(statement, tmp_path))
    for shown in (text, body, html):
        assert "Datos para pago" not in shown
        assert "CLABE" not in shown
        assert "Dudas sobre" not in shown
        assert "escriba a" not in shown
    assert "Si tiene dudas o ya realizó su pago, por favor responda a este correo.\n" in body
    assert parsed["Reply-To"] is None


def test_a_contact_alone_prints_no_payment_block(sessions, ledger, tmp_path) -> None:
    pay_to(sessions, reply_to=CONTACT)
    statement = build(sessions)
    text = pdf_text(pdf.render(statement))
    parsed, body, _html = parts(email_of(statement, tmp_path))
    assert f"Dudas sobre este estado de cuenta: {CONTACT}" in text
    assert "Datos para pago" not in text + body
    assert parsed["Reply-To"] == CONTACT


def test_the_email_carries_the_payment_block_the_contact_and_a_reply_to(
    sessions, ledger, tmp_path
) -> None:
    paying(sessions)
    parsed, text, html = parts(email_of(build(sessions), tmp_path))

    assert parsed["Reply-To"] == CONTACT
    assert parsed["To"] == "cobranza@pena.mx"
    block = (
        "Datos para pago:\n"
        "Banco: BBVA México\n"
        "Cuenta: 0118359012\n"
        f"CLABE: {CLABE}\n"
        "Referencia: 1006210\n"
        "Al pagar, indique la referencia para que identifiquemos su pago.\n"
    )
    assert f"\n\n{block}\n" in text
    assert f"responda a este correo o escriba a {CONTACT}." in text
    assert (
        "<p><strong>Datos para pago</strong><br>\nBanco: BBVA México<br>"
        f"Cuenta: 0118359012<br>CLABE: {CLABE}<br>Referencia: 1006210</p>"
    ) in html
    assert f'escriba a <a href="mailto:{CONTACT}">{CONTACT}</a>.' in html


def test_a_sociedad_template_can_use_the_payment_fields(sessions, ledger, tmp_path) -> None:
    paying(sessions)
    pay_to(sessions, payment_reference="tax_id")
    own_template(
        sessions,
        text_body=(
            "{{ banco }} | {{ cuenta }} | {{ clabe }} | {{ referencia_pago }} | {{ contacto }}"
            "\n\n{{ datos_pago }}"
        ),
    )
    statement = build(sessions)
    expected = {
        "banco": "BBVA México",
        "cuenta": "0118359012",
        "clabe": CLABE,
        "referencia_pago": "PEH800101AB1",
        "contacto": CONTACT,
    }
    assert expected.items() <= message.context(statement).items()
    body = email_of(statement, tmp_path).body
    assert body.startswith(f"BBVA México | 0118359012 | {CLABE} | PEH800101AB1 | {CONTACT}\n\n")
    assert "Datos para pago:\nBanco: BBVA México\n" in body


def test_a_sociedad_without_payment_details_gives_its_templates_empty_fields(
    sessions, ledger
) -> None:
    context = message.context(build(sessions))
    names = ("banco", "cuenta", "clabe", "referencia_pago", "datos_pago", "contacto")
    assert {name: context[name] for name in names} == dict.fromkeys(names, "")


def test_a_broken_reply_to_in_the_database_stops_the_email_and_says_why(
    sessions, ledger, tmp_path
) -> None:
    """The import checks it; a value written some other way is checked again, never sent."""
    pay_to(sessions, reply_to=f"{CONTACT}\r\nBcc: intruso@evil.example")
    with pytest.raises(InvalidValue, match="el correo ResponderA de la sociedad SM02 no es válido"):
        email_of(build(sessions), tmp_path)
