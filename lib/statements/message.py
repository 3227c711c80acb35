"""The one customer → ready email step: the statement drawn as PDF, subject and body from
templates, built with the standard library's `EmailMessage`. The worker, Vista previa and
`lib.cli statement` all go through `ready`, so what is previewed is what is sent; Enviarme una
prueba (`lib.sending.trial`) re-addresses that same email with `compose`.

Render and send are separate steps: sending is `lib.mail`'s.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import date
from email.message import EmailMessage
from functools import cached_property
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import bounce_marks, emails, formatting, languages, payments, statements, templating
from lib.mail import envelope
from lib.models import Recipient
from lib.normalize import InvalidValue
from lib.statements import labels, pdf

# The default subject and text body in the customer's language; a sociedad's own template for
# that language (`CompanyTemplate`) replaces them.
SUBJECT_TEMPLATES = {
    languages.SPANISH: "correo_asunto.txt",
    languages.ENGLISH: "correo_asunto_en.txt",
}
BODY_TEMPLATES = {languages.SPANISH: "correo_cuerpo.txt", languages.ENGLISH: "correo_cuerpo_en.txt"}
HTML_TEMPLATE = "correo_cuerpo.html"
UNSAFE_IN_NAME_RE = re.compile(r"[^0-9A-Za-z-]")


def attachment_name(customer_no: str, sent_on: date) -> str:
    """Manual section 3: `<No. Cliente>_<YYYYMMDD>.pdf`, the day the send runs.

    Customer numbers are normalised to letters, digits and `-` everywhere; anything else is
    replaced here too, so the name never holds a path separator, `..` or a line break.
    """
    return f"{UNSAFE_IN_NAME_RE.sub('_', customer_no)}_{sent_on:%Y%m%d}.pdf"


def context(statement: statements.Statement) -> dict[str, str]:
    """What a subject or body template can use, in the customer's language (the date's format,
    the payment block's words). The payment values are "" when the sociedad has none;
    `datos_pago` is the whole "Datos para pago" block as the default body prints it.
    """
    payment = statement.payment
    return {
        "cliente": statement.customer.name,
        "no_cliente": statement.customer.code,
        "sociedad": statement.company.name,
        "sociedad_codigo": statement.company.code,
        "fecha_corte": labels.day(statement.cutoff_date, statement.language),
        "saldo": formatting.balances(statement.totals) if statement.has_balance else "",
        "banco": payment.bank if payment else "",
        "cuenta": payment.account if payment else "",
        "clabe": payment.clabe if payment else "",
        "referencia_pago": payment.reference if payment else "",
        "datos_pago": payment_block(payment, statement.language),
        "contacto": statement.reply_to,
    }


def payment_block(payment: statements.Payment | None, language: str = languages.DEFAULT) -> str:
    """`Datos para pago:` (`Payment details:`) and one `Label: value` line for each value set;
    "" for none."""
    if payment is None:
        return ""
    rows = labels.payment_rows(payment, language)
    title = labels.of(language)["payment"]
    return "\n".join([f"{title}:", *(f"{label}: {value}" for label, value in rows)])


def subject(statement: statements.Statement) -> str:
    """One line whatever the template does: a header can never carry CR or LF.

    Nor an RFC 2047 encoded word (`=?utf-8?q?=0D=0ABcc:...?=` in a name): Python 3.11.7's
    email package decodes one when the header is set and writes the decoded line break out as
    a real one (CVE-2024-6923), so `=?` never reaches the header as such.
    """
    text = _render(SUBJECT_TEMPLATES, statement.template.subject, statement)
    return " ".join(text.split()).replace("=?", "= ?")


def body(statement: statements.Statement) -> str:
    return _render(BODY_TEMPLATES, statement.template.text_body, statement).strip() + "\n"


def html_body(text: str, language: str = languages.DEFAULT) -> str:
    paragraphs = [block.splitlines() for block in re.split(r"\n\s*\n", text.strip())]
    html_lang = labels.of(language)["html_lang"]
    return templating.render_file(HTML_TEMPLATE, paragraphs=paragraphs, lang=html_lang)


@dataclass(frozen=True)
class Ready:
    """One customer's email as it goes out, with what the send item records of it."""

    statement: statements.Statement
    recipients: tuple[str, ...]
    message: EmailMessage
    pdf: bytes
    attachment_name: str
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
    def bounce_warning(self) -> str:
        """Vista previa's warning about the addresses marked by a bounce, or "" when none."""
        if not self.bounces:
            return ""
        return (
            "Correos de este cliente que rebotaron en envíos anteriores: "
            f"{'; '.join(mark.text() for mark in self.bounces)}. Corrígelos en el Catálogo "
            "Envío Masivo antes de enviarle su estado de cuenta."
        )


def ready(
    statement: statements.Statement,
    recipients: tuple[str, ...],
    *,
    data_dir: Path,
    mail_from: str,
    sent_on: date,
) -> Ready:
    """The statement's PDF (with the sociedad's logo from `data_dir`) attached to one email to
    every catalog address of the customer.
    """
    reply_to = _reply_to(statement)
    logo = pdf.logo_for(data_dir, statement.company.code)
    document = pdf.render(statement, logo=logo, issued=sent_on)
    name = attachment_name(statement.customer.code, sent_on)
    message = compose(
        subject(statement),
        body(statement),
        document,
        name,
        mail_from=mail_from,
        to=", ".join(recipients),
        reply_to=reply_to,
        language=statement.language,
    )
    return Ready(statement, recipients, message, document, name)


def _reply_to(statement: statements.Statement) -> str:
    """The sociedad's contact checked again before it becomes a header (the import checked it;
    this is for a value put in the database some other way): one that fails is said in Spanish
    and the customer's email is not sent."""
    try:
        return payments.reply_to(statement.reply_to)
    except InvalidValue as exc:
        raise InvalidValue(
            f"el correo ResponderA de la sociedad {statement.company.code} no es válido ({exc}); "
            "corrígelo en la importación de sociedades"
        ) from None


def compose(
    subject_line: str,
    text: str,
    document: bytes,
    name: str,
    *,
    mail_from: str,
    to: str,
    reply_to: str = "",
    language: str = languages.DEFAULT,
) -> EmailMessage:
    """The email's shape, text and HTML alike with the PDF attached; the send and Enviarme una
    prueba (its own To, subject and first paragraph) both go through it.
    """
    message = envelope.new_message(
        subject=subject_line, mail_from=mail_from, to=to, reply_to=reply_to
    )
    message.set_content(text)
    message.add_alternative(html_body(text, language), subtype="html")
    message.add_attachment(document, maintype="application", subtype="pdf", filename=name)
    return message


def preview(
    session: Session,
    company: str,
    customer_no: str,
    cutoff: date,
    *,
    data_dir: Path,
    mail_from: str,
    today: date,
) -> Ready:
    """Vista previa: the email the customer would get today, to its catalog addresses."""
    statement = statements.build(session, company, customer_no, cutoff)
    entry = session.scalar(
        select(Recipient.emails).where(
            Recipient.company_code == statement.company.code,
            Recipient.customer_no == statement.customer.code,
        )
    )
    recipients = tuple(entry.split(emails.SEPARATOR)) if entry else ()
    built = ready(statement, recipients, data_dir=data_dir, mail_from=mail_from, sent_on=today)
    key = (statement.company.code, statement.customer.code)
    return replace(built, bounces=tuple(bounce_marks.of_customers(session, [key]).get(key, ())))


def _render(names: dict[str, str], override: str, statement: statements.Statement) -> str:
    """The sociedad's own template for the customer's language when it has one, or the file
    for that language (Spanish for a code without one)."""
    if override.strip():
        return templating.render_text(override, **context(statement))
    name = names.get(statement.language, names[languages.DEFAULT])
    return templating.render_file(name, **context(statement))
