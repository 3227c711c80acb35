"""What goes with the statement PDF when the sociedad asks for it (`Company.attach_open_items`,
`attach_invoices`): the open items as an Excel file and the invoices' own `.pdf`/`.xml` files,
within the email's size limit (MAIL_MAX_MB).

Where a sociedad's invoices are: `DATA_DIR/facturas/<Sociedad>/`, flat, filled by the ZIP
uploaded on the Sociedades page; and INVOICES_DIR when set: its `<Sociedad>/` sub-folder when it
has one, else the whole folder. Both are searched with their sub-folders. One folder for every
sociedad only suits document numbers that no two sociedades share (a CFDI UUID never repeats).

A file belongs to a document when its name without `.pdf`/`.xml` holds the document number or
the CFDI UUID as a whole token, case aside: `F-1001.pdf`, `SM02_F-1001.xml` and
`<uuid>.xml` belong to F-1001, `F-1001.pdf` does not belong to F-10. Only charges need one: a
charge without a file is "missing"; a credit's file goes along when there is one.

The statement PDF and the Excel always go. Invoices follow in the statement's order while the
email stays within the limit; one that does not fit is named in the run's row and in the
email, and a later, smaller one may still go.
"""

from __future__ import annotations

import io
import math
import os
import re
import secrets
import shutil
import time
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol, TypeVar

import openpyxl
import openpyxl.styles
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.utils import get_column_letter

from lib import formatting, languages, normalize, statements, tables
from lib.normalize import InvalidValue
from lib.statements import labels

# Sizes in MB of 10^6 bytes: a little under a mail server's MiB, so its limit is never passed.
MB = 1_000_000
UPLOADS_FOLDER = "facturas"
INVOICE_SUBTYPES = {".pdf": "pdf", ".xml": "xml"}
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
UNSAFE_IN_NAME_RE = re.compile(r"[^0-9A-Za-z-]")
SEPARATORS_RE = re.compile(r"[^0-9a-z]+")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Each attachment's MIME headers and boundary; a file name may be written twice, %-encoded.
PART_HEADERS = 1024
BASE64_LINE = 76
MAX_ZIP_BYTES = 500 * MB
MAX_ZIP_MEMBERS = 20_000
MAX_NAME_BYTES = 200
NAMES_SHOWN = 20
ZIP_ENTRY_SIGNATURE = b"PK\x01\x02"
# A folder changed this recently may change again within its clock tick unseen: not cached.
RACY_NS = 2_000_000_000
MAX_COLUMN_WIDTH = 45
HEADER_ROW = 2  # under the title row

TEXT, DATE, INT, MONEY = "text", "date", "int", "money"
# (Line field, kind) in the sheet's order; the headers are the statement's own words.
COLUMNS = (
    ("doc_no", TEXT),
    ("doc_type", TEXT),
    ("doc_date", DATE),
    ("due_date", DATE),
    ("reference", TEXT),
    ("days_overdue", INT),
    ("amount", MONEY),
    ("open_amount", MONEY),
    ("currency", TEXT),
    ("cfdi_uuid", TEXT),
)
UUID_HEADER = {languages.SPANISH: "Folio fiscal (UUID)", languages.ENGLISH: "CFDI UUID"}
TOO_BIG_LINE = {
    languages.SPANISH: "No se adjuntaron por tamaño (puede pedirlas respondiendo a este correo)",
    languages.ENGLISH: "Not attached because of their size (you can ask for them by replying "
    "to this email)",
}


class _Sized(Protocol):
    @property
    def wire_bytes(self) -> int: ...


Part = TypeVar("Part", bound=_Sized)


@dataclass(frozen=True)
class Attachment:
    name: str
    maintype: str
    subtype: str
    data: bytes = field(repr=False)

    @property
    def wire_bytes(self) -> int:
        return wire_bytes(len(self.data), self.name)


@dataclass(frozen=True)
class InvoiceFile:
    """A file found for a document, not read yet: only the ones that fit are."""

    name: str
    path: Path
    size: int

    @property
    def wire_bytes(self) -> int:
        return wire_bytes(self.size, self.name)


@dataclass(frozen=True)
class InvoiceSearch:
    files: tuple[InvoiceFile, ...]  # in the statement's order, one per name (first folder's)
    missing: tuple[str, ...]  # document numbers of the charges without a file


@dataclass(frozen=True)
class StoredZip:
    stored: int
    skipped: tuple[str, ...]  # the ZIP's names that were not kept

    @property
    def note(self) -> str:
        """What the Sociedades page says after the upload; a ZIP of thousands of other files
        names the first few."""
        verb = formatting.plural(self.stored, "Se guardó", "Se guardaron")
        text = f"{verb} {formatting.count(self.stored, 'factura')}."
        if self.skipped:
            names = ", ".join(self.skipped[:NAMES_SHOWN])
            more = len(self.skipped) - NAMES_SHOWN
            text += (
                " Omitidos (solo se guardan archivos .pdf y .xml, uno por nombre): "
                f"{names}{f' y {more:,} más' if more > 0 else ''}."
            )
        return text


@dataclass(frozen=True)
class Extras:
    """The attachments besides the PDF, and what the run's row and the email say is lacking.

    The customer is told only about the invoices left out by size (they exist and can be
    asked for); the ones not found are for the analyst, who can add them and send again.
    """

    files: tuple[Attachment, ...] = ()
    not_attached: tuple[str, ...] = ()  # invoice file names over the size limit
    missing: tuple[str, ...] = ()  # document numbers of the charges without a file
    max_bytes: int = 0

    @property
    def note(self) -> str:
        """The run's row: "" when nothing is lacking."""
        parts = []
        if self.missing:
            parts.append(f"Facturas no encontradas: {', '.join(self.missing)}.")
        if self.not_attached:
            parts.append(
                f"No adjuntas por tamaño (límite {self.max_bytes / MB:g} MB): "
                f"{', '.join(self.not_attached)}."
            )
        return " ".join(parts)

    def email_lines(self, language: str) -> tuple[str, ...]:
        """What the email body adds in the customer's language; none when all went."""
        if not self.not_attached:
            return ()
        words = TOO_BIG_LINE.get(language, TOO_BIG_LINE[languages.DEFAULT])
        return (f"{words}: {', '.join(self.not_attached)}",)


def extras(
    statement: statements.Statement,
    *,
    sent_on: date,
    invoices_dir: Path | None,
    data_dir: Path,
    max_bytes: int,
    base_bytes: int,
) -> Extras:
    """`base_bytes` is the email with its PDF as sent (`len(message.as_bytes())`, or the
    body's size plus the PDF's `wire_bytes`); the Excel joins that base whatever its size.
    A sociedad that attaches nothing costs no disk access.
    """
    if not (statement.attach_open_items or statement.attach_invoices):
        return Extras()
    files: list[Attachment] = []
    if statement.attach_open_items:
        name = open_items_name(statement.customer.code, sent_on)
        files.append(Attachment(name, *XLSX_TYPE, open_items_workbook(statement)))
    if not statement.attach_invoices:
        return Extras(tuple(files), max_bytes=max_bytes)
    dirs = invoice_dirs(invoices_dir, data_dir, statement.company.code)
    search = find_invoices(statement.lines, dirs)
    base = base_bytes + sum(part.wire_bytes for part in files)
    fitting, left_out = fit(base, search.files, max_bytes)
    files.extend(_read(found) for found in fitting)
    return Extras(tuple(files), tuple(f.name for f in left_out), search.missing, max_bytes)


def wire_bytes(size: int, name: str) -> int:
    """An attachment's size in the email: base64 (4 bytes per 3, CRLF every 76) and headers."""
    encoded = 4 * math.ceil(size / 3)
    return encoded + 2 * math.ceil(encoded / BASE64_LINE) + PART_HEADERS + 6 * len(name.encode())


def fit(
    base_bytes: int, candidates: Sequence[Part], max_bytes: int
) -> tuple[list[Part], list[Part]]:
    """(attached, not attached), both in the candidates' order; none is dropped."""
    room = max_bytes - base_bytes
    attached: list[Part] = []
    left_out: list[Part] = []
    for candidate in candidates:
        if candidate.wire_bytes <= room:
            attached.append(candidate)
            room -= candidate.wire_bytes
        else:
            left_out.append(candidate)
    return attached, left_out


def customer_file_name(customer_no: str, sent_on: date, suffix: str) -> str:
    """Manual section 3: `<No. Cliente>_<YYYYMMDD><suffix>`, the day the send runs.

    Customer numbers are normalised to letters, digits and `-` everywhere; anything else is
    replaced here too, so the name never holds a path separator, `..` or a line break.
    """
    return f"{UNSAFE_IN_NAME_RE.sub('_', customer_no)}_{sent_on:%Y%m%d}{suffix}"


def open_items_name(customer_no: str, sent_on: date) -> str:
    """`<No. Cliente>_<YYYYMMDD>.xlsx`, beside the PDF's `.pdf` of the same name."""
    return customer_file_name(customer_no, sent_on, ".xlsx")


def open_items_workbook(statement: statements.Statement) -> bytes:
    """The statement's lines as cells Excel can add up and filter: real dates and numbers in
    the customer's formats, and document numbers, references and UUIDs as text, so `000123`
    keeps its zeros and `=cmd` is never a formula.
    """
    words = labels.of(statement.language)
    headers = [_header(key, statement.language) for key, _kind in COLUMNS]
    date_format = _excel_date_format(words["date_format"])
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = words["open_items"]
    _write(sheet.cell(row=1, column=1), _title(statement), TEXT, "")
    sheet["A1"].font = openpyxl.styles.Font(bold=True, size=12)
    for column, header in enumerate(headers, start=1):
        _write(sheet.cell(row=HEADER_ROW, column=column), header, TEXT, "")
        sheet.cell(row=HEADER_ROW, column=column).font = openpyxl.styles.Font(bold=True)
    for number, line in enumerate(statement.lines, start=HEADER_ROW + 1):
        for column, (key, kind) in enumerate(COLUMNS, start=1):
            _write(sheet.cell(row=number, column=column), getattr(line, key), kind, date_format)
    sheet.freeze_panes = sheet.cell(row=HEADER_ROW + 1, column=1).coordinate
    last_column = get_column_letter(len(COLUMNS))
    sheet.auto_filter.ref = f"A{HEADER_ROW}:{last_column}{HEADER_ROW + len(statement.lines)}"
    for column, ((key, kind), header) in enumerate(zip(COLUMNS, headers, strict=True), start=1):
        shown = (_shown(getattr(line, key), kind) for line in statement.lines)
        sheet.column_dimensions[get_column_letter(column)].width = _width(header, shown)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _header(key: str, language: str) -> str:
    """The statement's word for the column; the UUID, which it does not print, has its own."""
    if key == "cfdi_uuid":
        return UUID_HEADER.get(language, UUID_HEADER[languages.DEFAULT])
    return labels.of(language)[key]


def _title(statement: statements.Statement) -> str:
    words = labels.of(statement.language)
    customer = statement.customer
    cutoff = labels.day(statement.cutoff_date, statement.language)
    return (
        f"{statement.company.name} — {words['title']} {cutoff} — "
        f"{words['customer_no']} {customer.code} {customer.name}"
    )


def _excel_date_format(strftime_format: str) -> str:
    """`%d/%m/%Y` → `dd/mm/yyyy`: the statement's own date order."""
    return strftime_format.replace("%d", "dd").replace("%m", "mm").replace("%Y", "yyyy")


def _write(cell: Cell, value: object, kind: str, date_format: str) -> None:
    if kind == TEXT:
        # Set as text explicitly: openpyxl makes `=…` a formula and `#N/A` an error cell.
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", str(value))
        cell.data_type = "s"
        cell.quotePrefix = tables.formula_like(cell.value)
        return
    cell.value = value
    if kind == DATE:
        cell.number_format = date_format
    elif kind == MONEY:
        cell.number_format = "#,##0.00"


def _shown(value: object, kind: str) -> str:
    if kind == MONEY:
        return f"{value:,.2f}"
    if isinstance(value, date):
        return f"{value:%d/%m/%Y}"
    return str(value)


def _width(header: str, shown: Iterable[str]) -> int:
    return min(max([len(header), *(len(text) for text in shown)]) + 2, MAX_COLUMN_WIDTH)


def upload_dir(data_dir: Path, company_code: str) -> Path:
    """`DATA_DIR/facturas/<Sociedad>/`; the code is checked, so it is one plain folder name."""
    return data_dir / UPLOADS_FOLDER / normalize.company_code(company_code)


def invoice_dirs(invoices_dir: Path | None, data_dir: Path, company_code: str) -> list[Path]:
    """Where to look, first found first kept: the uploads, then INVOICES_DIR's `<Sociedad>/`
    (as written or in lower case) when it has one, else all of INVOICES_DIR."""
    uploads = upload_dir(data_dir, company_code)
    if invoices_dir is None:
        return [uploads]
    for name in (uploads.name, uploads.name.lower()):
        if (invoices_dir / name).is_dir():
            return [uploads, invoices_dir / name]
    return [uploads, invoices_dir]


def invoice_count(data_dir: Path, company_code: str) -> int:
    """The Sociedades page's "N facturas cargadas": the uploaded files only."""
    folder = upload_dir(data_dir, company_code)
    try:
        with os.scandir(folder) as entries:
            return sum(1 for entry in entries if _is_invoice_name(entry.name) and entry.is_file())
    except FileNotFoundError:
        return 0


def find_invoices(lines: Iterable[statements.Line], dirs: Sequence[Path]) -> InvoiceSearch:
    """The files of each line, by document number or UUID, from one index per folder."""
    indexes = [_index(folder.resolve()) for folder in dirs]
    found: dict[str, InvoiceFile] = {}
    missing: list[str] = []
    for line in lines:
        hits = [
            entry
            for index in indexes
            for key in (line.doc_no, line.cfdi_uuid)
            for entry in index.matches(key)
        ]
        kept = [file for file in map(_sized, hits) if file is not None]
        if not kept and not line.is_credit:
            missing.append(line.doc_no)
        for file in kept:
            found.setdefault(file.name.lower(), file)
    return InvoiceSearch(tuple(found.values()), tuple(dict.fromkeys(missing)))


@dataclass(frozen=True)
class _Entry:
    name: str
    path: str  # a link's target, checked to be inside the folder


@dataclass(frozen=True)
class _Index:
    """A folder's invoice files by each token of their names: a line looks up its rarest
    token's few files instead of testing all 50,000."""

    stems: tuple[str, ...]  # lower case, without .pdf/.xml
    entries: tuple[_Entry, ...]
    by_token: dict[str, list[int]]
    folder_times: dict[str, int]  # every folder walked and its mtime, for the cache
    scanned_ns: int

    def matches(self, key: str) -> list[_Entry]:
        wanted = key.strip().lower()
        tokens = [token for token in SEPARATORS_RE.split(wanted) if token]
        if not tokens:
            return []
        rarest = min(tokens, key=lambda token: len(self.by_token.get(token, ())))
        whole = re.compile(rf"(?<![0-9a-z]){re.escape(wanted)}(?![0-9a-z])")
        return [
            self.entries[i] for i in self.by_token.get(rarest, ()) if whole.search(self.stems[i])
        ]

    @property
    def current(self) -> bool:
        """No folder changed since the scan (a file added, removed or renamed changes its
        folder's mtime), and none changed so close to it that a change could hide."""
        try:
            return all(
                os.stat(folder).st_mtime_ns == mtime and mtime < self.scanned_ns - RACY_NS
                for folder, mtime in self.folder_times.items()
            )
        except OSError:
            return False


_indexes: dict[Path, _Index] = {}


def _index(root: Path) -> _Index:
    """A send run asks once per customer: the folder is scanned again only when it changed."""
    cached = _indexes.get(root)
    if cached is not None and cached.current:
        return cached
    index = _scan(root)
    if index.folder_times:
        _indexes[root] = index
    return index


def _scan(root: Path) -> _Index:
    """Plain strings, not `Path`s, while walking: 50,000 of those took seconds to make."""
    started = time.time_ns()
    entries: list[tuple[str, _Entry]] = []  # by where each name is, for a stable order
    folder_times: dict[str, int] = {}
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        try:
            folder_times[folder] = os.stat(folder).st_mtime_ns
            with os.scandir(folder) as listing:
                children = list(listing)
        except OSError:
            continue
        for child in children:
            if child.is_dir(follow_symlinks=False):
                pending.append(child.path)
            elif _is_invoice_name(child.name):
                target = _inside(child, root)
                if target:
                    entries.append((child.path, _Entry(child.name, target)))
    entries.sort(key=lambda pair: pair[0])
    stems = tuple(os.path.splitext(entry.name)[0].lower() for _where, entry in entries)
    by_token: dict[str, list[int]] = {}
    for number, stem in enumerate(stems):
        for token in set(SEPARATORS_RE.split(stem)) - {""}:
            by_token.setdefault(token, []).append(number)
    return _Index(stems, tuple(entry for _where, entry in entries), by_token, folder_times, started)


def _inside(child: os.DirEntry[str], root: Path) -> str:
    """The file to read: the entry itself, or a link's target when that is a file inside;
    "" for neither."""
    if not child.is_symlink():
        return child.path if child.is_file(follow_symlinks=False) else ""
    target = Path(child.path).resolve()
    return str(target) if target.is_relative_to(root) and target.is_file() else ""


def _is_invoice_name(name: str) -> bool:
    """A `.pdf` or `.xml`, not hidden (a Mac's `._F-1001.pdf` is no invoice), and a name that
    can go in a header."""
    suffix = os.path.splitext(name)[1].lower()
    return suffix in INVOICE_SUBTYPES and not name.startswith(".") and not CONTROL_RE.search(name)


def _sized(entry: _Entry) -> InvoiceFile | None:
    """None for a file gone since the folder was scanned."""
    try:
        return InvoiceFile(entry.name, Path(entry.path), os.stat(entry.path).st_size)
    except OSError:
        return None


def _read(found: InvoiceFile) -> Attachment:
    """Read without following a link put there since the scan; a file that cannot be read
    fails this customer's email with the reason, rather than going without it unsaid."""
    subtype = INVOICE_SUBTYPES[os.path.splitext(found.name)[1].lower()]
    try:
        descriptor = os.open(found.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(descriptor, "rb") as source:
            data = source.read()
    except OSError as exc:
        raise InvalidValue(
            f"no se pudo leer la factura {found.name} ({exc.strerror}); revisa la carpeta de "
            "facturas"
        ) from None
    return Attachment(found.name, "application", subtype, data)


def store_invoice_zip(data: bytes, data_dir: Path, company_code: str) -> StoredZip:
    """Unpack a ZIP's `.pdf` and `.xml` files into the sociedad's folder, flat, by their own
    names (a path inside the ZIP never leads out of it); a file of the same name is replaced.

    Sizes and member count are checked before anything is written. Each file appears whole
    or not at all (written aside, then renamed), so a send reading the folder meanwhile never
    attaches half an invoice; a damaged member stops the unpacking, keeping the files before.
    """
    folder = upload_dir(data_dir, company_code)
    # Counted before zipfile reads the central directory, which it holds all in memory.
    if data.count(ZIP_ENTRY_SIGNATURE) > MAX_ZIP_MEMBERS:
        raise _too_many()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InvalidValue(
            "El archivo no es un ZIP válido; sube un .zip con las facturas en .pdf y .xml"
        ) from None
    with archive:
        members = [member for member in archive.infolist() if not member.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            raise _too_many()
        chosen, skipped = _chosen(members)
        _check_sizes(chosen.values())
        folder.mkdir(parents=True, exist_ok=True)
        for name, member in chosen.items():
            _extract(archive, member, folder / name)
    return StoredZip(len(chosen), tuple(skipped))


def _chosen(members: list[zipfile.ZipInfo]) -> tuple[dict[str, zipfile.ZipInfo], list[str]]:
    """The members to keep by their plain file name, and the names of the others."""
    chosen: dict[str, zipfile.ZipInfo] = {}
    taken: set[str] = set()
    skipped: list[str] = []
    for member in members:
        name = re.split(r"[\\/]", member.filename)[-1]
        keep = (
            _is_invoice_name(name)
            and len(name.encode()) <= MAX_NAME_BYTES
            and name.lower() not in taken
        )
        if keep:
            chosen[name] = member
            taken.add(name.lower())
        else:
            skipped.append(member.filename)
    return chosen, skipped


def _check_sizes(members: Iterable[zipfile.ZipInfo]) -> None:
    """A ZIP bomb or an encrypted ZIP is refused whole. zipfile never returns more than a
    member's declared size, so the declared sizes bound what is written."""
    kept = list(members)
    if any(member.flag_bits & 0x1 for member in kept):
        raise InvalidValue("El ZIP está protegido con contraseña; súbelo sin contraseña")
    if sum(member.file_size for member in kept) > MAX_ZIP_BYTES:
        raise InvalidValue(
            f"Las facturas del ZIP ocupan más de {MAX_ZIP_BYTES // MB} MB descomprimidas; "
            "súbelas en varios ZIP más pequeños"
        )


def _too_many() -> InvalidValue:
    return InvalidValue(
        f"El ZIP tiene más de {MAX_ZIP_MEMBERS:,} archivos; súbelo en varios ZIP más pequeños"
    )


def _extract(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with archive.open(member) as source, temporary.open("xb") as sink:
            shutil.copyfileobj(source, sink)
        os.replace(temporary, target)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
        raise InvalidValue(
            f"No se pudo leer «{member.filename}» del ZIP: está dañado o usa una compresión "
            "no soportada"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
