"""Enviarme una prueba: the customer's real email to the analyst alone, through a real SMTP
server on loopback (aiosmtpd) and the outbox; lib on both backends, then the Vista previa page.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from lib import config, users
from lib.mail import smtp
from lib.models import AuditEvent, Company, Customer, OpenItem, Recipient, SendItem, SendRun, User
from lib.normalize import InvalidValue
from lib.sending import trial
from lib.statements import message
from tests.mailserver import MailServer
from tests.support import AppServer, free_port, seed_catalog
from tests.test_browser import log_in, settle
from tests.test_catalogo_pages import button
from tests.test_pages import start

CUTOFF = date(2026, 11, 28)
ANALYST = "ana@finanzas.example"
CUSTOMER_EMAILS = ("pagos@pena.example", "cxp@pena.example")
PAGE = "pages/estado_cuenta.py"


@pytest.fixture
def seeded(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """SM02: 1006210 in the catalog with two addresses and an open invoice, 1009999 outside it;
    the analysts `ana` (with an email), `sin-correo` (none) and `mal-correo` (a broken one)."""
    with sessions() as session, session.begin():
        session.add(Company(code="SM02", name="Soluciones del Bajío"))
        session.flush()
        session.add(Customer(company_code="SM02", customer_no="1006210", name="PEÑA & HIJOS"))
        session.add(Customer(company_code="SM02", customer_no="1009999", name="FUERA"))
        session.flush()
        session.add(Recipient(company_code="SM02", customer_no="1006210",
                              emails=";".join(CUSTOMER_EMAILS), created_by="seed",
                              updated_by="seed"))  # fmt: skip
        session.add(OpenItem(company_code="SM02", customer_no="1006210", doc_no="F-1006210",
                             doc_type="Factura", doc_date=CUTOFF - timedelta(days=40),
                             due_date=CUTOFF - timedelta(days=10), reference="",
                             amount=Decimal("1500.25"), open_amount=Decimal("1500.25"),
                             currency="MXN"))  # fmt: skip
        for username in ("ana", "sin-correo", "mal-correo"):
            users.create_user(session, username=username, name=username, email=ANALYST,
                              role="analista", password="clave-de-prueba-1",
                              created_by="test")  # fmt: skip
        session.flush()
        # Users from before emails were checked, or edited in the database by hand.
        session.execute(sa.update(User).where(User.username == "sin-correo").values(email=" "))
        session.execute(sa.update(User).where(User.username == "mal-correo").values(email="ana@"))
    return sessions


def settings_for(tmp_path: Path, **environ: str) -> config.Settings:
    return config.load_settings(
        tmp_path / "no-secrets.toml",
        {"DATA_DIR": str(tmp_path / "data"), "MAIL_FROM": "Cobranza <cobranza@bajio.example>"}
        | environ,
    )


@pytest.fixture
def server() -> Iterator[MailServer]:
    with MailServer() as running:
        yield running


@pytest.fixture
def smtp_settings(tmp_path: Path, server: MailServer) -> config.Settings:
    return settings_for(
        tmp_path,
        MAIL_TRANSPORT="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(server.port),
        SMTP_SECURITY="none",
    )


def send(
    sessions: sessionmaker[Session],
    settings: config.Settings,
    customer_no: str = "1006210",
    username: str = "ana",
    **options: object,
) -> str:
    return trial.send(
        sessions,
        settings,
        username=username,
        company="sm02 ",
        customer_no=customer_no,
        cutoff=CUTOFF,
        **options,  # type: ignore[arg-type]
    )


def envelope_addresses(message: EmailMessage) -> list[str]:
    headers = [value for name in ("To", "Cc", "Bcc") for value in message.get_all(name, [])]
    return [address for _, address in getaddresses(headers)]


def pdf_text(message: EmailMessage) -> str:
    attachment = next(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(attachment.get_content())).pages)


def test_the_trial_reaches_the_analyst_alone_with_the_customers_pdf_marked_as_a_test(
    seeded: sessionmaker[Session], smtp_settings: config.Settings, server: MailServer
) -> None:
    assert send(seeded, smtp_settings) == ANALYST

    [received] = server.received
    assert received.recipients == [ANALYST]
    assert received.mail_from == "cobranza@bajio.example"
    email = received.message
    assert envelope_addresses(email) == [ANALYST]
    assert not any(a in received.content.decode() for a in ("Cc:", "Bcc:"))
    assert email["Subject"].startswith("[PRUEBA] Estado de cuenta al 28/11/2026")
    body = email.get_body(preferencelist=("plain",)).get_content()
    assert body.startswith(
        "PRUEBA: este es el correo que recibiría el cliente 1006210 (PEÑA & HIJOS) en "
        "pagos@pena.example;cxp@pena.example. Solo te llegó a ti; al cliente no se le envió nada."
    )
    assert "Estimado cliente PEÑA & HIJOS:" in body
    html = email.get_body(preferencelist=("html",)).get_content()
    assert "<strong>PRUEBA: este es el correo" in html.split("Estimado cliente")[0]
    assert "PEÑA &amp; HIJOS" in html
    attachment = next(email.iter_attachments())
    assert attachment.get_filename() == f"1006210_{smtp_settings.today():%Y%m%d}.pdf"
    assert "F-1006210" in pdf_text(email)


def test_the_trial_is_the_email_the_send_would_build_but_for_its_address_and_mark(
    seeded: sessionmaker[Session], smtp_settings: config.Settings, server: MailServer
) -> None:
    send(seeded, smtp_settings)

    with seeded() as session:
        options = message.Options(smtp_settings.data_dir, smtp_settings.mail_from)
        real = message.preview(
            session, "SM02", "1006210", CUTOFF, options=options, today=smtp_settings.today()
        )
    email = server.received[0].message
    assert email["Subject"] == trial.SUBJECT_PREFIX + real.subject
    text = email.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert text.endswith("\n\n" + real.body)
    assert email["From"] == real.message["From"]
    assert email["Message-ID"] != real.message["Message-ID"]
    assert pdf_text(email) == pdf_text(real.message)


def test_the_trial_replies_go_where_the_customers_would(
    seeded: sessionmaker[Session], smtp_settings: config.Settings, server: MailServer
) -> None:
    with seeded() as session, session.begin():
        session.get_one(Company, "SM02").reply_to = "cobranza@bajio.example"

    send(seeded, smtp_settings)

    [received] = server.received
    assert received.recipients == [ANALYST]
    assert received.message["Reply-To"] == "cobranza@bajio.example"
    assert envelope_addresses(received.message) == [ANALYST]


def test_the_trial_records_no_send_and_leaves_the_catalog_alone_but_is_audited(
    seeded: sessionmaker[Session], smtp_settings: config.Settings, server: MailServer
) -> None:
    with seeded() as session:
        before = session.scalars(sa.select(Recipient)).one()
        catalog_row = (before.emails, before.updated_at, before.updated_by)

    send(seeded, smtp_settings)

    with seeded() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(SendRun)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(SendItem)) == 0
        after = session.scalars(sa.select(Recipient)).one()
        assert (after.emails, after.updated_at, after.updated_by) == catalog_row
        [event] = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "test_send"))
    assert (event.username, event.entity, event.entity_key) == ("ana", "customer", "SM02/1006210")
    assert event.details == (
        "fecha de corte 2026-11-28, enviada a ana@finanzas.example "
        "(el cliente: pagos@pena.example;cxp@pena.example); 250 2.0.0 Ok: queued"
    )


NO_EMAIL = (
    "tu usuario no tiene un correo válido al cual enviarte la prueba{}; pide a un administrador "
    "que lo registre en Usuarios"
)


@pytest.mark.parametrize(
    ("username", "customer_no", "refused", "expected"),
    [
        ("ana", "42", "", "el cliente 42 no está dado de alta en la sociedad SM02"),
        (
            "ana",
            "1009999",
            "",
            "el cliente 1009999 no está en el catálogo de envío: no hay un correo que probar; "
            "dalo de alta en Catálogo Envío Masivo",
        ),
        ("sin-correo", "1006210", "", NO_EMAIL.format("")),
        ("mal-correo", "1006210", "", NO_EMAIL.format(" (correo no válido: 'ana@')")),
        (
            "ana",
            "1006210",
            "550 5.1.1 Buzón desconocido",
            "no se envió la prueba: destinatario rechazado: "
            "ana@finanzas.example: 550 5.1.1 Buzón desconocido",
        ),
    ],
    ids=["unknown-customer", "not-in-catalog", "no-email", "broken-email", "smtp-refusal"],
)
def test_what_the_user_can_fix_comes_back_in_spanish_and_nothing_is_sent_or_audited(
    seeded: sessionmaker[Session],
    smtp_settings: config.Settings,
    server: MailServer,
    username: str,
    customer_no: str,
    refused: str,
    expected: str,
) -> None:
    if refused:
        server.faults.refuse[ANALYST] = refused

    with pytest.raises(InvalidValue) as error:
        send(seeded, smtp_settings, customer_no, username)

    assert str(error.value) == expected
    assert server.received == []
    with seeded() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "test_send")) == 0  # fmt: skip


def test_an_unreachable_mail_server_gives_its_reason(
    seeded: sessionmaker[Session], tmp_path: Path
) -> None:
    nobody = free_port()
    options = smtp.SmtpOptions("127.0.0.1", nobody, "none", "", "", timeout=5)
    unreachable = smtp.Smtp(options, sleep=lambda _: None)

    with pytest.raises(InvalidValue) as error:
        send(seeded, settings_for(tmp_path), transport=unreachable)

    assert str(error.value).startswith("no se envió la prueba: sin conexión con el servidor SMTP")
    assert str(error.value).endswith("(tras 3 intentos)")


def test_the_sender_mailboxs_daily_limit_counts_the_trial(
    seeded: sessionmaker[Session], tmp_path: Path, server: MailServer
) -> None:
    limited = settings_for(
        tmp_path,
        MAIL_TRANSPORT="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(server.port),
        SMTP_SECURITY="none",
        MAIL_RATE_PER_MINUTE="0",
        MAIL_DAILY_LIMIT="1",
    )
    send(seeded, limited)

    with pytest.raises(InvalidValue) as error:
        send(seeded, limited)

    assert str(error.value).startswith(
        "el buzón remitente llegó a su límite diario de envíos; la prueba podrá salir a partir del "
    )
    assert len(server.received) == 1


def test_with_the_outbox_the_trial_is_one_eml_file_to_the_analyst(
    seeded: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)

    assert send(seeded, settings) == ANALYST

    [file] = settings.outbox_dir.glob("*.eml")
    with seeded() as session:
        audited = session.scalar(
            sa.select(AuditEvent.details).where(AuditEvent.action == trial.ACTION)
        )
    assert audited.endswith(f"; guardado en {file.name}")
    email = message_from_bytes(file.read_bytes(), policy=policy.default)
    assert isinstance(email, EmailMessage)
    assert envelope_addresses(email) == [ANALYST]
    assert email["Subject"].startswith("[PRUEBA] ")
    assert "F-1006210" in pdf_text(email)


# Vista previa › Enviarme una prueba (AppTest; `people` makes ana with ana@e.example)


def preview(customer_no: str) -> AppTest:
    at = start(PAGE, user="ana")
    at.text_input[0].input(customer_no)
    button(at, "Ver estado de cuenta").click()
    return at.run()


def send_trial(at: AppTest) -> AppTest:
    button(at, "Enviarme una prueba").click()
    return at.run()


def test_vista_previa_sends_the_trial_to_the_outbox(people, database, app_env) -> None:
    seed_catalog(database)

    at = send_trial(preview("1004273"))

    assert not at.exception
    assert [s.value for s in at.success] == ["Prueba enviada a ana@e.example."]
    [file] = (Path(app_env["DATA_DIR"]) / "outbox").glob("*.eml")
    email = message_from_bytes(file.read_bytes(), policy=policy.default)
    assert envelope_addresses(email) == ["ana@e.example"]  # type: ignore[arg-type]
    assert "old@y.mx" in email.get_body(preferencelist=("plain",)).get_content()  # type: ignore[attr-defined]
    assert at.subheader[0].value == "1004273 · PLUMBERS CENTER"  # the preview stays


def test_vista_previa_sends_the_trial_through_smtp_or_shows_the_refusal(
    people, database, server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_catalog(database)
    for name, value in (("MAIL_TRANSPORT", "smtp"), ("SMTP_HOST", "127.0.0.1"),
                        ("SMTP_PORT", str(server.port)), ("SMTP_SECURITY", "none")):  # fmt: skip
        monkeypatch.setenv(name, value)

    at = send_trial(preview("1004273"))

    assert [s.value for s in at.success] == ["Prueba enviada a ana@e.example."]
    assert [m.recipients for m in server.received] == [["ana@e.example"]]
    server.faults.refuse["ana@e.example"] = "550 5.7.1 No permitido"
    at = send_trial(at)
    assert not at.success
    assert [e.value for e in at.error] == [
        "No se envió la prueba: destinatario rechazado: ana@e.example: 550 5.7.1 No permitido."
    ]


def test_vista_previa_offers_no_trial_for_a_customer_outside_the_catalog(people, database) -> None:
    seed_catalog(database)

    at = preview("1006210")

    assert not at.exception
    assert "Enviarme una prueba" not in [b.label for b in at.button]


def test_in_a_browser_the_demo_customers_trial_lands_in_the_outbox(
    with_demo_data: None,
    people: dict[str, str],
    app_server: AppServer,
    page: Page,
    database: sessionmaker[Session],
    app_env: dict[str, str],
) -> None:
    page.goto(f"{app_server.url}/estado_cuenta")
    log_in(page, "ana", people["ana"])  # the app loads its demo data on the first page
    with database() as session:
        first = session.scalars(
            sa.select(Recipient).where(Recipient.company_code == "SM02").limit(1)
        ).one()
    page.get_by_role("textbox", name="No. Cliente").fill(first.customer_no)
    page.get_by_role("button", name="Ver estado de cuenta").click()
    expect(
        page.get_by_role("button", name=f"Descargar {first.customer_no}_", exact=False)
    ).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Enviarme una prueba").click()
    expect(page.get_by_text("Prueba enviada a ana@e.example.")).to_be_visible(timeout=60_000)
    settle(page)

    [file] = (Path(app_env["DATA_DIR"]) / "outbox").glob("*.eml")
    email = message_from_bytes(file.read_bytes(), policy=policy.default)
    assert envelope_addresses(email) == ["ana@e.example"]  # type: ignore[arg-type]
    assert email["Subject"].startswith("[PRUEBA] ")
    assert first.emails in email.get_body(preferencelist=("plain",)).get_content()  # type: ignore[attr-defined]
