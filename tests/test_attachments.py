import io
import os
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import openpyxl
import pytest

from lib import statements
from lib.normalize import InvalidValue
from lib.statements import attachments

CUTOFF = date(2020, 3, 2)
SENT_ON = date(2020, 3, 5)
UUID = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
LONG_AGO_NS = 1_000_000_000 * 1_000_000_000  # 2001


def line(
    doc_no: str = "F-1001",
    *,
    open_amount: str = "100.00",
    uuid: str = "",
    reference: str = "REF",
    currency: str = "MXN",
) -> statements.Line:
    return statements.Line(
        doc_no=doc_no,
        doc_type="RV",
        doc_date=date(2020, 1, 15),
        due_date=date(2020, 2, 14),
        reference=reference,
        days_overdue=17,
        amount=Decimal(open_amount),
        open_amount=Decimal(open_amount),
        currency=currency,
        cfdi_uuid=uuid,
    )


def statement(
    *lines: statements.Line,
    language: str = "es",
    open_items: bool = True,
    invoices: bool = True,
) -> statements.Statement:
    return statements.Statement(
        company=statements.Party("SM02", "SERVICIOS MINEROS SA DE CV", "SMI010101AAA", ""),
        customer=statements.Party("1006210", "AGRO EQUIPOS & CÍA", "AEC010101AAA", ""),
        cutoff_date=CUTOFF,
        lines=lines,
        language=language,
        attach_open_items=open_items,
        attach_invoices=invoices,
    )


def sheet_of(content: bytes):
    return openpyxl.load_workbook(io.BytesIO(content)).active


def put(folder: Path, *names: str, size: int = 10) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)


def zip_of(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def found_names(search: attachments.InvoiceSearch) -> list[str]:
    return [file.name for file in search.files]


# The Excel of open items


@pytest.mark.parametrize(
    ("customer_no", "expected"),
    [
        ("1006210", "1006210_20200305.xlsx"),
        ("AB-12", "AB-12_20200305.xlsx"),
        ("../1 2", "___1_2_20200305.xlsx"),
    ],
)
def test_the_excel_is_named_like_the_pdf_with_a_safe_customer_number(
    customer_no: str, expected: str
) -> None:
    assert attachments.open_items_name(customer_no, SENT_ON) == expected


def test_the_excel_cells_are_real_dates_numbers_and_text_exact_to_the_cent() -> None:
    lines = (
        line("000123", open_amount="1234567.89", uuid=UUID, reference="000456"),
        line("NC-7", open_amount="-0.10", currency="USD"),
    )
    sheet = sheet_of(attachments.open_items_workbook(statement(*lines)))
    first = [cell for cell in sheet[3]]
    assert [cell.value for cell in first] == [
        "000123",
        "RV",
        datetime(2020, 1, 15),
        datetime(2020, 2, 14),
        "000456",
        17,
        1234567.89,
        1234567.89,
        "MXN",
        UUID,
    ]
    assert [type(cell.value) for cell in first] == [
        str,
        str,
        datetime,
        datetime,
        str,
        int,
        float,
        float,
        str,
        str,
    ]
    assert first[2].number_format == first[3].number_format == "dd/mm/yyyy"
    assert first[6].number_format == first[7].number_format == "#,##0.00"
    assert Decimal(str(first[7].value)) == Decimal("1234567.89")
    assert Decimal(str(sheet["H4"].value)) == Decimal("-0.10")
    assert sheet["I4"].value == "USD"


@pytest.mark.parametrize(
    "text", ["=cmd|' /C calc'!A0", "+52 55", "-1", "@SUM(A1)", "#N/A", "#REF!", "0001"]
)
def test_formula_or_error_like_text_stays_text(text: str) -> None:
    content = attachments.open_items_workbook(statement(line(text, reference=text)))
    sheet = sheet_of(content)
    for cell in (sheet["A3"], sheet["E3"]):
        assert cell.value == text
        assert cell.data_type == "s"
    assert sheet["A3"].quotePrefix is (text[0] in "=+-@")


def test_spanish_headers_title_and_sheet_name() -> None:
    sheet = sheet_of(attachments.open_items_workbook(statement(line())))
    assert sheet.title == "Partidas abiertas"
    assert sheet["A1"].value == (
        "SERVICIOS MINEROS SA DE CV — Estado de cuenta al 02/03/2020 — "
        "No. Cliente 1006210 AGRO EQUIPOS & CÍA"
    )
    assert [cell.value for cell in sheet[2]] == [
        "Documento",
        "Tipo",
        "Fecha",
        "Vencimiento",
        "Referencia",
        "Días vencidos",
        "Importe",
        "Saldo",
        "Moneda",
        "Folio fiscal (UUID)",
    ]


def test_english_customers_get_english_headers_and_us_dates() -> None:
    sheet = sheet_of(attachments.open_items_workbook(statement(line(), language="en")))
    assert sheet.title == "Open items"
    assert "Account statement as of 03/02/2020" in sheet["A1"].value
    assert [cell.value for cell in sheet[2]] == [
        "Document",
        "Type",
        "Date",
        "Due date",
        "Reference",
        "Days overdue",
        "Amount",
        "Balance",
        "Currency",
        "CFDI UUID",
    ]
    assert sheet["C3"].number_format == "mm/dd/yyyy"


def test_the_header_row_is_frozen_and_filtered_and_columns_fit_it() -> None:
    sheet = sheet_of(attachments.open_items_workbook(statement(line(), line("F-1002"))))
    assert sheet.freeze_panes == "A3"
    assert sheet.auto_filter.ref == "A2:J4"
    for cell in sheet[2]:
        assert sheet.column_dimensions[cell.column_letter].width >= len(cell.value)


def test_a_statement_without_lines_still_has_its_headers() -> None:
    sheet = sheet_of(attachments.open_items_workbook(statement()))
    assert sheet.max_row == 2
    assert sheet["A2"].value == "Documento"


# Finding the invoices


@pytest.mark.parametrize(
    ("files", "doc_no", "uuid", "expected"),
    [
        (["F-1001.pdf"], "F-1001", "", ["F-1001.pdf"]),
        (["F-1001.pdf", "F-1001.xml"], "F-1001", "", ["F-1001.pdf", "F-1001.xml"]),
        (["f-1001.PDF"], "F-1001", "", ["f-1001.PDF"]),
        (["SM02_F-1001.xml"], "F-1001", "", ["SM02_F-1001.xml"]),
        (["2020 03 F-1001 (copia).pdf"], "F-1001", "", ["2020 03 F-1001 (copia).pdf"]),
        ([f"{UUID.lower()}.xml"], "F-1001", UUID, [f"{UUID.lower()}.xml"]),
        ([f"SM02_{UUID}.pdf"], "X", UUID.lower(), [f"SM02_{UUID}.pdf"]),
        (["2020/03/F-1001.pdf"], "F-1001", "", ["F-1001.pdf"]),
        (["F-1001.pdf"], "F-10", "", []),
        (["F-10011.pdf"], "F-1001", "", []),
        (["XF-1001.pdf"], "F-1001", "", []),
        (["F-1001.txt", "F-1001.pdf.zip", "F-1001"], "F-1001", "", []),
        (["._F-1001.pdf"], "F-1001", "", []),
        (["F-1001.pdf"], "", "", []),
    ],
)
def test_invoice_files_match_by_whole_document_number_or_uuid(
    tmp_path: Path, files: list[str], doc_no: str, uuid: str, expected: list[str]
) -> None:
    put(tmp_path, *files)
    search = attachments.find_invoices([line(doc_no, uuid=uuid)], [tmp_path])
    assert found_names(search) == expected


def test_a_charge_without_a_file_is_missing_and_a_credit_never_is(tmp_path: Path) -> None:
    put(tmp_path, "F-2.pdf", "NC-2.pdf")
    lines = [
        line("F-1"),
        line("F-2"),
        line("NC-1", open_amount="-50.00"),
        line("NC-2", open_amount="-5.00"),
        line("F-1", currency="USD"),
    ]
    search = attachments.find_invoices(lines, [tmp_path])
    assert found_names(search) == ["F-2.pdf", "NC-2.pdf"]
    assert search.missing == ("F-1",)


def test_files_come_in_the_statements_order_once_each_first_folder_first(
    tmp_path: Path,
) -> None:
    uploads, shared = tmp_path / "uploads", tmp_path / "shared"
    put(uploads, "F-1.pdf")
    put(shared, "F-1.pdf", "F-1.xml", "F-2.pdf", "F-2_F-1.xml")
    search = attachments.find_invoices([line("F-2"), line("F-1")], [uploads, shared])
    assert found_names(search) == ["F-2.pdf", "F-2_F-1.xml", "F-1.pdf", "F-1.xml"]
    assert search.files[2].path == (uploads / "F-1.pdf").resolve()
    assert [file.size for file in search.files] == [10, 10, 10, 10]


def test_links_leading_out_of_the_folder_are_not_followed(tmp_path: Path) -> None:
    folder, outside = tmp_path / "facturas", tmp_path / "outside"
    put(outside, "F-1.pdf", "F-3.pdf")
    put(folder, "real/F-2.pdf")
    (folder / "F-1.pdf").symlink_to(outside / "F-1.pdf")
    (folder / "F-2-link.pdf").symlink_to(folder / "real" / "F-2.pdf")
    (folder / "elsewhere").symlink_to(outside, target_is_directory=True)
    lines = [line("F-1"), line("F-2"), line("F-3")]
    search = attachments.find_invoices(lines, [folder])
    assert found_names(search) == ["F-2-link.pdf", "F-2.pdf"]
    assert all(file.path.is_relative_to(folder.resolve()) for file in search.files)
    assert search.missing == ("F-1", "F-3")


def test_a_folder_that_does_not_exist_finds_nothing(tmp_path: Path) -> None:
    search = attachments.find_invoices([line("F-1")], [tmp_path / "nowhere"])
    assert search == attachments.InvoiceSearch(files=(), missing=("F-1",))


def test_the_index_is_kept_until_a_folder_in_it_changes(tmp_path: Path) -> None:
    put(tmp_path, "2020/F-1.pdf")
    for folder in (tmp_path, tmp_path / "2020"):
        os.utime(folder, ns=(LONG_AGO_NS, LONG_AGO_NS))
    root = tmp_path.resolve()
    first = attachments._index(root)
    assert attachments._index(root) is first
    put(tmp_path, "2020/F-2.pdf")
    search = attachments.find_invoices([line("F-1"), line("F-2")], [tmp_path])
    assert found_names(search) == ["F-1.pdf", "F-2.pdf"]
    assert attachments._index(root) is not first


def test_a_file_added_right_after_a_search_is_found_by_the_next(tmp_path: Path) -> None:
    put(tmp_path, "F-1.pdf")
    assert attachments.find_invoices([line("F-2")], [tmp_path]).missing == ("F-2",)
    put(tmp_path, "F-2.pdf")
    assert found_names(attachments.find_invoices([line("F-2")], [tmp_path])) == ["F-2.pdf"]


def test_each_of_many_lines_finds_its_own_file_among_thousands(tmp_path: Path) -> None:
    for number in range(2_000):
        (tmp_path / f"SM02_F-{number}.pdf").write_bytes(b"")
    lines = [line(f"F-{number}") for number in range(0, 2_000, 10)]
    search = attachments.find_invoices(lines, [tmp_path])
    assert found_names(search) == [f"SM02_F-{number}.pdf" for number in range(0, 2_000, 10)]
    assert search.missing == ()


@pytest.mark.parametrize(
    ("sub_folder", "expected"),
    [(None, "shared"), ("SM02", "shared/SM02"), ("sm02", "shared/sm02")],
)
def test_invoices_dir_is_narrowed_to_the_sociedads_sub_folder_when_it_has_one(
    tmp_path: Path, sub_folder: str | None, expected: str
) -> None:
    shared = tmp_path / "shared"
    (shared / "SM01").mkdir(parents=True)
    if sub_folder:
        (shared / sub_folder).mkdir()
    dirs = attachments.invoice_dirs(shared, tmp_path / "data", "sm02")
    assert dirs == [tmp_path / "data" / "facturas" / "SM02", tmp_path / expected]


def test_without_invoices_dir_only_the_uploads_are_searched(tmp_path: Path) -> None:
    assert attachments.invoice_dirs(None, tmp_path, "SM02") == [tmp_path / "facturas" / "SM02"]


def test_a_sociedad_code_that_is_no_plain_folder_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="Sociedad"):
        attachments.invoice_dirs(None, tmp_path, "../SM02")


# The ZIP uploaded on the Sociedades page


@pytest.mark.parametrize(
    ("member", "stored_as"),
    [
        ("F-1.pdf", "F-1.pdf"),
        ("2020/marzo/F-1.xml", "F-1.xml"),
        ("../x.pdf", "x.pdf"),
        ("../../../../tmp/x.pdf", "x.pdf"),
        ("/etc/x.pdf", "x.pdf"),
        ("a/../../x.xml", "x.xml"),
        ("..\\..\\windows\\x.pdf", "x.pdf"),
    ],
)
def test_zip_members_land_flat_inside_the_sociedads_folder(
    tmp_path: Path, member: str, stored_as: str
) -> None:
    data_dir = tmp_path / "deep" / "data"
    stored = attachments.store_invoice_zip(zip_of((member, b"%PDF-1.4")), data_dir, "sm02")
    folder = data_dir / "facturas" / "SM02"
    assert stored == attachments.StoredZip(stored=1, skipped=())
    assert [path.name for path in folder.iterdir()] == [stored_as]
    assert (folder / stored_as).read_bytes() == b"%PDF-1.4"
    every_file = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert every_file == [folder / stored_as]


def test_other_files_are_skipped_and_named(tmp_path: Path) -> None:
    content = zip_of(
        ("F-1.pdf", b"1"),
        ("notas.txt", b"2"),
        ("F-2.pdf.exe", b"3"),
        ("__MACOSX/._F-1.pdf", b"4"),
        ("otra/f-1.PDF", b"5"),
        ("F-2.XML", b"6"),
        ("vacia/", b""),
    )
    stored = attachments.store_invoice_zip(content, tmp_path, "SM02")
    assert stored.stored == 2
    assert stored.skipped == ("notas.txt", "F-2.pdf.exe", "__MACOSX/._F-1.pdf", "otra/f-1.PDF")
    assert stored.note == (
        "Se guardaron 2 facturas. Omitidos (solo se guardan archivos .pdf y .xml, uno por "
        "nombre): notas.txt, F-2.pdf.exe, __MACOSX/._F-1.pdf, otra/f-1.PDF."
    )
    assert sorted(path.name for path in (tmp_path / "facturas" / "SM02").iterdir()) == [
        "F-1.pdf",
        "F-2.XML",
    ]
    assert attachments.invoice_count(tmp_path, "SM02") == 2


def test_a_long_list_of_skipped_files_names_the_first_twenty(tmp_path: Path) -> None:
    names = [(f"nota{number:02d}.txt", b"") for number in range(25)]
    stored = attachments.store_invoice_zip(zip_of(*names), tmp_path, "SM02")
    assert len(stored.skipped) == 25
    assert stored.note.startswith("Se guardaron 0 facturas. Omitidos")
    assert stored.note.endswith("nota18.txt, nota19.txt y 5 más.")


def test_one_stored_invoice_is_said_in_the_singular(tmp_path: Path) -> None:
    stored = attachments.store_invoice_zip(zip_of(("F-1.pdf", b"1")), tmp_path, "SM02")
    assert stored.note == "Se guardó 1 factura."


def test_a_new_upload_replaces_a_file_of_the_same_name_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    attachments.store_invoice_zip(zip_of(("F-1.pdf", b"old"), ("F-2.pdf", b"2")), tmp_path, "SM02")
    attachments.store_invoice_zip(zip_of(("F-1.pdf", b"new")), tmp_path, "SM02")
    folder = tmp_path / "facturas" / "SM02"
    assert sorted(path.name for path in folder.iterdir()) == ["F-1.pdf", "F-2.pdf"]
    assert (folder / "F-1.pdf").read_bytes() == b"new"


@pytest.mark.parametrize(
    "content", [b"%PDF-1.4 not a zip", b"", b"PK\x03\x04 truncated"], ids=["pdf", "empty", "cut"]
)
def test_a_file_that_is_not_a_zip_is_refused_in_spanish(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(InvalidValue, match="El archivo no es un ZIP válido"):
        attachments.store_invoice_zip(content, tmp_path, "SM02")
    assert not (tmp_path / "facturas").exists()


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("F-1.pdf", b"small")
        with archive.open("F-2.pdf", "w", force_zip64=True) as member:
            chunk = bytes(10_000_000)
            for _ in range(attachments.MAX_ZIP_BYTES // len(chunk) + 1):
                member.write(chunk)
    with pytest.raises(InvalidValue, match="ocupan más de 500 MB descomprimidas"):
        attachments.store_invoice_zip(buffer.getvalue(), tmp_path, "SM02")
    assert not (tmp_path / "facturas").exists()


def test_a_zip_of_too_many_files_is_refused(tmp_path: Path) -> None:
    names = [(f"{number}.txt", b"") for number in range(attachments.MAX_ZIP_MEMBERS + 1)]
    with pytest.raises(InvalidValue, match="El ZIP tiene más de 20,000 archivos"):
        attachments.store_invoice_zip(zip_of(*names), tmp_path, "SM02")


def test_an_encrypted_zip_is_refused(tmp_path: Path) -> None:
    content = bytearray(zip_of(("F-1.pdf", b"secret")))
    # zipfile writes no encryption: set the "encrypted" flag in both headers, as a tool would.
    content[6] |= 0x1
    content[content.index(b"PK\x01\x02") + 8] |= 0x1
    with pytest.raises(InvalidValue, match="protegido con contraseña"):
        attachments.store_invoice_zip(bytes(content), tmp_path, "SM02")
    assert not (tmp_path / "facturas").exists()


def test_a_damaged_member_is_refused_and_leaves_no_partial_file(tmp_path: Path) -> None:
    content = bytearray(zip_of(("F-1.pdf", b"%PDF" * 1000)))
    content[40:60] = bytes(20)  # inside F-1.pdf's compressed data
    with pytest.raises(InvalidValue, match=re.escape("No se pudo leer «F-1.pdf» del ZIP")):
        attachments.store_invoice_zip(bytes(content), tmp_path, "SM02")
    assert list((tmp_path / "facturas" / "SM02").iterdir()) == []


def test_no_uploads_count_zero(tmp_path: Path) -> None:
    assert attachments.invoice_count(tmp_path, "SM02") == 0


# The size budget


@pytest.mark.parametrize("size", [0, 1, 57, 1_000, 1_000_000])
@pytest.mark.parametrize("name", ["F-1.pdf", "Factura número ñandú " * 5 + ".pdf"])
def test_wire_bytes_is_at_least_what_an_attachment_adds_to_a_real_email(
    size: int, name: str
) -> None:
    message = EmailMessage()
    message["Subject"] = "Estado de cuenta"
    message.set_content("Cuerpo")
    message.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="a.pdf")
    before = len(message.as_bytes())
    message.add_attachment(bytes(size), maintype="application", subtype="pdf", filename=name)
    assert len(message.as_bytes()) - before <= attachments.wire_bytes(size, name)
    assert attachments.wire_bytes(size, name) >= size * 4 / 3


def part(name: str, size: int) -> attachments.Attachment:
    return attachments.Attachment(name, "application", "pdf", bytes(size))


ROOM = attachments.wire_bytes(1000, "a.pdf") * 2  # two 1000-byte files and nothing more


@pytest.mark.parametrize(
    ("base", "sizes", "attached", "left_out"),
    [
        (0, [1000, 1000], ["a.pdf", "b.pdf"], []),
        (0, [1000, 1000, 1000], ["a.pdf", "b.pdf"], ["c.pdf"]),
        (0, [1000, 5000, 1000], ["a.pdf", "c.pdf"], ["b.pdf"]),
        (ROOM, [1000, 1], [], ["a.pdf", "b.pdf"]),
        (ROOM * 2, [1], [], ["a.pdf"]),
        (0, [], [], []),
    ],
)
def test_fit_attaches_in_order_while_there_is_room_and_returns_the_rest(
    base: int, sizes: list[int], attached: list[str], left_out: list[str]
) -> None:
    candidates = [part(f"{chr(ord('a') + n)}.pdf", size) for n, size in enumerate(sizes)]
    going, staying = attachments.fit(base, candidates, ROOM)
    assert [p.name for p in going] == attached
    assert [p.name for p in staying] == left_out


def extras_of(
    the_statement: statements.Statement, tmp_path: Path, max_mb: int = 20, base: int = 50_000
) -> attachments.Extras:
    return attachments.extras(
        the_statement,
        sent_on=SENT_ON,
        invoices_dir=tmp_path / "shared",
        data_dir=tmp_path / "data",
        max_bytes=max_mb * attachments.MB,
        base_bytes=base,
    )


def test_a_sociedad_that_attaches_nothing_gets_nothing(tmp_path: Path) -> None:
    put(tmp_path / "shared", "F-1.pdf")
    extras = extras_of(statement(line("F-1"), open_items=False, invoices=False), tmp_path)
    assert extras == attachments.Extras()
    assert extras.note == ""
    assert extras.email_lines("es") == ()


def test_the_excel_alone_goes_without_looking_for_invoices(tmp_path: Path) -> None:
    extras = extras_of(statement(line("F-1"), invoices=False), tmp_path)
    [excel] = extras.files
    assert (excel.name, excel.maintype, excel.subtype) == (
        "1006210_20200305.xlsx",
        "application",
        "vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    assert sheet_of(excel.data)["A3"].value == "F-1"
    assert (extras.missing, extras.not_attached, extras.note) == ((), (), "")


def test_the_excel_comes_first_then_the_invoices_in_the_statements_order(
    tmp_path: Path,
) -> None:
    put(tmp_path / "shared", "F-2.pdf", "F-1.pdf", "F-1.xml")
    extras = extras_of(statement(line("F-1"), line("F-2")), tmp_path)
    assert [(f.name, f.subtype) for f in extras.files] == [
        ("1006210_20200305.xlsx", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("F-1.pdf", "pdf"),
        ("F-1.xml", "xml"),
        ("F-2.pdf", "pdf"),
    ]
    assert extras.files[1].data == b"x" * 10
    assert extras.note == ""


def test_invoices_over_the_limit_are_listed_for_the_row_and_the_email(tmp_path: Path) -> None:
    shared = tmp_path / "shared" / "SM02"
    put(shared, "F-1.pdf", size=400_000)
    put(shared, "F-2.pdf", size=700_000)
    put(shared, "F-3.xml", size=2_000)
    put(tmp_path / "data" / "facturas" / "SM02", "F-4.pdf", size=300_000)
    the_statement = statement(
        line("F-1"),
        line("F-2"),
        line("F-3"),
        line("F-4"),
        line("F-5"),
        line("F-6"),
        open_items=False,
    )
    extras = extras_of(the_statement, tmp_path, max_mb=1, base=200_000)
    assert [f.name for f in extras.files] == ["F-1.pdf", "F-3.xml"]
    assert extras.not_attached == ("F-2.pdf", "F-4.pdf")
    assert extras.missing == ("F-5", "F-6")
    assert extras.note == (
        "Facturas no encontradas: F-5, F-6. No adjuntas por tamaño (límite 1 MB): F-2.pdf, F-4.pdf."
    )
    assert extras.email_lines("es") == (
        "No se adjuntaron por tamaño (puede pedirlas respondiendo a este correo): F-2.pdf, F-4.pdf",
    )
    assert extras.email_lines("en") == (
        "Not attached because of their size (you can ask for them by replying to this "
        "email): F-2.pdf, F-4.pdf",
    )


def test_the_excel_counts_against_the_limit_but_always_goes(tmp_path: Path) -> None:
    put(tmp_path / "shared", "F-1.pdf", size=10)
    extras = extras_of(statement(line("F-1")), tmp_path, max_mb=1, base=2_000_000)
    assert [f.name for f in extras.files] == ["1006210_20200305.xlsx"]
    assert extras.not_attached == ("F-1.pdf",)
    assert extras.note == "No adjuntas por tamaño (límite 1 MB): F-1.pdf."


def test_missing_invoices_are_for_the_analyst_not_the_customer(tmp_path: Path) -> None:
    extras = extras_of(statement(line("F-1"), open_items=False), tmp_path)
    assert extras.files == ()
    assert extras.note == "Facturas no encontradas: F-1."
    assert extras.email_lines("es") == extras.email_lines("en") == ()
