"""Read an uploaded `.xlsx` or `.csv` into a header and numbered rows.

Row numbers are the ones the user sees in Excel (the header is row 1 when it is the first
line), so an error can say "fila 7" and the user finds it. Blank rows are dropped here.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import openpyxl
import openpyxl.styles

from lib import normalize

CSV_ENCODINGS = ("utf-8-sig", "cp1252")
CSV_DELIMITERS = ",;\t|"
MAX_ROWS = 200_000
PROGRESS_EVERY = 2_000
# An OLE2 compound file: an encrypted .xlsx (Excel wraps it so) or an old .xls.
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
SAVE_AS = "guárdalo como CSV UTF-8 o .xlsx"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Progress = Callable[[float], None]


class TableError(ValueError):
    """The file as a whole cannot be read; the message says why, in Spanish."""


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[tuple[int, list[object]]]
    sheet: str = ""  # the sheet read, when the workbook has several

    @property
    def note(self) -> str:
        """What the import tells the user about the sheet it read ("" with only one)."""
        return f"Se leyó la hoja «{self.sheet}»." if self.sheet else ""


def read_path(path: Path) -> Table:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise TableError(f"No se pudo abrir {path}: {exc.strerror}") from exc
    return read_table(path.name, content)


def read_table(filename: str, content: bytes, progress: Progress | None = None) -> Table:
    """Read the sheet Excel opens with (or the CSV); `progress` gets the fraction read."""
    suffix = Path(filename).suffix.lower()
    sheet = ""
    if suffix == ".xlsx":
        lines, sheet = _xlsx_lines(content, progress or (lambda _fraction: None))
    elif suffix in (".csv", ".txt"):
        lines = _csv_lines(content)
    elif suffix == ".xls":
        raise TableError("El formato .xls (Excel 97-2003) no se puede leer; guárdalo como .xlsx")
    else:
        raise TableError(f"Tipo de archivo no soportado: '{suffix or filename}'; usa .xlsx o .csv")
    return replace(_to_table(lines), sheet=sheet)


def write_xlsx(headers: list[str], rows: list[list[object]], *, sheet: str = "Hoja1") -> bytes:
    """A one-sheet workbook with a bold header row, as bytes for a download or a file.

    Text that Excel would run as a formula (`=`, `+`, `-`, `@`, tab, CR at the start) is written
    as a text cell with Excel's quote prefix, its value unchanged: a customer name or email
    never becomes a formula, and the file imports back as it was exported.
    """
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    worksheet.append(headers)
    for cell in worksheet[1]:
        cell.font = openpyxl.styles.Font(bold=True)
    for number, row in enumerate(rows, start=2):
        worksheet.append(row)
        # Only the formula-like cells, each by its address: asking the sheet for "its last
        # row" scans every cell written so far, and an export of 10,000 rows took minutes.
        for column, value in enumerate(row, start=1):
            if formula_like(value):
                cell = worksheet.cell(row=number, column=column)
                cell.data_type = "s"
                cell.quotePrefix = True  # and stays text when someone edits the cell
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def formula_like(value: object) -> bool:
    return isinstance(value, str) and value[:1] in FORMULA_STARTS


def _xlsx_lines(content: bytes, progress: Progress) -> tuple[list[list[object]], str]:
    """The rows of the sheet Excel shows when the file opens (the active one, if visible; else
    the first visible), and its name when there was a choice.
    """
    if content.startswith(OLE_SIGNATURE):
        raise TableError(
            "El archivo está protegido con contraseña o es de Excel 97-2003: quítale la "
            f"contraseña y {SAVE_AS}"
        )
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # whatever a broken or hostile file makes the reader raise
        raise TableError(f"El archivo no es un Excel .xlsx válido; {SAVE_AS}") from exc
    try:
        visible = [s for s in workbook.worksheets if s.sheet_state == "visible"]
        if not visible:
            raise TableError("El archivo no tiene hojas visibles")
        sheet = workbook.active if workbook.active in visible else visible[0]
        expected = sheet.max_row or 0
        lines = []
        for row in sheet.iter_rows(values_only=True):
            lines.append(list(row))
            if expected and len(lines) % PROGRESS_EVERY == 0:
                progress(min(len(lines) / expected, 1.0))
        return lines, sheet.title if len(workbook.worksheets) > 1 else ""
    except TableError:
        raise
    except Exception as exc:  # a truncated or malformed part met while reading the rows
        raise TableError(f"El archivo .xlsx está dañado o incompleto; {SAVE_AS}") from exc
    finally:
        workbook.close()


def _csv_lines(content: bytes) -> list[list[object]]:
    text = _decode(content)
    sample = text[:8192]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, CSV_DELIMITERS)
    except csv.Error:
        dialect = csv.excel
    # newline="": rows end at CRLF, LF or a Mac's lone CR; a CR inside quotes stays in its cell.
    try:
        return [list(row) for row in csv.reader(io.StringIO(text, newline=""), dialect)]
    except csv.Error as exc:
        raise TableError(f"El CSV no se puede leer ({_csv_problem(exc)}); {SAVE_AS}") from exc


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"una celda pasa de {csv.field_size_limit():,} caracteres"
    return "tiene un salto de línea o una comilla fuera de lugar"


def _decode(content: bytes) -> str:
    """Excel on Windows saves CSV as cp1252 unless told UTF-8, and "Texto Unicode" as UTF-16
    with its BOM; accept all three.
    """
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return content.decode("utf-16")
        except UnicodeDecodeError:
            raise TableError(
                f"El texto Unicode (UTF-16) del archivo está dañado; {SAVE_AS}"
            ) from None
    for encoding in CSV_ENCODINGS:
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TableError(f"No se pudo leer el texto del CSV; {SAVE_AS}")


def _to_table(lines: list[list[object]]) -> Table:
    numbered = [
        (number, cells)
        for number, cells in enumerate(lines, start=1)
        if any(normalize.text(cell) for cell in cells)
    ]
    if not numbered:
        raise TableError("El archivo está vacío")
    if len(numbered) - 1 > MAX_ROWS:
        raise TableError(f"El archivo tiene más de {MAX_ROWS:,} filas; divídelo en partes")
    _, header_cells = numbered[0]
    headers = [normalize.text(cell) for cell in header_cells]
    return Table(headers=headers, rows=numbered[1:])
