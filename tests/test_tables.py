"""Unreadable and hostile files, each generated here: one Spanish message that says what the
file is and what to do, never a traceback; and the line ends, encodings and sheets Excel
really writes, read as Excel shows them.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from pathlib import Path

import openpyxl
import pytest

from lib import tables
from tests.test_cli import run_cli

SAVE_AS = "guárdalo como CSV UTF-8 o .xlsx"
HEADERS = ["Sociedad", "NoCliente", "Correo"]
LINES = [b"Sociedad,NoCliente,Correo", b"SM02,1006210,a@x.mx", b"SM02,1004273,b@x.mx"]


def workbook_bytes(
    *sheets: tuple[str, list[list[object]]], hidden: str = "", active: int = 0
) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if title == hidden:
            sheet.sheet_state = "hidden"
    book.active = active
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def good_xlsx() -> bytes:
    return workbook_bytes(("Hoja1", [HEADERS, ["SM02", "1006210", "a@x.mx"]]))


def with_entities(content: bytes) -> bytes:
    """The workbook with its sheet replaced by XML that declares entities (billion laughs)."""
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c></row>'
        b"</sheetData></worksheet>"
    )
    target = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(target, "w") as out:
        for item in source.infolist():
            data = source.read(item.filename)
            out.writestr(item, bomb if item.filename.endswith("sheet1.xml") else data)
    return target.getvalue()


HOSTILE = {
    "not a zip": ("c.xlsx", b"esto no es un libro de Excel", "no es un Excel .xlsx válido"),
    "truncated": ("c.xlsx", good_xlsx()[:1500], "Excel .xlsx"),
    "encrypted": (
        "c.xlsx",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,
        "protegido con contraseña o es de Excel 97-2003",
    ),
    "entities": ("c.xlsx", with_entities(good_xlsx()), "no es un Excel .xlsx válido"),
    "huge cell": (
        "c.csv",
        b"Sociedad,NoCliente,Correo\r\nSM02,1," + b'"' + b"x" * 200_000 + b'"\r\n',
        "una celda pasa de 131,072 caracteres",
    ),
    "bad utf-16": ("c.csv", codecs.BOM_UTF16_LE + b"S\x00o\x00\x00\xd8", "UTF-16"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_file_that_cannot_be_read_says_what_to_do_in_one_message(case: str) -> None:
    filename, content, words = HOSTILE[case]

    with pytest.raises(tables.TableError) as raised:
        tables.read_table(filename, content)

    message = str(raised.value)
    assert words in message
    assert "lol" not in message
    assert message.endswith(SAVE_AS)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("mac.csv", b"\r".join(LINES) + b"\r"),
        ("crlf.csv", b"\r\n".join(LINES) + b"\r\n"),
        (
            "unicode.txt",
            codecs.BOM_UTF16_LE
            + "Sociedad\tNoCliente\tCorreo\r\nSM02\t1006210\ta@x.mx\r\nSM02\t1004273\tb@x.mx\r\n"
            .encode("utf-16-le"),
        ),
    ],
)  # fmt: skip
def test_excels_line_ends_and_unicode_text_export_read_row_by_row(
    name: str, content: bytes
) -> None:
    table = tables.read_table(name, content)

    assert table.headers == HEADERS
    assert [(n, cells[1]) for n, cells in table.rows] == [(2, "1006210"), (3, "1004273")]


def test_a_lone_cr_inside_a_quoted_cell_stays_in_its_cell() -> None:
    content = b'Sociedad,NoCliente,Nombre\r\nSM02,1006210,"PE\xc3\x91A\rHIJOS"\r\nSM02,1,X\r\n'

    table = tables.read_table("c.csv", content)

    assert [cells for _, cells in table.rows] == [
        ["SM02", "1006210", "PEÑA\rHIJOS"],
        ["SM02", "1", "X"],
    ]


def test_the_visible_active_sheet_is_read_and_named_not_a_hidden_first_one() -> None:
    content = workbook_bytes(
        ("Vieja", [HEADERS, ["SM02", "1", "viejo@x.mx"]]),
        ("Clientes", [HEADERS, ["SM02", "1006210", "a@x.mx"]]),
        ("Notas", [["nada"]]),
        hidden="Vieja",
        active=1,
    )

    table = tables.read_table("c.xlsx", content)

    assert [cells[2] for _, cells in table.rows] == ["a@x.mx"]
    assert table.note == "Se leyó la hoja «Clientes»."
    assert tables.read_table("c.xlsx", good_xlsx()).note == ""


def test_the_cli_reports_a_hostile_file_in_spanish_with_exit_1(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    for name, content in [
        ("cifrado.xlsx", HOSTILE["encrypted"][1]),
        ("grande.csv", HOSTILE["huge cell"][1]),
    ]:
        path = tmp_path / name
        path.write_bytes(content)

        code, out, err = run_cli("catalog", "import", str(path))

        assert (code, out) == (1, "")
        assert err.startswith("error: ")
        assert err.rstrip().endswith(SAVE_AS)


def test_the_csv_field_limit_is_the_modules_own() -> None:
    assert csv.field_size_limit() == 131_072


def test_openpyxl_reads_workbooks_through_defusedxml() -> None:
    """Without it the entity workbook above is expanded, not refused (requirements.txt)."""
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML
