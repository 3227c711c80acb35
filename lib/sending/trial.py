"""Enviarme una prueba: before a big run, the analyst sees in their own inbox the very email a
customer would get today (same PDF, subject and body, through the configured transport), so
what the server, the spam filter or Outlook does to it shows before the customers get it.

Vista previa builds the email (`message.preview`); here it is only re-addressed: To is the
analyst alone, the subject says [PRUEBA] and a first paragraph names the customer's addresses.
No send run, item or address outcome is written and no bounce mark is set or cleared, so a
trial is never anyone's send; it is audited. It is paced like every message of the sender
mailbox: Exchange counts it against the same limits.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from email.message import EmailMessage
from email.utils import parseaddr

from sqlalchemy.orm import Session, sessionmaker

from lib import emails, formatting, users
from lib.config import Settings
from lib.mail import errors, pacing, transports
from lib.models import AuditEvent
from lib.normalize import InvalidValue
from lib.statements import message

SUBJECT_PREFIX = "[PRUEBA] "
ACTION = "test_send"
NO_ANALYST_EMAIL = (
    "tu usuario no tiene un correo válido al cual enviarte la prueba{problem}; pide a un "
    "administrador que lo registre en Usuarios"
)
NOT_IN_CATALOG = (
    "el cliente {customer} no está en el catálogo de envío: no hay un correo que probar; "
    "dalo de alta en Catálogo Envío Masivo"
)


def send(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    username: str,
    company: str,
    customer_no: str,
    cutoff: date,
    transport: transports.Transport | None = None,
) -> str:
    """The customer's email for `cutoff`, to `username`'s own address only, which it returns;
    the server's reply goes to the audit trail.

    `InvalidValue` in Spanish for what the user can fix: an unknown customer, one outside the
    catalog, no usable address of their own, the mail server's refusal or absence.
    """
    with sessions() as session:
        to = analyst_address(session, username)
        built = message.preview(
            session,
            company,
            customer_no,
            cutoff,
            options=message.Options.of(settings),
            today=settings.today(),
        )
    if not built.recipients:
        raise InvalidValue(NOT_IN_CATALOG.format(customer=built.statement.customer.code))
    reply = _deliver(
        addressed(built, to, mail_from=settings.mail_from), settings, sessions, transport
    )
    with sessions() as session, session.begin():
        session.add(_audit(username, built, to, reply))
    return to


def analyst_address(session: Session, username: str) -> str:
    """The signed-in user's own email, re-read: an admin may have changed it since login."""
    user = users.find(session, username)
    if not user.email.strip():
        raise InvalidValue(NO_ANALYST_EMAIL.format(problem=""))
    try:
        return emails.address(user.email)
    except InvalidValue as exc:
        raise InvalidValue(NO_ANALYST_EMAIL.format(problem=f" ({exc})")) from None


def addressed(built: message.Ready, to: str, *, mail_from: str) -> EmailMessage:
    """The customer's email with the analyst as its only recipient (no CC or BCC of the
    sociedad's), marked as a test."""
    note = (
        f"PRUEBA: este es el correo que recibiría el cliente {built.statement.customer.code} "
        f"({built.statement.customer.name}) en {emails.join(built.recipients)}. "
        "Solo te llegó a ti; al cliente no se le envió nada."
    )
    test = replace(built.content, subject=SUBJECT_PREFIX + built.subject)
    return message.compose(
        test,
        mail_from=str(built.message["From"] or mail_from),
        to=to,
        reply_to=str(built.message["Reply-To"] or ""),
        note=note,
    )


def _deliver(
    email: EmailMessage,
    settings: Settings,
    sessions: sessionmaker[Session],
    transport: transports.Transport | None,
) -> str:
    """The server's reply; its refusal, absence or the mailbox's daily limit as `InvalidValue`."""
    try:
        pacing.for_settings(settings, sessions, parseaddr(str(email["From"]))[1]).wait()
    except pacing.DailyLimit as limit:
        when = formatting.moment(limit.until, settings.timezone)
        raise InvalidValue(
            "el buzón remitente llegó a su límite diario de envíos; "
            f"la prueba podrá salir a partir del {when}"
        ) from None
    sender = transport or transports.transport_for(settings)
    try:
        return sender.send(email).reply
    except errors.DeliveryError as exc:
        raise InvalidValue(f"no se envió la prueba: {exc.reason}") from None
    finally:
        sender.close()


def _audit(username: str, built: message.Ready, to: str, reply: str) -> AuditEvent:
    statement = built.statement
    return AuditEvent(
        username=username,
        action=ACTION,
        entity="customer",
        entity_key=f"{statement.company.code}/{statement.customer.code}",
        details=(
            f"fecha de corte {statement.cutoff_date.isoformat()}, enviada a {to} "
            f"(el cliente: {emails.join(built.recipients)}); {reply}"
        ),
    )
