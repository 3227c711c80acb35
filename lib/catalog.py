"""Catálogo Envío Masivo: which customers get their statement, at which addresses.

Every way in (Individual, a paste into Masiva, an uploaded file, the CLI) goes through the same
steps: `normalise_row()` cleans one row without touching the database, `review()` gives each
row its verdict with a fixed number of queries whatever the batch size, and `apply()` reviews
again and writes inside the caller's transaction, so what is saved is what the verdicts say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, func, insert, select, union, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from lib import bounce_marks, emails, formatting, importers, languages, normalize, tables
from lib.models import AuditEvent, Company, Customer, Recipient, utcnow

CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
HEADER_WORDS = {
    "company_code": {"sociedad", "soc", "bukrs"},
    "customer_no": {"nocliente", "cliente", "numerocliente", "nodecliente", "kunnr"},
    "emails": {"correo", "correos", "email", "emails", "mail", "correoelectronico"},
}
COLUMN_TITLES = {"company_code": "Sociedad", "customer_no": "No. Cliente", "emails": "Correo"}
# The same columns for an uploaded file, found by title like every other import.
FILE_COLUMNS = tuple(
    importers.Column(name, COLUMN_TITLES[name], str, tuple(words))
    for name, words in HEADER_WORDS.items()
)
KEY_CHUNK = 2_000
SEARCH_LIMIT = 100

NEW, UPDATE, UNCHANGED, SKIPPED, ERROR = "nuevo", "actualiza", "sin cambios", "omitida", "error"


@dataclass(frozen=True)
class Entry:
    company_code: str
    customer_no: str
    emails: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.company_code, self.customer_no)


@dataclass(frozen=True)
class CleanRow:
    """One input row after cleaning: an `Entry`, or the reason it cannot be one."""

    row: int
    raw: tuple[str, str, str]
    entry: Entry | None = None
    error: str = ""


@dataclass(frozen=True)
class Batch:
    rows: list[CleanRow]
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    row: int
    company_code: str
    customer_no: str
    customer_name: str
    emails: str
    status: str
    reason: str = ""
    message: str = ""
    # Set when this save changed the customer's statement language (Individual, CLI).
    language: str = ""

    @property
    def label(self) -> str:
        return f"{self.status}: {self.reason}" if self.reason else self.status

    @property
    def saved(self) -> bool:
        return self.status in (NEW, UPDATE)


def company_choices(session: Session) -> dict[str, str]:
    """Sociedades to pick from: code → `SM02 · Name`."""
    companies = session.execute(select(Company.code, Company.name).order_by(Company.code))
    return {code: f"{code} · {name}" for code, name in companies}


def totals(verdicts: Iterable[Verdict]) -> dict[str, int]:
    """How many rows got each verdict, in the order the screen lists them."""
    counts = {NEW: 0, UPDATE: 0, UNCHANGED: 0, SKIPPED: 0, ERROR: 0}
    for verdict in verdicts:
        counts[verdict.status] += 1
    return counts


def saved_summary(results: Sequence[Verdict]) -> str:
    """The sentence after Grabar, in agreement with its numbers: `Se grabó 1 de 3 filas; 2
    filas con error no se grabaron.`
    """
    saved = sum(1 for r in results if r.saved)
    rejected = sum(1 for r in results if r.status == ERROR)
    said = (
        f"{formatting.plural(saved, 'Se grabó', 'Se grabaron')} {saved:,} de "
        f"{formatting.count(len(results), 'fila')}"
    )
    if rejected:
        said += (
            f"; {formatting.count(rejected, 'fila con error')} "
            f"{formatting.plural(rejected, 'no se grabó', 'no se grabaron')}"
        )
    return f"{said}."


def normalise_row(row: int, cells: Sequence[object]) -> CleanRow:
    """Sociedad, No. Cliente and Correo(s) of one row, cleaned; no database involved."""
    raw = tuple(_raw(c) for c in (*cells[:3], "", "", ""))[:3]
    for title, value in zip(COLUMN_TITLES.values(), raw, strict=True):
        if CONTROL_RE.search(value.strip()):
            return CleanRow(
                row, raw, error=f"{title} contiene saltos de línea o caracteres de control"
            )
    try:
        entry = Entry(
            normalize.company_code(raw[0]),
            normalize.customer_no(raw[1]),
            emails.address_list(raw[2]),
        )
    except normalize.InvalidValue as exc:
        return CleanRow(row, raw, error=str(exc))
    return CleanRow(row, raw, entry)


def is_header(cells: Sequence[object]) -> bool:
    keys = [normalize.header_key(c) for c in cells[:3]]
    matches = sum(
        1 for key, words in zip(keys, HEADER_WORDS.values(), strict=False) if key in words
    )
    return matches >= 2


def from_pasted(rows: Iterable[Sequence[object]]) -> Batch:
    """Rows as pasted into the editor: positional columns, a header row skipped, blanks ignored."""
    clean: list[CleanRow] = []
    notices: list[str] = []
    extra_columns = False
    for number, cells in enumerate(rows, start=1):
        texts = [_raw(c) for c in cells]
        if not any(t.strip() for t in texts):
            continue
        if not clean and not notices and is_header(texts):
            notices.append(f"La fila {number} parece un encabezado y se ignoró.")
            continue
        extra_columns = extra_columns or any(t.strip() for t in texts[3:])
        clean.append(normalise_row(number, texts))
    if extra_columns:
        notices.append("Se ignoraron las columnas después de Correo.")
    return Batch(clean, notices)


def from_table(table: tables.Table) -> Batch:
    """An uploaded file: columns found by their titles (Sociedad, NoCliente, Correo)."""
    positions = importers.map_columns(table.headers, FILE_COLUMNS)
    notices = [table.note] if table.note else []
    if len([h for h in table.headers if h]) > 3:
        notices.append("Se ignoraron las columnas que no son Sociedad, NoCliente o Correo.")
    ordered = [positions[column.field] for column in FILE_COLUMNS]
    rows = [
        normalise_row(number, [_cell(cells, i) for i in ordered]) for number, cells in table.rows
    ]
    return Batch(rows, notices)


def _cell(cells: list[object], index: int) -> str:
    return _raw(cells[index]) if index < len(cells) else ""


def _raw(value: object) -> str:
    """A cell as text without cleaning it, so a line break inside it can still be refused."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def review(session: Session, batch: Batch) -> list[Verdict]:
    """A verdict per row: nuevo, actualiza, sin cambios, omitida (repeated later) or error."""
    entries = [r.entry for r in batch.rows if r.entry]
    known_companies = set(session.scalars(select(Company.code)))
    names = _customer_names(session, {e.key for e in entries})
    current = {key: r.emails for key, r in _current(session, {e.key for e in entries}).items()}
    last_row = {r.entry.key: r.row for r in batch.rows if r.entry}
    verdicts = []
    for clean in batch.rows:
        verdicts.append(_verdict(clean, known_companies, names, current, last_row))
    return verdicts


def _verdict(
    clean: CleanRow,
    companies: set[str],
    names: dict[tuple[str, str], str],
    current: dict[tuple[str, str], str],
    last_row: dict[tuple[str, str], int],
) -> Verdict:
    entry = clean.entry
    if entry is None:
        company, customer, addresses = (value.strip() for value in clean.raw)
        return Verdict(clean.row, company, customer, "", addresses, ERROR, clean.error)
    status, reason = _status(entry, clean.row, companies, names, current, last_row)
    return Verdict(
        clean.row,
        entry.company_code,
        entry.customer_no,
        names.get(entry.key, ""),
        emails.join(entry.emails),
        status,
        reason,
    )


def _status(
    entry: Entry,
    row: int,
    companies: set[str],
    names: dict[tuple[str, str], str],
    current: dict[tuple[str, str], str],
    last_row: dict[tuple[str, str], int],
) -> tuple[str, str]:
    if entry.company_code not in companies:
        return ERROR, f"la sociedad {entry.company_code} no existe"
    if entry.key not in names:
        return ERROR, (
            f"el cliente {entry.customer_no} no está dado de alta en la sociedad "
            f"{entry.company_code}"
        )
    if last_row[entry.key] != row:
        return SKIPPED, f"repetida en la fila {last_row[entry.key]}; gana la última"
    before = current.get(entry.key)
    if before is None:
        return NEW, ""
    return (UNCHANGED if before == emails.join(entry.emails) else UPDATE), ""


def _customer_names(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for company, numbers in _by_company(keys):
        rows = session.execute(
            select(Customer.customer_no, Customer.name).where(
                Customer.company_code == company, Customer.customer_no.in_(numbers)
            )
        )
        found.update({(company, number): name for number, name in rows})
    return found


class _Entry(NamedTuple):
    id: int
    emails: str


def _current(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], _Entry]:
    """The catalog entries of these customers (id and emails), by key."""
    found: dict[tuple[str, str], _Entry] = {}
    for company, numbers in _by_company(keys):
        rows = session.execute(
            select(Recipient.customer_no, Recipient.id, Recipient.emails).where(
                Recipient.company_code == company, Recipient.customer_no.in_(numbers)
            )
        )
        found.update({(company, number): _Entry(id_, emails) for number, id_, emails in rows})
    return found


def _by_company(keys: set[tuple[str, str]]) -> Iterable[tuple[str, list[str]]]:
    """Keys grouped by sociedad, in chunks, so each lookup uses the primary key index."""
    grouped: dict[str, list[str]] = {}
    for company, number in sorted(keys):
        grouped.setdefault(company, []).append(number)
    for company, numbers in grouped.items():
        for start in range(0, len(numbers), KEY_CHUNK):
            yield company, numbers[start : start + KEY_CHUNK]


def apply(session: Session, batch: Batch, *, username: str) -> list[Verdict]:
    """Review again and save the new and changed rows; each verdict gets its Mensaje.

    The caller commits. Rows in error or repeated later are never written.
    """
    verdicts = review(session, batch)
    now = utcnow()
    new = [v for v in verdicts if v.status == NEW]
    changed = [v for v in verdicts if v.status == UPDATE]
    current = _current(session, {(v.company_code, v.customer_no) for v in changed})
    before = {key: entry.emails for key, entry in current.items()}
    if new:
        session.execute(
            insert(Recipient),
            [
                {
                    "company_code": v.company_code,
                    "customer_no": v.customer_no,
                    "emails": v.emails,
                    "created_by": username,
                    "created_at": now,
                    "updated_by": username,
                    "updated_at": now,
                }
                for v in new
            ],
        )
    if changed:
        session.execute(
            update(Recipient),
            [
                {
                    "id": current[(v.company_code, v.customer_no)].id,
                    "emails": v.emails,
                    "updated_by": username,
                    "updated_at": now,
                }
                for v in changed
            ],
        )
    session.add_all(_audit(username, "add", v, None) for v in new)
    session.add_all(
        _audit(username, "update", v, before[(v.company_code, v.customer_no)]) for v in changed
    )
    bounce_marks.clear_fixed(
        session,
        (((v.company_code, v.customer_no), emails.address_list(v.emails)) for v in changed),
        username=username,
    )
    return [replace(v, message=_message(v)) for v in verdicts]


def _message(v: Verdict) -> str:
    return {
        NEW: "guardado",
        UPDATE: "actualizado",
        UNCHANGED: "sin cambios",
        SKIPPED: f"no se guardó: {v.reason}",
        ERROR: f"no se guardó: {v.reason}",
    }[v.status]


def _audit(username: str, action: str, v: Verdict, before: str | None) -> AuditEvent:
    return AuditEvent(
        username=username,
        action=action,
        entity="recipient",
        entity_key=f"{v.company_code}/{v.customer_no}",
        details=json.dumps({"antes": before, "despues": v.emails}, ensure_ascii=False),
    )


def add_one(
    session: Session,
    company: str,
    customer: str,
    addresses: str,
    *,
    username: str,
    language: str | None = None,
) -> Verdict:
    """Alta Individual (and editing a row's emails): one row through the same pipeline.

    `language` (`es`/`en`, or a word `languages.parse` takes), when given, becomes the
    customer's statement language, audited when it changes; None leaves it as it is. A row
    refused is refused whole: its language is not set either.
    """
    (verdict,) = apply(
        session, Batch([normalise_row(1, [company, customer, addresses])]), username=username
    )
    if language is None or verdict.status not in (NEW, UPDATE, UNCHANGED):
        return verdict
    return _set_language(session, verdict, languages.parse(language), username=username)


def _set_language(session: Session, verdict: Verdict, language: str, *, username: str) -> Verdict:
    key = (verdict.company_code, verdict.customer_no)
    before = session.scalar(
        select(Customer.language).where(
            Customer.company_code == key[0], Customer.customer_no == key[1]
        )
    )
    if before == language:
        return verdict
    session.execute(
        update(Customer)
        .where(Customer.company_code == key[0], Customer.customer_no == key[1])
        .values(language=language, updated_at=utcnow())
    )
    session.add(
        AuditEvent(
            username=username,
            action="language",
            entity="customer",
            entity_key=f"{key[0]}/{key[1]}",
            details=json.dumps({"antes": before, "despues": language}, ensure_ascii=False),
        )
    )
    return replace(verdict, language=language)


LANGUAGE_WORDS = {languages.SPANISH: "en español", languages.ENGLISH: "en inglés"}


def individual_message(v: Verdict) -> str:
    """The sentence the Individual screen shows for one Grabar, and the language when it
    changed."""
    who = f"El cliente {v.customer_no} ({v.customer_name})" if v.customer_name else ""
    if v.status == NEW:
        said = f"{who} quedó dado de alta en el catálogo de la sociedad {v.company_code}."
    elif v.status == UPDATE:
        said = f"{who} de la sociedad {v.company_code} fue actualizado: {v.emails}."
    elif v.status == UNCHANGED and v.language:
        said = f"{who} de la sociedad {v.company_code} ya tenía esos correos."
    elif v.status == UNCHANGED:
        return f"{who} de la sociedad {v.company_code} ya tenía esos correos; sin cambios."
    else:
        return formatting.sentence(v.reason)
    if v.language:
        said += f" Su estado de cuenta y su correo irán {LANGUAGE_WORDS[v.language]}."
    return said


def delete(session: Session, company: str, customer: str, *, username: str) -> bool:
    """Borrado: remove one entry; False when it was not in the catalog."""
    key = (normalize.company_code(company), normalize.customer_no(customer))
    entry = _current(session, {key}).get(key)
    if entry is None:
        return False
    before = entry.emails
    session.execute(
        sql_delete(Recipient).where(
            Recipient.company_code == key[0], Recipient.customer_no == key[1]
        )
    )
    bounce_marks.clear_fixed(session, [(key, ())], username=username)
    session.add(
        AuditEvent(
            username=username,
            action="delete",
            entity="recipient",
            entity_key=f"{key[0]}/{key[1]}",
            details=json.dumps({"antes": before, "despues": None}, ensure_ascii=False),
        )
    )
    return True


@dataclass(frozen=True)
class Listed:
    company_code: str
    customer_no: str
    name: str
    emails: str
    updated_by: str
    updated_at: datetime
    bounces: tuple[bounce_marks.Mark, ...] = ()

    @property
    def bounce_text(self) -> str:
        return "; ".join(mark.text() for mark in self.bounces)


@dataclass(frozen=True)
class SearchResult:
    rows: list[Listed]
    total: int


def search(
    session: Session,
    *,
    company: str = "",
    customer: str = "",
    name: str = "",
    bounced: bool = False,
    limit: int | None = SEARCH_LIMIT,
    offset: int = 0,
) -> SearchResult:
    """Búsqueda by Sociedad and/or No. Cliente and/or part of the name or an email, and
    "con rebotes": only customers with an address marked by a bounce.

    The name and email matches are two scans joined by a UNION (one scan over the join with an
    OR is three times slower); the total is counted only when the page is full.
    """
    filters = []
    if company.strip():
        filters.append(Recipient.company_code == normalize.company_code(company))
    if customer.strip():
        filters.append(Recipient.customer_no == normalize.customer_no(customer))
    if bounced:
        filters.append(bounce_marks.flagged_recipient())
    if name.strip():
        matching = select(Recipient.id).join(Customer, customer_of_recipient()).where(*filters)
        by_name = matching.where(
            Customer.search_name.contains(normalize.fold(name), autoescape=True)
        )
        by_email = matching.where(_contains_ignoring_case(session, Recipient.emails, name.strip()))
        filters = [Recipient.id.in_(union(by_name, by_email))]
    query = (
        select(Recipient, Customer.name)
        .join(Customer, customer_of_recipient())
        .where(*filters)
        .order_by(Recipient.company_code, Recipient.customer_no)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    found = list(session.execute(query))
    marks = bounce_marks.of_customers(session, ((r.company_code, r.customer_no) for r, _ in found))
    rows = [
        Listed(
            r.company_code,
            r.customer_no,
            customer_name,
            r.emails,
            r.updated_by,
            r.updated_at,
            tuple(marks.get((r.company_code, r.customer_no), ())),
        )
        for r, customer_name in found
    ]
    if limit is None or (offset == 0 and len(rows) < limit):
        total = offset + len(rows)
    else:
        total = session.scalar(select(func.count(Recipient.id)).where(*filters)) or 0
    return SearchResult(rows, total)


def customer_of_recipient() -> ColumnElement[bool]:
    """The join of a catalog entry with its customer (same sociedad and number)."""
    return (Customer.company_code == Recipient.company_code) & (
        Customer.customer_no == Recipient.customer_no
    )


def _contains_ignoring_case(
    session: Session, column: InstrumentedAttribute[str], text: str
) -> ColumnElement[bool]:
    """SQLite's LIKE already ignores ASCII case (and lower() would cost a call per row)."""
    if session.get_bind().dialect.name == "sqlite":
        return column.contains(text, autoescape=True)
    return column.icontains(text, autoescape=True)


EXPORT_HEADERS = [
    "Sociedad",
    "NoCliente",
    "NombreCliente",
    "Correo",
    "Modificado por",
    "Modificado el (UTC)",
    "Rebotes",
]


def export_file(sessions: sessionmaker[Session], **criteria: str | bool) -> bytes:
    """`export_xlsx` in its own session, for a download generated only when it is clicked."""
    with sessions() as session:
        return export_xlsx(session, **criteria)


def export_xlsx(
    session: Session,
    *,
    company: str = "",
    customer: str = "",
    name: str = "",
    bounced: bool = False,
) -> bytes:
    """The catalog (or a search's rows) as `.xlsx`, in the same columns an import reads, and
    the bounce marks of each row.
    """
    result = search(
        session, company=company, customer=customer, name=name, bounced=bounced, limit=None
    )
    rows = [
        [
            r.company_code,
            r.customer_no,
            r.name,
            r.emails,
            r.updated_by,
            r.updated_at.strftime("%Y-%m-%d %H:%M"),
            r.bounce_text,
        ]
        for r in result.rows
    ]
    return tables.write_xlsx(EXPORT_HEADERS, rows, sheet="Catalogo")
