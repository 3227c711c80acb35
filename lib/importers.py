"""Imports of sociedades, customers and open items from `.xlsx`/`.csv` (Datos page and CLI).

Every row is checked before anything is written: a file with one bad row reports it with its
row number and leaves the database as it was. Customers and sociedades are upserted: a column
in the file sets what it says (an empty cell empties the value), a column not in it leaves the
stored value alone; open items are a snapshot that replaces the open items of every sociedad
present in the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from lib import emails, languages, normalize, open_item_imports, payments, tables
from lib.formatting import count
from lib.models import AuditEvent, Company, Customer, search_name, utcnow

Parser = Callable[[object], Any]
Record = dict[str, Any]
BATCH = 5_000


CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A CFDI's folio fiscal, as the SAT writes it: 8-4-4-4-12 hexadecimal digits.
CFDI_UUID_RE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
MAX_SENDER_NAME = 100
YES = frozenset({"si", "s", "yes", "y", "1", "x", "true", "verdadero"})
NO = frozenset({"", "no", "n", "0", "false", "falso"})


@dataclass(frozen=True)
class Column:
    field: str
    title: str
    parse: Parser
    aliases: tuple[str, ...] = ()
    required: bool = True
    # The record keys of a column that fills several (Remitente: name and address); its parser
    # returns one value for each. Empty: the column fills `field`.
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowError:
    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = f"Fila {self.row}" if self.row is not None else "Archivo"
        return (
            f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"
        )


@dataclass(frozen=True)
class Origin:
    """Who imports which file: the open-items import keeps both with what it replaces."""

    filename: str
    username: str


@dataclass
class ImportResult:
    kind: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    replaced: int = 0
    companies: tuple[str, ...] = ()
    errors: list[RowError] = field(default_factory=list)
    sheet_note: str = ""  # which sheet of the workbook was read, when it had several
    effects: tuple[open_item_imports.Effect, ...] = ()  # open items per sociedad, now → after
    # The rows read, so that Confirmar after a dry run applies them without reading again.
    table: tables.Table | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def unreadable(self) -> bool:
        """The file as a whole could not be read: one message says why, no table of rows."""
        return len(self.errors) == 1 and self.errors[0].row is None and not self.rows

    def summary(self) -> str:
        label = KINDS[self.kind].label
        if self.unreadable:
            return f"{label}: {self.errors[0].message}"
        if not self.ok:
            return (
                f"{label}: {count(len(self.errors), 'error')} en {count(self.rows, 'fila')}; "
                "no se guardó nada. Corrige el archivo y vuelve a cargarlo."
            )
        parts = [count(self.inserted, "nueva"), count(self.updated, "actualizada")]
        if self.replaced:
            parts.append(count(self.replaced, "anterior reemplazada", "anteriores reemplazadas"))
        where = f" (sociedades: {', '.join(self.companies)})" if self.companies else ""
        imported = count(self.rows, "fila importada", "filas importadas")
        text = f"{label}: {imported}{where}; " + ", ".join(parts) + "."
        return f"{text} {self.sheet_note}" if self.sheet_note else text


def _text(max_length: int, *, required: bool = False) -> Parser:
    def parse(value: object) -> str:
        cleaned = normalize.text(value)
        if required and not cleaned:
            raise normalize.InvalidValue("vacío")
        if CONTROL_RE.search(cleaned):  # ESC, BEL, NUL…: never stored, never echoed raw
            raise normalize.InvalidValue("tiene caracteres de control (no imprimibles)")
        if len(cleaned) > max_length:
            raise normalize.InvalidValue(f"más de {max_length} caracteres")
        return cleaned

    return parse


def _optional_day(value: object) -> Any:
    return normalize.day(value) if normalize.text(value) else None


def _sender(value: object) -> tuple[str, str]:
    """`Cobranza Bajío <cobranza@bajio.mx>` or just the address → (name, address); ("", "")
    for an empty cell. It becomes the From header: one address, no line break, no encoded word.
    `getaddresses` reads it since it sees every address, where `parseaddr` takes the first.
    """
    shown = value.strip() if isinstance(value, str) else normalize.text(value)
    if not shown:
        return "", ""
    if not shown.isprintable():  # CR, LF, U+2028…: refused, and never echoed raw
        raise normalize.InvalidValue(
            "remitente no válido: tiene saltos de línea o caracteres de control"
        )
    found = getaddresses([shown])
    if len(found) != 1:
        raise normalize.InvalidValue(f"remitente no válido: '{shown}' (solo un correo)")
    name, address = found[0]
    if not address or not (shown == address or shown.endswith(f"<{address}>")):
        raise normalize.InvalidValue(
            f"remitente no válido: '{shown}' (usa Nombre <correo@dominio> o solo el correo)"
        )
    name = " ".join(name.split())
    if "@" in name or "=?" in name:  # a name that looks like another address, or encodes one
        raise normalize.InvalidValue(
            f"remitente no válido: '{shown}' (el nombre no puede llevar @ ni =?)"
        )
    if len(name) > MAX_SENDER_NAME:
        raise normalize.InvalidValue(f"nombre del remitente de más de {MAX_SENDER_NAME} caracteres")
    return name, emails.address(address)


def _addresses(value: object) -> str:
    """`a@x.mx; B@Y.MX,` → `a@x.mx;B@y.mx`, stored joined as the catalog's; "" for none."""
    text = normalize.text(value)
    return emails.join(emails.address_list(text)) if text.strip(" ;,") else ""


def _yes_no(value: object) -> bool:
    """`Sí`/`No`, `yes`/`no`, `1`/`0`, `x`, an Excel TRUE/FALSE; an empty cell is No."""
    key = normalize.header_key(value)
    if key in YES or key in NO:
        return key in YES
    shown = CONTROL_RE.sub("?", normalize.text(value))[:30]
    raise normalize.InvalidValue(f"'{shown}' no válido: usa Sí o No")


def _cfdi_uuid(value: object) -> str:
    """The folio fiscal in upper case (`6f1c…` → `6F1C…`); "" when the file has none."""
    text = normalize.text(value).upper()
    if not text:
        return ""
    if CONTROL_RE.search(text):
        raise normalize.InvalidValue("tiene caracteres de control (no imprimibles)")
    if not CFDI_UUID_RE.match(text):
        shown = text[:40] + ("…" if len(text) > 40 else "")
        raise normalize.InvalidValue(
            f"UUID '{shown}' no válido: el folio fiscal son 32 letras A-F y dígitos en grupos "
            "de 8-4-4-4-12, como 6F1C2D3E-4A5B-4C6D-8E7F-0A1B2C3D4E5F"
        )
    return text


COMPANY_COLUMNS = (
    Column("code", "Sociedad", normalize.company_code),
    Column("name", "Nombre", _text(200, required=True), ("nombresociedad", "razonsocial")),
    Column("tax_id", "RFC", _text(20), required=False),
    Column("address", "Dirección", _text(1000), ("domicilio",), required=False),
    Column("currency", "Moneda", normalize.currency, required=False),
    Column(
        "sender",
        "Remitente",
        _sender,
        ("sender", "de", "from"),
        required=False,
        fields=("sender_name", "sender_email"),
    ),
    Column("reply_to", "ResponderA", payments.reply_to, ("replyto", "correorespuesta"), False),
    Column("cc", "CC", _addresses, ("concopia",), required=False),
    Column("bcc", "CCO", _addresses, ("bcc", "concopiaoculta"), required=False),
    Column("bank", "Banco", _text(100), required=False),
    Column("account", "Cuenta", _text(40), ("nocuenta", "numerocuenta"), required=False),
    Column("clabe", "CLABE", payments.clabe, ("clabeinterbancaria",), required=False),
    Column("payment_reference", "Referencia", payments.reference, ("referenciapago",), False),
    Column(
        "attach_open_items",
        "AdjuntarPartidas",
        _yes_no,
        ("adjuntarpartidasabiertas",),
        required=False,
    ),
    Column("attach_invoices", "AdjuntarFacturas", _yes_no, required=False),
)
CUSTOMER_COLUMNS = (
    Column("company_code", "Sociedad", normalize.company_code),
    Column("customer_no", "NoCliente", normalize.customer_no, ("cliente", "numerocliente")),
    Column("name", "NombreCliente", _text(200, required=True), ("nombre", "razonsocial")),
    Column("tax_id", "RFC", _text(20), required=False),
    Column("address", "Dirección", _text(1000), ("domicilio",), required=False),
    Column("language", "Idioma", languages.parse, ("lenguaje", "language"), required=False),
)
OPEN_ITEM_COLUMNS = (
    Column("company_code", "Sociedad", normalize.company_code),
    Column("customer_no", "NoCliente", normalize.customer_no, ("cliente", "numerocliente")),
    Column("doc_no", "Documento", _text(40, required=True), ("nodocumento", "factura")),
    Column("doc_type", "Tipo", _text(40, required=True), ("tipodocumento", "clase")),
    Column("doc_date", "FechaDocumento", normalize.day, ("fecha",)),
    Column("due_date", "FechaVencimiento", _optional_day, ("vencimiento",)),
    Column("reference", "Referencia", _text(100)),
    Column("amount", "Importe", normalize.amount),
    Column("open_amount", "Saldo", normalize.amount, ("importeabierto",)),
    Column("currency", "Moneda", normalize.currency),
    Column("cfdi_uuid", "UUID", _cfdi_uuid, ("foliofiscal", "uuidcfdi", "cfdi"), required=False),
)


def map_columns(headers: list[str], columns: Iterable[Column]) -> dict[str, int]:
    """Find each column by its title or an alias, ignoring case, accents, spaces and dots."""
    positions: dict[str, int] = {}
    for index, header in enumerate(headers):
        positions.setdefault(normalize.header_key(header), index)
    found: dict[str, int] = {}
    missing: list[str] = []
    for column in columns:
        keys = [normalize.header_key(column.title), *column.aliases]
        index = next((positions[key] for key in keys if key in positions), None)
        if index is not None:
            found[column.field] = index
        elif column.required:
            missing.append(column.title)
    if missing:
        present = ", ".join(h for h in headers if h) or "ninguna"
        raise tables.TableError(
            f"Faltan las columnas {', '.join(missing)}. Columnas encontradas: {present}"
        )
    return found


def parse_rows(
    table: tables.Table, columns: tuple[Column, ...]
) -> tuple[list[tuple[int, Record]], list[RowError]]:
    """Turn each row into typed values; each bad cell becomes a `RowError` naming row and column."""
    positions = map_columns(table.headers, columns)
    records: list[tuple[int, Record]] = []
    errors: list[RowError] = []
    for number, cells in table.rows:
        record: Record = {}
        row_ok = True
        for column in columns:
            if column.field not in positions:
                continue
            index = positions[column.field]
            cell = cells[index] if index < len(cells) else None
            try:
                value = column.parse(cell)
            except normalize.InvalidValue as exc:
                errors.append(RowError(number, table.headers[index] or column.title, str(exc)))
                row_ok = False
                continue
            if column.fields:
                record.update(zip(column.fields, value, strict=True))
            else:
                record[column.field] = value
        if row_ok:
            records.append((number, record))
    return records, errors


def _duplicates(
    records: list[tuple[int, Record]], key: Callable[[Record], tuple]
) -> list[RowError]:
    first_seen: dict[tuple, int] = {}
    errors = []
    for number, record in records:
        k = key(record)
        if k in first_seen:
            errors.append(RowError(number, "", f"repetida (igual que la fila {first_seen[k]})"))
        else:
            first_seen[k] = number
    return errors


def _unknown_keys(
    session: Session, records: list[tuple[int, Record]], *, customers: bool
) -> list[RowError]:
    """Rows whose sociedad (and, for open items, customer) is not in the database."""
    known = set(session.scalars(select(Company.code)))
    existing = _existing_customers(session, known) if customers else set()
    errors = []
    for number, r in records:
        company, customer = r["company_code"], r["customer_no"]
        if company not in known:
            errors.append(
                RowError(number, "Sociedad", f"la sociedad {company} no existe; impórtala primero")
            )
        elif customers and (company, customer) not in existing:
            errors.append(
                RowError(
                    number,
                    "NoCliente",
                    f"el cliente {customer} no está dado de alta en la sociedad {company}",
                )
            )
    return errors


def _existing_customers(session: Session, company_codes: set[str]) -> set[tuple[str, str]]:
    rows = session.execute(
        select(Customer.company_code, Customer.customer_no).where(
            Customer.company_code.in_(company_codes)
        )
    )
    return {(c, n) for c, n in rows}


def import_companies(session: Session, table: tables.Table, _origin: Origin) -> ImportResult:
    records, errors = parse_rows(table, COMPANY_COLUMNS)
    errors += _duplicates(records, lambda r: (r["code"],))
    result = ImportResult("companies", rows=len(table.rows), errors=errors)
    if errors:
        return result
    existing = set(session.scalars(select(Company.code)))
    new = [r for _, r in records if r["code"] not in existing]
    changed = [r for _, r in records if r["code"] in existing]
    for record in new:
        record.setdefault("currency", "MXN")
    _insert(session, Company, new)
    if changed:
        session.execute(update(Company), changed)
    result.inserted, result.updated = len(new), len(changed)
    result.companies = tuple(sorted(r["code"] for _, r in records))
    return result


def import_customers(session: Session, table: tables.Table, _origin: Origin) -> ImportResult:
    records, errors = parse_rows(table, CUSTOMER_COLUMNS)
    errors += _duplicates(records, lambda r: (r["company_code"], r["customer_no"]))
    errors += _unknown_keys(session, records, customers=False)
    result = ImportResult("customers", rows=len(table.rows), errors=sorted(errors, key=_order))
    if errors:
        return result
    codes = {r["company_code"] for _, r in records}
    existing = _existing_customers(session, codes)
    now = utcnow()
    new, changed = [], []
    for _, record in records:
        record["updated_at"] = now
        record["search_name"] = search_name(record["name"])
        key = (record["company_code"], record["customer_no"])
        (changed if key in existing else new).append(record)
    _insert(session, Customer, new)
    for start in range(0, len(changed), BATCH):
        session.execute(update(Customer), changed[start : start + BATCH])
    result.inserted, result.updated = len(new), len(changed)
    result.companies = tuple(sorted(codes))
    return result


def import_open_items(session: Session, table: tables.Table, origin: Origin) -> ImportResult:
    records, errors = parse_rows(table, OPEN_ITEM_COLUMNS)
    # The same document twice would count its balance twice.
    errors += _duplicates(
        records, lambda r: (r["company_code"], r["customer_no"], r["doc_no"], r["doc_type"])
    )
    errors += _unknown_keys(session, records, customers=True)
    result = ImportResult("open-items", rows=len(table.rows), errors=sorted(errors, key=_order))
    if errors:
        return result
    codes = {r["company_code"] for _, r in records}
    for _, record in records:
        record["due_date"] = record["due_date"] or record["doc_date"]
        record.setdefault("reference", "")
    result.replaced, effects = open_item_imports.replace(
        session, [r for _, r in records], username=origin.username, filename=origin.filename
    )
    result.inserted, result.effects = len(records), tuple(effects)
    result.companies = tuple(sorted(codes))
    return result


def _order(error: RowError) -> tuple[int, str]:
    return (error.row or 0, error.column)


def _insert(session: Session, model: type, records: list[Record]) -> None:
    for start in range(0, len(records), BATCH):
        session.execute(insert(model), records[start : start + BATCH])


@dataclass(frozen=True)
class Kind:
    label: str
    columns: tuple[Column, ...]
    run: Callable[[Session, tables.Table, Origin], ImportResult]
    rule: str
    template_name: str
    replaces: bool = False  # a snapshot: the page shows its effect and asks first

    def template(self) -> bytes:
        """An empty `.xlsx` with the expected column titles, for users to fill in."""
        return tables.write_xlsx([c.title for c in self.columns], [], sheet=self.label)


KINDS: dict[str, Kind] = {
    "companies": Kind(
        "Sociedades",
        COMPANY_COLUMNS,
        import_companies,
        "Las sociedades nuevas se agregan y las existentes se actualizan; una columna que "
        "no viene en el archivo deja ese dato como estaba. Remitente es quien envía los correos "
        "de la sociedad: Nombre <correo@dominio> o solo el correo (vacía: el remitente del "
        "sistema). ResponderA es el correo al que responden los clientes; CC y CCO, los correos "
        "que reciben copia de cada envío (separados por ;). Banco, Cuenta y CLABE son los datos "
        "para pago, y Referencia dice qué indica el cliente al pagar: NoCliente (si se deja "
        "vacía) o RFC. AdjuntarPartidas y AdjuntarFacturas: Sí o No (vacía es No).",
        "plantilla_sociedades.xlsx",
    ),
    "customers": Kind(
        "Clientes",
        CUSTOMER_COLUMNS,
        import_customers,
        "Los clientes nuevos se agregan y los existentes se actualizan; la sociedad debe existir "
        "y una columna que no viene en el archivo deja ese dato como estaba. Idioma es el del "
        "estado de cuenta y su correo: es (español, si se deja vacía) o en (inglés).",
        "plantilla_clientes.xlsx",
    ),
    "open-items": Kind(
        "Partidas abiertas",
        OPEN_ITEM_COLUMNS,
        import_open_items,
        "Es una foto completa: reemplaza todas las partidas abiertas de cada sociedad "
        "que aparece en el archivo. Los clientes deben existir. UUID (opcional) es el folio "
        "fiscal del CFDI de la factura. Antes de aplicarlo se muestra el efecto por sociedad, y "
        "la última importación de cada sociedad se puede deshacer.",
        "plantilla_partidas_abiertas.xlsx",
        replaces=True,
    ),
}


def import_file(
    sessions: sessionmaker[Session],
    kind: str,
    filename: str,
    content: bytes,
    *,
    username: str,
    progress: Callable[[float, str], None] | None = None,
    dry_run: bool = False,
    table: tables.Table | None = None,
) -> ImportResult:
    """Read, check and apply one file in one transaction, and leave an audit entry.

    With `dry_run` the import is done the same way and rolled back: the result (and the
    open items' effect per sociedad) is exactly what applying the file would do, and it
    keeps the rows read: passing them back as `table` applies them without reading again.
    `progress(fraction, step)` is told how far along it is; reading a large `.xlsx` is most
    of the time, so reading counts for the first 70 %.
    """
    report = progress or (lambda _fraction, _step: None)
    report(0.0, "Leyendo el archivo…")
    try:
        table = table or tables.read_table(filename, content, lambda f: report(0.7 * f, "Leyendo…"))
    except tables.TableError as exc:
        return ImportResult(kind, errors=[RowError(None, "", str(exc))])
    report(0.7, f"Revisando y guardando {len(table.rows):,} filas…")
    with sessions() as session:
        try:
            result = KINDS[kind].run(session, table, Origin(filename, username))
        except tables.TableError as exc:
            session.rollback()
            return ImportResult(kind, rows=len(table.rows), errors=[RowError(None, "", str(exc))])
        result.sheet_note = table.note
        if dry_run:
            result.table = table
        if result.ok and not dry_run:
            session.add(_audit(result, filename, username))
            session.commit()
        else:
            session.rollback()
    report(1.0, "Listo")
    return result


def _audit(result: ImportResult, filename: str, username: str) -> AuditEvent:
    details = {
        "file": filename,
        "rows": result.rows,
        "inserted": result.inserted,
        "updated": result.updated,
        "replaced": result.replaced,
        "companies": list(result.companies),
    }
    if result.effects:
        details["items"] = {e.code: [e.before.items, e.after.items] for e in result.effects}
    return AuditEvent(
        username=username,
        action="import",
        entity=result.kind,
        entity_key=",".join(result.companies)[:100],
        details=json.dumps(details, ensure_ascii=False),
    )
