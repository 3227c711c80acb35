"""Administración › Sociedades: a sociedad's settings as its form has them, every field checked
with the parsers the imports use, saved with its templates and logo in one go and audited.

The form is checked whole, so that every problem is shown at once next to its field; nothing is
saved while one remains. A checked form also stands in for the stored sociedad in the preview
(`draft`, `drafts`, `logo` of `lib.statements.message.preview`), so what is previewed is what
Grabar would save.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lib import emails, languages, mail_templates, normalize, payments, statements
from lib.models import AuditEvent, Company, CompanyTemplate, Customer, OpenItem, Recipient
from lib.normalize import InvalidValue
from lib.statements import attachments, message, pdf

DATOS, REMITENTE, PAGO, PLANTILLAS, ADJUNTOS = (
    "Datos", "Remitente", "Datos para pago", "Plantillas", "Adjuntos"
)  # fmt: skip
LOGO_LABEL = "Logotipo"
MAX_LOGO_BYTES = 1024 * 1024
# Enough for any logo; a bigger picture would only be shrunk by the PDF, at the memory cost
# of decoding it for every statement.
MAX_LOGO_SIDE = 3000
LOGO_KINDS = {b"\x89PNG\r\n\x1a\n": ("PNG", ".png"), b"\xff\xd8\xff": ("JPEG", ".jpg")}
CONTROL_CHARS = {chr(c) for c in (*range(32), 127)}
REFERENCES = (payments.CUSTOMER_NO, payments.TAX_ID)
TEMPLATE_PARTS = {"subject": "Asunto", "text_body": "Cuerpo de texto", "html_body": "Cuerpo HTML"}
AUDIT_ACTION = "company_settings"


# A language's templates as typed: the same three texts a statement carries once saved.
TemplateDraft = statements.Template


@dataclass(frozen=True)
class Draft:
    """The form as typed: text as the widgets hand it over, nothing parsed yet."""

    name: str
    tax_id: str = ""
    address: str = ""
    currency: str = "MXN"
    sender_name: str = ""
    sender_email: str = ""
    reply_to: str = ""
    cc: str = ""
    bcc: str = ""
    bank: str = ""
    account: str = ""
    clabe: str = ""
    payment_reference: str = payments.CUSTOMER_NO
    attach_open_items: bool = False
    attach_invoices: bool = False
    templates: dict[str, TemplateDraft] = field(default_factory=dict)
    # A newly uploaded logo, or the stored one removed; neither leaves the stored one as it is.
    logo: bytes | None = None
    remove_logo: bool = False


@dataclass(frozen=True)
class Problem:
    """One field's problem: `field` places it under its widget, `str()` names it in a list."""

    field: str
    label: str
    text: str
    section: str = ""

    def __str__(self) -> str:
        if self.field.startswith("templates."):
            return f"{self.label} — {self.text}"
        if normalize.fold(self.text).startswith(normalize.fold(self.label)):
            return self.text[:1].upper() + self.text[1:]
        return f"{self.label}: {self.text}"

    @property
    def located(self) -> str:
        """With the form's tab in front, for the list of every problem under Grabar."""
        return f"{self.section} › {self}" if self.section else str(self)


@dataclass(frozen=True)
class Logo:
    data: bytes
    kind: str
    suffix: str


@dataclass(frozen=True)
class Checked:
    """A form checked whole; `company` (not in any session) and `templates` only when `ok`."""

    problems: tuple[Problem, ...]
    company: Company | None = None
    templates: dict[str, CompanyTemplate] = field(default_factory=dict)
    logo: Logo | None = None
    logo_given: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


class Refused(InvalidValue):
    def __init__(self, problems: tuple[Problem, ...]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def _text(limit: int, *, required: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        cleaned = normalize.text(value)
        if required and not cleaned:
            raise InvalidValue("no puede quedar vacío")
        if CONTROL_CHARS & set(cleaned):
            raise InvalidValue("tiene caracteres de control (no imprimibles)")
        if len(cleaned) > limit:
            raise InvalidValue(f"más de {limit} caracteres")
        return cleaned

    return parse


def _address(value: str) -> str:
    return emails.address(value) if value.strip() else ""


def _addresses(value: str) -> str:
    return emails.join(emails.address_list(value)) if value.strip(" ;,") else ""


def _reference(value: str) -> str:
    if value not in REFERENCES:
        raise InvalidValue("elige No. Cliente o RFC")
    return value


# Field → (section, label, parser); the order is the form's, and so the order of the problems.
FIELDS: dict[str, tuple[str, str, Callable[[str], str]]] = {
    "name": (DATOS, "Nombre", _text(200, required=True)),
    "tax_id": (DATOS, "RFC", _text(20)),
    "address": (DATOS, "Dirección", _text(1000)),
    "currency": (DATOS, "Moneda", normalize.currency),
    "sender_name": (REMITENTE, "Nombre del remitente", _text(100)),
    "sender_email": (REMITENTE, "Correo del remitente", _address),
    "reply_to": (REMITENTE, "ResponderA", payments.reply_to),
    "cc": (REMITENTE, "CC", _addresses),
    "bcc": (REMITENTE, "CCO", _addresses),
    "bank": (PAGO, "Banco", _text(100)),
    "account": (PAGO, "Cuenta", _text(40)),
    "clabe": (PAGO, "CLABE", payments.clabe),
    "payment_reference": (PAGO, "Referencia que indica el cliente", _reference),
}
FLAGS = {
    "attach_open_items": (ADJUNTOS, "Adjuntar partidas abiertas en Excel"),
    "attach_invoices": (ADJUNTOS, "Adjuntar facturas"),
}


def check(code: str, draft: Draft) -> Checked:
    """Every field of the form parsed; all the problems, or what Grabar and the preview use."""
    values: dict[str, object] = {}
    problems: list[Problem] = []
    for name, (section, label, parse) in FIELDS.items():
        try:
            values[name] = parse(getattr(draft, name))
        except InvalidValue as exc:
            problems.append(Problem(name, label, str(exc), section))
    values |= {name: bool(getattr(draft, name)) for name in FLAGS}
    logo = None
    if draft.logo is not None and not draft.remove_logo:
        try:
            logo = check_logo(draft.logo)
        except InvalidValue as exc:
            problems.append(Problem("logo", LOGO_LABEL, str(exc), DATOS))
    problems += _template_problems(draft.templates)
    if problems:
        return Checked(tuple(problems))
    templates = {
        language: CompanyTemplate(
            company_code=code,
            language=language,
            **vars(draft.templates.get(language, TemplateDraft())),
        )
        for language in languages.NAMES
    }
    return Checked(
        (),
        Company(code=code, **values),
        templates,
        logo,
        logo_given=logo is not None or draft.remove_logo,
    )


def _template_problems(templates: dict[str, TemplateDraft]) -> list[Problem]:
    found = []
    for language, name in languages.NAMES.items():
        draft = templates.get(language, TemplateDraft())
        checked = mail_templates.check_all(draft.subject, draft.text_body, draft.html_body)
        for part, part_label in TEMPLATE_PARTS.items():
            label = f"{PLANTILLAS} › {name} › {part_label}"
            found += [
                Problem(f"templates.{language}.{part}", label, str(p))
                for p in checked.get(part, [])
            ]
    return found


def check_logo(data: bytes) -> Logo:
    """A PNG or JPEG of at most 1 MB that Pillow reads to the end: the PDF of every statement
    of the sociedad draws it, and one it cannot draw would fail them all."""
    if len(data) > MAX_LOGO_BYTES:
        kilobytes = -(-len(data) // 1024)
        raise InvalidValue(f"el archivo pesa {kilobytes:,} KB; el máximo es 1 MB (1,024 KB)")
    kind = next((k for magic, k in LOGO_KINDS.items() if data.startswith(magic)), None)
    if kind is None:
        raise InvalidValue("no es una imagen PNG ni JPEG")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != kind[0]:
                raise InvalidValue("no es una imagen PNG ni JPEG")
            if max(image.size) > MAX_LOGO_SIDE:
                raise InvalidValue(f"la imagen mide más de {MAX_LOGO_SIDE} píxeles de lado")
            image.load()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError):
        raise InvalidValue(f"la imagen {kind[0]} está dañada o incompleta") from None
    return Logo(data, *kind)


def draft_of(session: Session, code: str) -> Draft:
    """What the form starts from: the stored sociedad and its templates."""
    company = _company(session, code)
    stored = _stored_templates(session, code)
    return Draft(
        **{name: getattr(company, name) for name in (*FIELDS, *FLAGS)}
        | {"cc": "; ".join(emails.split(company.cc)), "bcc": "; ".join(emails.split(company.bcc))},
        templates={
            language: TemplateDraft(t.subject, t.text_body, t.html_body)
            for language, t in stored.items()
        },
    )


def save(session: Session, code: str, draft: Draft, *, data_dir: Path, by: str) -> list[str]:
    """Grabar: the sociedad, both template rows and the logo, with one audit event saying what
    changed from what to what (the logo by its kind and size, never its bytes). Returns the
    labels of what changed; `Refused` with every problem when the form has any."""
    checked = check(code, draft)
    if not checked.ok:
        raise Refused(checked.problems)
    assert checked.company is not None
    company = _company(session, code)
    stored = _stored_templates(session, code)
    changes: dict[str, dict[str, object]] = {}
    for name, (section, label) in {**{n: f[:2] for n, f in FIELDS.items()}, **FLAGS}.items():
        before, after = getattr(company, name), getattr(checked.company, name)
        if before != after:
            changes[f"{section} › {label}"] = {"antes": before, "despues": after}
            setattr(company, name, after)
    for language, template in checked.templates.items():
        row = stored.get(language)
        if row is None:
            row = CompanyTemplate(company_code=code, language=language)
            session.add(row)
        for part, part_label in TEMPLATE_PARTS.items():
            before, after = getattr(row, part) or "", getattr(template, part)
            if before != after:
                label = f"{PLANTILLAS} › {languages.NAMES[language]} › {part_label}"
                changes[label] = {"antes": before, "despues": after}
                setattr(row, part, after)
    logo_change = _logo_change(data_dir, code, checked)
    if logo_change:
        changes[f"{DATOS} › {LOGO_LABEL}"] = logo_change
    if not changes:
        return []
    session.add(
        AuditEvent(
            username=by,
            action=AUDIT_ACTION,
            entity="company",
            entity_key=code,
            details=json.dumps(changes, ensure_ascii=False),
        )
    )
    session.flush()
    # Last, so that a full disk rolls the database back; written atomically either way.
    if checked.logo is not None:
        store_logo(data_dir, code, checked.logo)
    elif checked.logo_given:
        remove_logo(data_dir, code)
    return list(changes)


def _logo_change(data_dir: Path, code: str, checked: Checked) -> dict[str, object] | None:
    current = pdf.logo_for(data_dir, code)
    before = _describe_logo(current.suffix[1:].upper(), current.stat().st_size) if current else ""
    if checked.logo is not None:
        return {
            "antes": before,
            "despues": _describe_logo(checked.logo.kind, len(checked.logo.data)),
        }
    if checked.logo_given and current is not None:
        return {"antes": before, "despues": ""}
    return None


def _describe_logo(kind: str, size: int) -> str:
    return f"{'JPEG' if kind in ('JPG', 'JPEG') else kind}, {max(1, round(size / 1024)):,} KB"


def store_logo(data_dir: Path, code: str, logo: Logo) -> Path:
    """`DATA_DIR/logos/<Sociedad>.<png|jpg>` written whole or not at all (a statement drawn
    meanwhile sees the old logo or the new one, never half of one); the other kind's goes."""
    folder = data_dir / "logos"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{code}{logo.suffix}"
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{code}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(logo.data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    for suffix in pdf.LOGO_SUFFIXES:
        if suffix != logo.suffix:
            (folder / f"{code}{suffix}").unlink(missing_ok=True)
    return target


def load_invoices(
    session: Session, code: str, data: bytes, *, data_dir: Path, by: str
) -> attachments.StoredZip:
    """Cargar facturas: the ZIP's invoices into the sociedad's folder, audited with how many
    were kept and which names were not."""
    _company(session, code)
    stored = attachments.store_invoice_zip(data, data_dir, code)
    details = {"guardadas": stored.stored, "omitidos": list(stored.skipped)}
    session.add(
        AuditEvent(
            username=by,
            action="invoice_upload",
            entity="company",
            entity_key=code,
            details=json.dumps(details, ensure_ascii=False),
        )
    )
    return stored


def remove_logo(data_dir: Path, code: str) -> None:
    for suffix in pdf.LOGO_SUFFIXES:
        (data_dir / "logos" / f"{code}{suffix}").unlink(missing_ok=True)


def preview(
    session: Session,
    checked: Checked,
    customer_no: str,
    cutoff: date,
    *,
    options: message.Options,
    today: date,
) -> message.Ready:
    """The customer's email and PDF as the checked form would make them, before Grabar: an
    uploaded logo is drawn from a temporary file, since the PDF takes its logo from a file."""
    assert checked.company is not None
    with tempfile.TemporaryDirectory(prefix="logo-") as folder:
        logo: Path | message.Stored | None = message.STORED
        if checked.logo is not None:
            logo = Path(folder) / f"{checked.company.code}{checked.logo.suffix}"
            logo.write_bytes(checked.logo.data)
        elif checked.logo_given:
            logo = None
        return message.preview(
            session,
            checked.company.code,
            customer_no,
            cutoff,
            options=options,
            today=today,
            draft=checked.company,
            drafts=checked.templates,
            logo=logo,
        )


def customer_choices(session: Session, code: str) -> dict[str, str]:
    """The sociedad's customers for the preview: No. Cliente → `1006210 · Name`."""
    rows = session.execute(
        select(Customer.customer_no, Customer.name)
        .where(Customer.company_code == code)
        .order_by(Customer.customer_no)
    )
    return {number: f"{number} · {name}" for number, name in rows}


def sample_customer(session: Session, code: str) -> str | None:
    """The preview's first customer: one in the catalog with a balance, whose email shows the
    most, else the first customer of the sociedad."""
    with_balance = session.scalar(
        select(Recipient.customer_no)
        .join(
            OpenItem,
            (OpenItem.company_code == Recipient.company_code)
            & (OpenItem.customer_no == Recipient.customer_no),
        )
        .where(Recipient.company_code == code)
        .group_by(Recipient.customer_no)
        .having(func.sum(OpenItem.open_amount) != 0)
        .order_by(Recipient.customer_no)
        .limit(1)
    )
    return with_balance or session.scalar(
        select(Customer.customer_no)
        .where(Customer.company_code == code)
        .order_by(Customer.customer_no)
        .limit(1)
    )


def _company(session: Session, code: str) -> Company:
    company = session.get(Company, code)
    if company is None:
        raise InvalidValue(f"la sociedad {code} no existe")
    return company


def _stored_templates(session: Session, code: str) -> dict[str, CompanyTemplate]:
    rows = session.scalars(select(CompanyTemplate).where(CompanyTemplate.company_code == code))
    return {row.language: row for row in rows}
