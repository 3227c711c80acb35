"""The statement email: subject and body from templates, the PDF attached, built with the
standard library's `EmailMessage` (render and send are separate steps; sending is elsewhere).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import emails, formatting, pdf, statements, templating
from lib.models import Recipient, SendRun

SUBJECT_TEMPLATE = "correo_asunto.txt"
BODY_TEMPLATE = "correo_cuerpo.txt"
HTML_TEMPLATE = "correo_cuerpo.html"
LOG_TEMPLATE = "correo_log.txt"
UNSAFE_IN_NAME_RE = re.compile(r"[^0-9A-Za-z-]")


def attachment_name(customer_no: str, sent_on: date) -> str:
    """Manual section 3: `<No. Cliente>_<YYYYMMDD>.pdf`, the day the send runs.

    Customer numbers are normalised to letters, digits and `-` everywhere; anything else is
    replaced here too, so the name never holds a path separator, `..` or a line break.
    """
    return f"{UNSAFE_IN_NAME_RE.sub('_', customer_no)}_{sent_on:%Y%m%d}.pdf"


def context(statement: statements.Statement) -> dict[str, str]:
    """What a subject or body template can use."""
    return {
        "cliente": statement.customer.name,
        "no_cliente": statement.customer.code,
        "sociedad": statement.company.name,
        "sociedad_codigo": statement.company.code,
        "fecha_corte": formatting.day(statement.cutoff_date),
        "saldo": formatting.balances(statement.totals) if statement.has_balance else "",
    }


def subject(statement: statements.Statement) -> str:
    """One line whatever the template does: a header can never carry CR or LF.

    Nor an RFC 2047 encoded word (`=?utf-8?q?=0D=0ABcc:...?=` in a name): Python 3.11.7's
    email package decodes one when the header is set and writes the decoded line break out as
    a real one (CVE-2024-6923), so `=?` never reaches the header as such.
    """
    text = _render(SUBJECT_TEMPLATE, statement.subject_template, statement)
    return " ".join(text.split()).replace("=?", "= ?")


def body(statement: statements.Statement) -> str:
    return _render(BODY_TEMPLATE, statement.body_template, statement).strip() + "\n"


def html_body(text: str) -> str:
    paragraphs = [block.splitlines() for block in re.split(r"\n\s*\n", text.strip())]
    return templating.render_file(HTML_TEMPLATE, paragraphs=paragraphs)


@dataclass(frozen=True)
class Preview:
    """Everything the email of one customer would carry, for the preview screen."""

    statement: statements.Statement
    recipients: tuple[str, ...]
    subject: str
    body: str
    attachment_name: str
    pdf: bytes


def preview(
    session: Session, company: str, customer_no: str, cutoff: date, *, data_dir: Path, today: date
) -> Preview:
    statement = statements.build(session, company, customer_no, cutoff)
    entry = session.scalar(
        select(Recipient.emails).where(
            Recipient.company_code == statement.company.code,
            Recipient.customer_no == statement.customer.code,
        )
    )
    return Preview(
        statement=statement,
        recipients=tuple(entry.split(emails.SEPARATOR)) if entry else (),
        subject=subject(statement),
        body=body(statement),
        attachment_name=attachment_name(statement.customer.code, today),
        pdf=pdf.render(statement, logo=pdf.logo_for(data_dir, statement.company.code)),
    )


def compose(
    statement: statements.Statement,
    recipients: tuple[str, ...],
    pdf: bytes,
    *,
    mail_from: str,
    sent_on: date,
) -> EmailMessage:
    """One email to every catalog address of the customer, with the PDF attached."""
    message = EmailMessage()
    message["Subject"] = subject(statement)
    message["From"] = mail_from
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=_domain(mail_from))
    text = body(statement)
    message.set_content(text)
    message.add_alternative(html_body(text), subtype="html")
    message.add_attachment(
        pdf,
        maintype="application",
        subtype="pdf",
        filename=attachment_name(statement.customer.code, sent_on),
    )
    return message


def log_message(run: SendRun, text: str, file_name: str, *, mail_from: str) -> EmailMessage:
    """Manual section 3: the user who ran the send gets the log of what went out, as a `.txt`."""
    message = EmailMessage()
    message["Subject"] = (
        f"Log de envío masivo de estados de cuenta del {formatting.day(run.run_date)}"
    )
    message["From"] = mail_from
    message["To"] = run.notify_email
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=_domain(mail_from))
    message.set_content(
        templating.render_file(
            LOG_TEMPLATE,
            run=run,
            fecha_corte=formatting.day(run.cutoff_date),
            archivo=file_name,
        ).strip()
        + "\n"
    )
    message.add_attachment(text, subtype="plain", charset="utf-8", filename=file_name)
    return message


def test_message(to: str, *, mail_from: str, transport: str) -> EmailMessage:
    """`lib.cli mail-test`: one short message to check the mail settings end to end."""
    message = EmailMessage()
    message["Subject"] = "Prueba de envío: Envío masivo de estados de cuenta"
    message["From"] = mail_from
    message["To"] = to
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=_domain(mail_from))
    message.set_content(
        f"Este es un correo de prueba enviado con el transporte '{transport}'.\n"
        "Si lo recibió, los estados de cuenta pueden enviarse con esta configuración.\n"
    )
    return message


def _render(name: str, override: str | None, statement: statements.Statement) -> str:
    if override and override.strip():
        return templating.render_text(override, **context(statement))
    return templating.render_file(name, **context(statement))


def _domain(mail_from: str) -> str:
    address = mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
    return address.rpartition("@")[2] or "localhost"
