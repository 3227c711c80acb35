"""The bounce reader against real servers on loopback: Dovecot's IMAP (TLS, STARTTLS, plain;
password and XOAUTH2) and, end to end, Postfix taking a send, refusing one address, bouncing
another with its own RFC 3464 report into the mailbox that `lib.cli bounces` reads.
"""

from __future__ import annotations

import io
import sys
from datetime import date, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lib import bounce_marks, cli
from lib.config import OAuth
from lib.mail import oauth
from lib.mail.imap import Imap
from lib.mail.mailbox import MailboxError
from lib.models import (
    AddressBounce,
    Company,
    Customer,
    OpenItem,
    Recipient,
    SendRun,
    User,
    utcnow,
)
from lib.sending import runs
from lib.sending.status import ItemStatus
from tests import mailstack
from tests.mailstack import ANALYST, PASSWORD, REFUSED, SENDER, STALE, USER
from tests.microsoft import CLIENT_ID, CLIENT_SECRET, TENANT
from tests.support import free_port


@pytest.fixture
def trusted(mailbox: mailstack.Dovecot, monkeypatch: pytest.MonkeyPatch) -> mailstack.Dovecot:
    """The empty mailbox, its certificate trusted as the system's CA store would."""
    monkeypatch.setenv("SSL_CERT_FILE", str(mailbox.certificate))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(mailbox.certificate))  # the identity provider
    return mailbox


def note(subject: str) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "x@clientes.test", SENDER, subject
    mail["Message-ID"] = make_msgid(domain="clientes.test")
    mail.set_content("hola\n")
    return mail.as_bytes()


def reader(dovecot: mailstack.Dovecot, security: str = "ssl", **options: object) -> Imap:
    port = dovecot.ssl_port if security == "ssl" else dovecot.port
    return Imap("127.0.0.1", port, security, USER, **{"password": PASSWORD, **options})  # type: ignore[arg-type]


def subjects(raws: list[bytes]) -> list[str]:
    return [str(message_from_bytes(raw, policy=policy.default)["Subject"]) for raw in raws]


@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
def test_the_reader_gets_new_messages_oldest_first_and_then_only_newer_ones(
    trusted: mailstack.Dovecot, security: str
) -> None:
    trusted.deliver(note("uno"))
    trusted.deliver(note("dos"))
    imap = reader(trusted, security)

    first = list(imap.messages("", None))
    trusted.deliver(note("tres"))
    second = list(imap.messages(first[-1].cursor, None))

    assert subjects([f.raw for f in first]) == ["uno", "dos"]
    assert subjects([f.raw for f in second]) == ["tres"]
    assert list(imap.messages(second[-1].cursor, None)) == []
    validity, _, last = second[-1].cursor.partition(":")
    assert validity.isdigit()
    assert int(last) > int(first[-1].cursor.partition(":")[2])


def test_the_reader_leaves_the_messages_unread(trusted: mailstack.Dovecot) -> None:
    trusted.deliver(note("uno"))

    list(reader(trusted).messages("", None))

    with trusted.imap() as client:
        client.select("INBOX", readonly=True)
        _, flags = client.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in flags[0]


def test_a_new_uidvalidity_or_the_first_check_reads_from_the_date_given(
    trusted: mailstack.Dovecot,
) -> None:
    trusted.deliver(note("hoy"))
    imap = reader(trusted)

    assert subjects([f.raw for f in imap.messages("", date.today())]) == ["hoy"]
    assert list(imap.messages("", date.today() + timedelta(days=2))) == []
    assert subjects([f.raw for f in imap.messages("1:999999", date.today())]) == ["hoy"]


def test_xoauth2_reads_the_mailbox_with_a_microsoft_365_style_token(
    trusted: mailstack.Dovecot,
) -> None:
    trusted.deliver(note("uno"))
    settings = OAuth(TENANT, CLIENT_ID, CLIENT_SECRET, scope="https://outlook.office365.com/.default",
                     authority=trusted.identity.authority)  # fmt: skip
    imap = reader(trusted, password="", tokens=oauth.Tokens(settings))

    assert subjects([f.raw for f in imap.messages("", None)]) == ["uno"]
    assert trusted.identity.tokens.introspected  # Dovecot asked the provider about the token


def test_a_wrong_password_says_what_the_server_answered(trusted: mailstack.Dovecot) -> None:
    with pytest.raises(MailboxError, match=r"el servidor IMAP 127\.0\.0\.1:\d+ respondió: .*"):
        list(reader(trusted, password="no-es-la-clave").messages("", None))


def test_an_untrusted_certificate_is_named(mailbox: mailstack.Dovecot) -> None:
    with pytest.raises(
        MailboxError, match=r"el certificado del servidor IMAP .* no es de confianza"
    ):
        list(reader(mailbox).messages("", None))


def test_a_folder_that_does_not_exist_is_named(trusted: mailstack.Dovecot) -> None:
    with pytest.raises(MailboxError, match="no existe la carpeta Rebotes"):
        list(reader(trusted, folder="Rebotes").messages("", None))


def test_a_server_that_is_not_there_is_named() -> None:
    port = free_port()
    with pytest.raises(
        MailboxError, match=f"no se pudo conectar al servidor IMAP 127.0.0.1:{port}"
    ):
        list(Imap("127.0.0.1", port, "none", USER, password="x").messages("", None))


# End to end: lib.cli send through Postfix, Postfix's own bounce, lib.cli bounces and log.

CUSTOMERS = {
    "1000001": ("REFUSED SA", f"uno@clientes.test;{REFUSED}"),  # refused at RCPT: ⚠️
    "1000002": ("BOUNCED LATER SA", f"{STALE};dos@clientes.test"),  # bounces later: ⚠️
    "1000003": ("ONLY STALE SA", STALE),  # bounces later, nothing else: ❌ rebotado
    "1000004": ("FINE SA", "cuatro@clientes.test"),
}


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = cli.main(list(args))
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def postfix_app(
    relay: mailstack.Postfix,
    database: sessionmaker[Session],
    people: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> sessionmaker[Session]:
    """The app sending through Postfix from SENDER and reading SENDER's mailbox over IMAP."""
    settings = {
        "MAIL_TRANSPORT": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(relay.port),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": f"Cobranza <{SENDER}>",
        "MAIL_RATE_PER_MINUTE": "0",
        "BOUNCE_CHECK": "imap",
        "BOUNCE_IMAP_HOST": "127.0.0.1",
        "BOUNCE_IMAP_PORT": str(relay.dovecot.ssl_port),
        "BOUNCE_IMAP_USER": USER,
        "BOUNCE_IMAP_PASSWORD": PASSWORD,
        "SSL_CERT_FILE": str(relay.dovecot.certificate),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with database() as session, session.begin():
        session.get_one(User, 1).email = ANALYST  # ana, who runs the send
        session.add(Company(code="SM02", name="Soluciones del Bajío"))
        session.flush()
        for number, (name, emails) in CUSTOMERS.items():
            session.add(Customer(company_code="SM02", customer_no=number, name=name))
            session.flush()
            session.add(Recipient(company_code="SM02", customer_no=number, emails=emails,
                                  created_by="seed", updated_by="seed"))  # fmt: skip
            session.add(OpenItem(company_code="SM02", customer_no=number, doc_no=f"F-{number}",
                                 doc_type="Factura", doc_date=date.today() - timedelta(days=9),
                                 due_date=date.today(), reference="", amount=Decimal("10.00"),
                                 open_amount=Decimal("10.00"), currency="MXN"))  # fmt: skip
    return database


def test_a_refused_and_a_bounced_address_end_up_in_the_run_the_log_the_catalog_and_an_email(
    postfix_app: sessionmaker[Session], relay: mailstack.Postfix
) -> None:
    code, out, _ = run_cli("send", "--sociedad", "SM02", "--user", "ana", "--procesos", "1")
    assert code == 1, out  # a partial customer (REFUSED) makes the send exit 1
    with postfix_app() as session:
        run_id = session.scalars(select(SendRun.id)).one()
    mailstack.wait_for(lambda: relay.dovecot.count() == 2, 15, "Postfix's two bounces", relay)

    code, out, err = run_cli("bounces", "--once")

    assert code == 0, err
    lines = out.splitlines()
    assert sorted(line.rpartition(" | ")[0] for line in lines[:-1]) == [
        f"SM02 | 1000002 | {STALE}",
        f"SM02 | 1000003 | {STALE}",
    ]
    assert all(line.rpartition(" | ")[2].startswith("5.1.1 ") for line in lines[:-1])
    assert lines[-1].startswith("rebotes: 2 registrados, 0 sin coincidencia (2 mensajes leídos")
    with postfix_app() as session:
        found = {i.customer_no: (i.status, i.error) for i in runs.items(session, run_id)}
        marks = set(session.execute(select(AddressBounce.customer_no, AddressBounce.address)))
    assert found["1000001"][0] == ItemStatus.PARTIAL
    assert found["1000001"][1].startswith(f"{REFUSED}: rechazado: 550 5.1.1")
    assert found["1000002"][0] == ItemStatus.PARTIAL
    assert found["1000002"][1].startswith(f"{STALE}: rebotó: 5.1.1")
    assert found["1000003"][0] == ItemStatus.BOUNCED
    assert found["1000004"] == (ItemStatus.SENT, "")
    assert marks == {("1000001", REFUSED), ("1000002", STALE), ("1000003", STALE)}

    code, out, _ = run_cli("log", str(run_id))
    log_lines = out.splitlines()
    assert code == 0
    assert any("NoCliente: 1000003" in line and f"Enviado: error: {STALE}: rebotó: 5.1.1" in line
               for line in log_lines)  # fmt: skip
    assert log_lines[-1].startswith("resumen: 4 clientes, enviados 1, con error 0, parciales 2")
    assert "rebotados 1" in log_lines[-1]

    mailstack.wait_for(lambda: len(relay.analyst_mail()) == 2, 10, "the log and the notice", relay)
    mails = [message_from_bytes(raw, policy=policy.default) for raw in relay.analyst_mail()]
    (notice,) = [m for m in mails if str(m["Subject"]).startswith("Rebotes")]
    assert notice["Subject"] == f"Rebotes del envío núm. {run_id}"
    (attachment,) = notice.iter_attachments()
    told = attachment.get_content().splitlines()
    assert [line.split(" | ")[1] for line in told] == ["NoCliente: 1000002", "NoCliente: 1000003"]


def test_bounces_once_without_a_mailbox_configured_says_how_to_turn_it_on(
    database: sessionmaker[Session],
) -> None:
    code, _, err = run_cli("bounces", "--once")

    assert code == 1
    assert "BOUNCE_CHECK=off" in err


def test_bounces_once_with_a_mailbox_that_refuses_us_exits_1_with_the_reason(
    postfix_app: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOUNCE_IMAP_PASSWORD", "otra")

    code, out, err = run_cli("bounces", "--once")

    assert code == 1
    assert out.startswith("rebotes: 0 registrados")
    assert "error: no se pudo leer el buzón de rebotes: el servidor IMAP 127.0.0.1" in err


def test_changing_the_bounced_address_in_the_catalog_clears_its_mark(
    postfix_app: sessionmaker[Session],
) -> None:
    with postfix_app() as session, session.begin():
        bounce_marks.flag(session, ("SM02", "1000003"), STALE, "5.1.1 x", utcnow(), None)

    code, _, _ = run_cli("catalog", "add", "SM02", "1000003", "nuevo@clientes.example")

    assert code == 0
    with postfix_app() as session:
        assert session.scalars(select(AddressBounce)).all() == []
