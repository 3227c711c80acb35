"""The one customer → ready email step: the statement drawn as PDF, subject and body from
templates, built with the standard library's `EmailMessage`. The worker, Vista previa and
`lib.cli statement` all go through `ready`, so what is previewed is what is sent; Enviarme una
prueba (`lib.sending.trial`) re-addresses that same email with `compose`.

Render and send are separate steps: sending is `lib.mail`'s.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import date
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from functools import cached_property
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import (
    bounce_marks,
    emails,
    formatting,
    languages,
    mail_templates,
    payments,
    statements,
    templating,
)
from lib.config import Settings
from lib.mail import envelope
from lib.models import Company, CompanyTemplate, Recipient
from lib.normalize import InvalidValue
from lib.statements import attachments, labels, pdf

# The default subject and text body in the customer's language; a sociedad's own template for
# that language (`CompanyTemplate`) replaces them.
SUBJECT_TEMPLATES = {
    languages.SPANISH: "correo_asunto.txt",
    languages.ENGLISH: "correo_asunto_en.txt",
}
BODY_TEMPLATES = {languages.SPANISH: "correo_cuerpo.txt", languages.ENGLISH: "correo_cuerpo_en.txt"}
HTML_TEMPLATES = {
    languages.SPANISH: "correo_cuerpo.html",
    languages.ENGLISH: "correo_cuerpo_en.html",
}
# A sociedad's own text body, shown as HTML when it has no HTML body of its own.
TEXT_AS_HTML = "correo_texto.html"
CUSTOMER_DATA = "los datos de este cliente"
BODY_OPEN_RE = re.compile(r"<body[^>]*>", re.IGNORECASE)
BODY_CLOSE_RE = re.compile(r"</body\s*>", re.IGNORECASE)
HEADERS_BYTES = 4096
LOGO_CID_DOMAIN = "estado-de-cuenta"
DEFAULT_MAX_BYTES = 20 * attachments.MB


class Stored(enum.Enum):
    """`ready`'s logo when the caller has none of its own: the sociedad's, from DATA_DIR."""

    LOGO = "stored"


STORED = Stored.LOGO


def attachment_name(customer_no: str, sent_on: date) -> str:
    """The statement's `<No. Cliente>_<YYYYMMDD>.pdf` (`attachments.customer_file_name`)."""
    return attachments.customer_file_name(customer_no, sent_on, ".pdf")


def context(statement: statements.Statement, issued: date | None = None) -> dict[str, Any]:
    """What a subject or body template can use (`lib.mail_templates.PLACEHOLDERS` lists them for
    the Sociedades page), in the customer's language: the dates' format, the payment block's
    words. Values a sociedad lacks are "" (`logo` too, until `ready` has one to show).
    """
    payment = statement.payment
    language = statement.language
    overdue, credits = statement.overdue, statement.credits
    return {
        "cliente": statement.customer.name,
        "no_cliente": statement.customer.code,
        "sociedad": statement.company.name,
        "sociedad_codigo": statement.company.code,
        "fecha_corte": labels.day(statement.cutoff_date, language),
        "fecha_emision": labels.day(issued or statement.cutoff_date, language),
        "saldo": formatting.balances(statement.totals) if statement.has_balance else "",
        "vencido": formatting.balances(overdue) if overdue else "",
        "a_favor": formatting.balances(credits) if credits else "",
        "saldos": [
            {
                "moneda": currency,
                "saldo": formatting.money(total),
                "vencido": formatting.money(overdue.get(currency, statements.ZERO)),
                "a_favor": formatting.money(credits.get(currency, statements.ZERO)),
            }
            for currency, total in statement.totals.items()
        ],
        "banco": payment.bank if payment else "",
        "cuenta": payment.account if payment else "",
        "clabe": payment.clabe if payment else "",
        "referencia_pago": payment.reference if payment else "",
        "datos_pago": payment_block(payment, language),
        "contacto": statement.reply_to,
        "logo": "",
    }


def payment_block(payment: statements.Payment | None, language: str = languages.DEFAULT) -> str:
    """`Datos para pago:` (`Payment details:`) and one `Label: value` line for each value set;
    "" for none."""
    if payment is None:
        return ""
    rows = labels.payment_rows(payment, language)
    title = labels.of(language)["payment"]
    return "\n".join([f"{title}:", *(f"{label}: {value}" for label, value in rows)])


def default_template(language: str) -> statements.Template:
    """The files a sociedad's own email replaces, as text (Sociedades' "start from these")."""

    def source(names: dict[str, str]) -> str:
        return templating.source_of(names.get(language, names[languages.DEFAULT]))

    return statements.Template(
        source(SUBJECT_TEMPLATES), source(BODY_TEMPLATES), source(HTML_TEMPLATES)
    )


def subject(statement: statements.Statement, values: dict[str, Any] | None = None) -> str:
    """One line whatever the template does: a header can never carry CR or LF.

    Nor an RFC 2047 encoded word (`=?utf-8?q?=0D=0ABcc:...?=` in a name): Python 3.11.7's
    email package decodes one when the header is set and writes the decoded line break out as
    a real one (CVE-2024-6923), so `=?` never reaches the header as such.
    """
    text = _render(SUBJECT_TEMPLATES, statement.template.subject, statement, values, "Asunto")
    return " ".join(text.split()).replace("=?", "= ?")


def body(statement: statements.Statement, values: dict[str, Any] | None = None) -> str:
    own = statement.template.text_body
    return _render(BODY_TEMPLATES, own, statement, values, "Cuerpo de texto").strip() + "\n"


def html(statement: statements.Statement, text: str, values: dict[str, Any]) -> str:
    """The HTML part: the sociedad's own HTML body; else, when it has its own text body, that
    text as paragraphs (under the logo); else the default HTML for the customer's language,
    which shows the balance table and the payment block like the default text does."""
    own = statement.template
    if own.html_body.strip():
        return _own(own.html_body, statement, values, "Cuerpo HTML", html=True)
    if own.text_body.strip():
        return text_as_html(text, statement.language, logo=values["logo"])
    name = HTML_TEMPLATES.get(statement.language, HTML_TEMPLATES[languages.DEFAULT])
    return templating.render_file(name, **values)


def text_as_html(text: str, language: str = languages.DEFAULT, *, logo: str = "") -> str:
    paragraphs = [block.splitlines() for block in re.split(r"\n\s*\n", text.strip())]
    html_lang = labels.of(language)["html_lang"]
    return templating.render_file(TEXT_AS_HTML, paragraphs=paragraphs, lang=html_lang, logo=logo)


@dataclass(frozen=True)
class Content:
    """What an email says and carries, before it is addressed: the send and Enviarme una
    prueba address the same content (the test adds its note on top)."""

    subject: str
    text: str
    html: str
    files: tuple[attachments.Attachment, ...]
    logo: Logo | None = None
    language: str = languages.DEFAULT


@dataclass(frozen=True)
class Logo:
    """The sociedad's logo as the email's inline image (`cid:`), shown above the text."""

    data: bytes
    subtype: str
    cid: str

    @classmethod
    def of(cls, path: Path | None) -> Logo | None:
        if path is None:
            return None
        subtype = "png" if path.suffix.lower() == ".png" else "jpeg"
        # Unique without the server's host name, which make_msgid would otherwise put there.
        return cls(path.read_bytes(), subtype, make_msgid("logo", domain=LOGO_CID_DOMAIN))

    @property
    def src(self) -> str:
        return f"cid:{self.cid[1:-1]}"

    @property
    def data_uri(self) -> str:
        return f"data:image/{self.subtype};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True)
class Ready:
    """One customer's email as it goes out, with what the send item records of it."""

    statement: statements.Statement
    recipients: tuple[str, ...]
    message: EmailMessage
    pdf: bytes
    attachment_name: str
    content: Content
    # What the email lacks (an invoice not found or over MAIL_MAX_MB): the run's row says it.
    note: str = ""
    # Vista previa's: the customer's addresses that bounced in earlier sends.
    bounces: tuple[bounce_marks.Mark, ...] = ()

    @cached_property
    def pdf_sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def attachments(self) -> tuple[str, ...]:
        return tuple(file.name for file in self.content.files)

    @property
    def envelope_recipients(self) -> tuple[str, ...]:
        """Everyone the server is asked to deliver to: the customer's, CC and BCC addresses."""
        sender = self.statement.sender
        return (*self.recipients, *sender.cc, *sender.bcc)

    @property
    def html_preview(self) -> str:
        """The HTML part as a browser shows it outside a mail program: the logo inline."""
        logo = self.content.logo
        shown = self.content.html
        return shown.replace(logo.src, logo.data_uri) if logo is not None else shown

    @property
    def bounce_warning(self) -> str:
        """Vista previa's warning about the addresses marked by a bounce, or "" when none."""
        if not self.bounces:
            return ""
        return (
            "Correos de este cliente que rebotaron en envíos anteriores: "
            f"{'; '.join(mark.text() for mark in self.bounces)}. Corrígelos en el Catálogo "
            "Envío Masivo antes de enviarle su estado de cuenta."
        )


@dataclass(frozen=True)
class Options:
    """Where the send finds what it attaches, from the settings."""

    data_dir: Path
    mail_from: str
    invoices_dir: Path | None = None
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def of(cls, settings: Settings) -> Options:
        return cls(
            settings.data_dir,
            settings.mail_from,
            settings.invoices_dir,
            settings.mail_max_mb * attachments.MB,
        )


def ready(
    statement: statements.Statement,
    recipients: tuple[str, ...],
    *,
    options: Options,
    sent_on: date,
    logo: Path | Stored | None = STORED,
) -> Ready:
    """The statement's PDF (with the sociedad's logo from DATA_DIR, or `logo`) and the extras
    the sociedad chose, in one email to every catalog address of the customer, from the
    sociedad's sender with its copies.
    """
    reply_to = _reply_to(statement)
    logo_file = pdf.logo_for(options.data_dir, statement.company.code) if logo is STORED else logo
    document = pdf.render(statement, logo=logo_file, issued=sent_on)
    name = attachment_name(statement.customer.code, sent_on)
    inline = Logo.of(logo_file)
    values = context(statement, sent_on) | {"logo": inline.src if inline else ""}
    text = body(statement, values)
    html_text = html(statement, text, values)
    extras = attachments.extras(
        statement,
        sent_on=sent_on,
        invoices_dir=options.invoices_dir,
        data_dir=options.data_dir,
        max_bytes=options.max_bytes,
        base_bytes=_base_bytes(document, name, text, html_text, inline),
    )
    lacking = extras.email_lines(statement.language)
    content = Content(
        subject(statement, values),
        "\n".join([text.rstrip("\n"), "", *lacking]) + "\n" if lacking else text,
        _with_paragraph(html_text, " ".join(lacking), first=False) if lacking else html_text,
        (attachments.Attachment(name, "application", "pdf", document), *extras.files),
        inline,
        statement.language,
    )
    sender = statement.sender
    message = compose(
        content,
        mail_from=from_header(sender, options.mail_from),
        to=", ".join(recipients),
        cc=sender.cc,
        bcc=sender.bcc,
        reply_to=reply_to,
    )
    return Ready(statement, recipients, message, document, name, content, extras.note)


def _base_bytes(document: bytes, name: str, text: str, html_text: str, logo: Logo | None) -> int:
    """The email's size before the extras, as MAIL_MAX_MB counts it: the PDF and the logo in
    base64, both bodies (quoted-printable or base64 can double non-ASCII text) and headers."""
    parts = attachments.wire_bytes(len(document), name) + HEADERS_BYTES
    if logo is not None:
        parts += attachments.wire_bytes(len(logo.data), "logo")
    return parts + 2 * (len(text.encode()) + len(html_text.encode()))


def from_header(sender: statements.Sender, mail_from: str) -> str:
    """The sociedad's From, each part defaulting to MAIL_FROM's; checked again here, as the
    Reply-To is, since a bad one must fail this customer alone and say why."""
    default_name, default_address = parseaddr(mail_from)
    if not sender.email and not sender.name:
        return mail_from
    address = default_address
    if sender.email:
        try:
            address = emails.wire_form(emails.address(sender.email))
        except InvalidValue as exc:
            raise InvalidValue(
                f"el correo del remitente de la sociedad no es válido ({exc}); corrígelo en "
                "Administración › Sociedades"
            ) from None
    name = " ".join((sender.name or default_name).split())
    return formataddr((name, address)) if name else address


def _reply_to(statement: statements.Statement) -> str:
    """The sociedad's contact checked again before it becomes a header (the import checked it;
    this is for a value put in the database some other way): one that fails is said in Spanish
    and the customer's email is not sent."""
    try:
        return payments.reply_to(statement.reply_to)
    except InvalidValue as exc:
        raise InvalidValue(
            f"el correo ResponderA de la sociedad {statement.company.code} no es válido ({exc}); "
            "corrígelo en Administración › Sociedades"
        ) from None


def compose(
    content: Content,
    *,
    mail_from: str,
    to: str,
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
    reply_to: str = "",
    note: str = "",
) -> EmailMessage:
    """The email's shape: text and HTML alike (the logo inline in the HTML), then the files.
    The send and Enviarme una prueba (its own To, subject and `note` on top) both go through
    it."""
    message = envelope.new_message(
        subject=content.subject, mail_from=mail_from, to=to, reply_to=reply_to, cc=cc, bcc=bcc
    )
    message.set_content(f"{note}\n\n{content.text}" if note else content.text)
    message.add_alternative(
        _with_paragraph(content.html, note) if note else content.html, subtype="html"
    )
    if content.logo is not None:
        html_part = message.get_body(preferencelist=("html",))
        assert html_part is not None  # just added
        html_part.add_related(
            content.logo.data, "image", content.logo.subtype, cid=content.logo.cid
        )
    for file in content.files:
        message.add_attachment(
            file.data, maintype=file.maintype, subtype=file.subtype, filename=file.name
        )
    return message


def _with_paragraph(html_text: str, words: str, *, first: bool = True) -> str:
    """`words` as a paragraph of their own at the top of the HTML's body (the test's note) or
    at its end (the invoices not attached), whatever the template's own markup."""
    paragraph = f'<p style="color:#9a3412"><strong>{escape(words)}</strong></p>'
    found = (BODY_OPEN_RE if first else BODY_CLOSE_RE).search(html_text)
    if found is None:
        return paragraph + html_text if first else html_text + paragraph
    at = found.end() if first else found.start()
    return html_text[:at] + paragraph + html_text[at:]


def preview(
    session: Session,
    company: str,
    customer_no: str,
    cutoff: date,
    *,
    options: Options,
    today: date,
    draft: Company | None = None,
    drafts: dict[str, CompanyTemplate] | None = None,
    logo: Path | Stored | None = STORED,
) -> Ready:
    """Vista previa: the email the customer would get today, to its catalog addresses.

    Administración › Sociedades previews its form before it is saved: `draft` and `drafts`
    stand in for the stored sociedad and templates (`statements.build`), `logo` for its logo.
    """
    statement = statements.build(session, company, customer_no, cutoff, draft=draft, drafts=drafts)
    entry = session.scalar(
        select(Recipient.emails).where(
            Recipient.company_code == statement.company.code,
            Recipient.customer_no == statement.customer.code,
        )
    )
    recipients = tuple(entry.split(emails.SEPARATOR)) if entry else ()
    built = ready(statement, recipients, options=options, sent_on=today, logo=logo)
    key = (statement.company.code, statement.customer.code)
    return replace(built, bounces=tuple(bounce_marks.of_customers(session, [key]).get(key, ())))


def _render(
    names: dict[str, str],
    override: str,
    statement: statements.Statement,
    values: dict[str, Any] | None,
    part: str,
) -> str:
    """The sociedad's own template for the customer's language when it has one, or the file
    for that language (Spanish for a code without one)."""
    values = values if values is not None else context(statement)
    if override.strip():
        return _own(override, statement, values, part)
    name = names.get(statement.language, names[languages.DEFAULT])
    return templating.render_file(name, **values)


def _own(
    source: str, statement: statements.Statement, values: dict[str, Any], part: str, *, html=False
) -> str:
    """A sociedad's template, checked on the Sociedades page before it was saved; one that
    fails anyway (stored before the check existed, or written some other way) fails this
    customer with a reason the analyst can act on, never the worker."""
    try:
        return templating.render_text(source, html=html, **values)
    except Exception as exc:  # a typed template can raise anything with this customer's data
        where = f"{statement.company.code}, {languages.NAMES.get(statement.language, '')}, {part}"
        why = mail_templates.reason(exc, CUSTOMER_DATA)
        raise InvalidValue(
            f"la plantilla de la sociedad ({where}) tiene un error: {why}; "
            "corrígela en Administración › Sociedades"
        ) from None
