"""A sociedad's sender identity: its From, CC and BCC on the customer's email, delivered by a
real SMTP server on loopback, paced on that From's mailbox; and the HTML email with the logo,
the balance table and the payment block."""

from __future__ import annotations

import socket
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lib import config, mail_templates
from lib.mail import graph, pacing
from lib.models import Company, CompanyTemplate, Customer, MailboxUse
from lib.normalize import InvalidValue
from lib.sending import runs, trial, worker
from lib.statements import ZERO, message
from tests.mailserver import MailServer
from tests.test_sending import (  # noqa: F401 (fixtures)
    CUTOFF,
    catalog,
    server,
    settings,
    smtp_to,
    start_run,
    statement_mails,
    work_until_idle,
)
from tests.test_statements import (  # noqa: F401 (fixtures)
    CLABE,
    build,
    ledger,
    own_template,
    pay_to,
    paying,
)

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def own_sender(sessions: sessionmaker[Session], **fields: str) -> None:
    with sessions() as session, session.begin():
        company = session.get_one(Company, "SM02")
        for name, value in fields.items():
            setattr(company, name, value)


def built(sessions, tmp_path: Path, mail_from: str = "Estados <estados@grupo.example>"):
    return message.ready(
        build(sessions),
        ("cobranza@pena.mx",),
        options=message.Options(tmp_path, mail_from),
        sent_on=date(2026, 11, 28),
    )


def test_the_sociedads_from_cc_and_bcc_are_on_its_email(sessions, ledger, tmp_path) -> None:
    own_sender(
        sessions,
        sender_name="Cobranza Bajío",
        sender_email="cobranza@bajio.example",
        cc="copia@bajio.example",
        bcc="archivo@bajio.example;auditoria@bajio.example",
    )
    email = built(sessions, tmp_path).message
    assert email["From"] == "Cobranza Bajío <cobranza@bajio.example>"
    assert email["Cc"] == "copia@bajio.example"
    assert email["Bcc"] == "archivo@bajio.example, auditoria@bajio.example"


def test_a_sociedad_without_its_own_sender_sends_from_mail_from(sessions, ledger, tmp_path) -> None:
    email = built(sessions, tmp_path).message
    assert email["From"] == "Estados <estados@grupo.example>"
    assert email["Cc"] is None
    assert email["Bcc"] is None


def test_a_sender_name_alone_goes_with_mail_froms_address(sessions, ledger, tmp_path) -> None:
    own_sender(sessions, sender_name="Cobranza Bajío")
    assert built(sessions, tmp_path).message["From"] == "Cobranza Bajío <estados@grupo.example>"


def test_a_bad_sender_address_in_the_database_fails_with_a_spanish_reason(
    sessions, ledger, tmp_path
) -> None:
    own_sender(sessions, sender_email="no es correo")
    with pytest.raises(InvalidValue, match="remitente de la sociedad no es válido"):
        built(sessions, tmp_path)


def test_cc_and_bcc_are_delivered_and_no_one_sees_the_bcc(
    catalog, settings, server: MailServer, tmp_path
) -> None:
    own_sender(
        catalog,
        sender_email="cobranza@bajio.example",
        cc="copia@bajio.example",
        bcc="archivo@bajio.example",
    )
    run_id = start_run(catalog, ["1000001"])
    runner = worker.Worker(catalog, settings, transport=smtp_to(server.port), pacer=pacing.Pacer(0))
    work_until_idle(runner, run_id)
    [received] = statement_mails(server)
    assert set(received.recipients) >= {"copia@bajio.example", "archivo@bajio.example"}
    assert received.message["From"] == "Cobranza <cobranza@bajio.example>"
    assert received.message["Cc"] == "copia@bajio.example"
    assert received.message["Bcc"] is None
    assert b"archivo@bajio.example" not in received.content


def test_the_envelope_sender_is_the_configured_mailbox_whatever_the_from(
    catalog, settings, server: MailServer
) -> None:
    own_sender(catalog, sender_email="cobranza@bajio.example")
    run_id = start_run(catalog, ["1000001"])
    transport = smtp_to(server.port, sender="estados@grupo.example")
    runner = worker.Worker(catalog, settings, transport=transport, pacer=pacing.Pacer(0))
    work_until_idle(runner, run_id)
    [received] = statement_mails(server)
    assert received.mail_from == "estados@grupo.example"
    assert received.message["From"] == "Cobranza <cobranza@bajio.example>"


def test_each_from_is_paced_on_its_own_mailbox(catalog, tmp_path, server: MailServer) -> None:
    paced = config.load_settings(
        tmp_path / "no-secrets.toml",
        {
            "DATA_DIR": str(tmp_path / "data"),
            "MAIL_FROM": "Cobranza <estados@grupo.example>",
            "MAIL_TRANSPORT": "smtp",
            "MAIL_RATE_PER_MINUTE": "6000",
        },
    )
    own_sender(catalog, sender_email="cobranza@bajio.example")
    run_id = start_run(catalog, ["1000001", "1000003"])
    runner = worker.Worker(catalog, paced, transport=smtp_to(server.port))
    work_until_idle(runner, run_id)
    with catalog() as session:
        used = session.execute(select(MailboxUse.mailbox, MailboxUse.recipients)).all()
    customers = [count for mailbox, count in used if mailbox == "cobranza@bajio.example"]
    assert len(customers) == 2
    assert all(count >= 1 for count in customers)
    # The analyst's log email goes out from MAIL_FROM, paced on that mailbox.
    assert any(mailbox == "estados@grupo.example" for mailbox, _ in used)


def test_the_pacer_counts_cc_and_bcc_as_recipients(sessions, ledger, tmp_path) -> None:
    own_sender(sessions, cc="copia@bajio.example", bcc="archivo@bajio.example")
    ready = built(sessions, tmp_path)
    assert ready.envelope_recipients == (
        "cobranza@pena.mx",
        "copia@bajio.example",
        "archivo@bajio.example",
    )


def test_graph_sends_from_cc_bcc_and_the_inline_logo(sessions, ledger, tmp_path) -> None:
    own_sender(
        sessions,
        sender_name="Cobranza Bajío",
        sender_email="cobranza@bajio.example",
        cc="copia@bajio.example",
        bcc="archivo@bajio.example",
    )
    (tmp_path / "logos").mkdir()
    (tmp_path / "logos" / "SM02.png").write_bytes(PNG)
    payload = graph.graph_payload(built(sessions, tmp_path).message)["message"]
    assert payload["from"] == {
        "emailAddress": {"address": "cobranza@bajio.example", "name": "Cobranza Bajío"}
    }
    assert payload["ccRecipients"] == [{"emailAddress": {"address": "copia@bajio.example"}}]
    assert payload["bccRecipients"] == [{"emailAddress": {"address": "archivo@bajio.example"}}]
    inline = [a for a in payload["attachments"] if a.get("isInline")]
    assert len(inline) == 1
    assert inline[0]["contentType"] == "image/png"
    assert f"cid:{inline[0]['contentId']}" in payload["body"]["content"]


def html_of(email: EmailMessage) -> str:
    part = email.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


def test_the_html_email_shows_the_logo_the_balances_and_the_payment_block(
    sessions, ledger, tmp_path
) -> None:
    paying(sessions)
    (tmp_path / "logos").mkdir()
    (tmp_path / "logos" / "SM02.png").write_bytes(PNG)
    ready = built(sessions, tmp_path)
    shown = html_of(ready.message)
    logo = ready.content.logo
    assert logo is not None
    assert f'src="{logo.src}"' in shown
    related = [p for p in ready.message.walk() if p["Content-ID"] is not None]
    assert [p.get_content_type() for p in related] == ["image/png"]
    assert related[0].get_content() == PNG
    for currency in build(sessions).totals:
        assert f'<td style="padding: 4px 12px 4px 0;">{currency}</td>' in shown
    assert f"CLABE: {CLABE}" in shown
    assert "data:image/png;base64," in ready.html_preview
    assert logo.src not in ready.html_preview


def test_the_text_part_says_the_balance_overdue_and_payment_block_too(
    sessions, ledger, tmp_path
) -> None:
    paying(sessions)
    statement = build(sessions)
    text = built(sessions, tmp_path).body
    assert statement.overdue, "the ledger has overdue charges"
    assert f"Vencido: {message.formatting.balances(statement.overdue)}." in text
    assert "Datos para pago:\nBanco: BBVA México\n" in text
    shown = html_of(built(sessions, tmp_path).message)
    for currency, amount in statement.overdue.items():
        assert message.formatting.money(amount) in shown, currency


def test_enviarme_una_prueba_keeps_the_from_but_copies_no_one(sessions, ledger, tmp_path) -> None:
    own_sender(
        sessions,
        sender_email="cobranza@bajio.example",
        cc="copia@bajio.example",
        bcc="archivo@bajio.example",
    )
    test = trial.addressed(built(sessions, tmp_path), "ana@grupo.example", mail_from="x@y.example")
    assert test["From"] == "Estados <cobranza@bajio.example>"
    assert test["To"] == "ana@grupo.example"
    assert test["Cc"] is None
    assert test["Bcc"] is None
    assert "PRUEBA:" in html_of(test).split("<body", 1)[1][:400]


def test_mail_from_of_the_settings_is_the_default_pacer(tmp_path) -> None:
    chosen = config.load_settings(
        tmp_path / "none.toml",
        {"MAIL_FROM": "E <estados@grupo.example>", "DATA_DIR": str(tmp_path)},
    )
    pacers = pacing.Pacers(chosen, sessionmaker())
    assert pacers.default is pacers.of("Otro <ESTADOS@grupo.example>")
    assert pacers.of("cobranza@bajio.example") is not pacers.default


def test_templates_get_exactly_the_placeholders_the_sociedades_page_lists(sessions, ledger) -> None:
    assert message.context(build(sessions)).keys() == mail_templates.PLACEHOLDERS.keys()


def test_credits_explain_an_overdue_amount_above_the_balance(sessions, ledger, tmp_path) -> None:
    statement = build(sessions)
    for currency, total in statement.totals.items():
        overdue = statement.overdue.get(currency, ZERO)
        credits = statement.credits.get(currency, ZERO)
        not_due = statement.aging[currency]["Por vencer"]
        assert overdue + credits + not_due == total
    assert statement.credits, "the ledger has a credit note"
    ready = built(sessions, tmp_path)
    assert "Saldos a favor / pagos por aplicar: " in ready.body
    assert "<th" in ready.content.html
    assert "Saldos a favor</th>" in ready.content.html


def test_the_defaults_copied_as_a_sociedads_own_render_as_the_defaults_do(
    sessions, ledger, tmp_path
) -> None:
    paying(sessions)
    for language in ("es", "en"):
        with sessions() as session, session.begin():
            session.get_one(Customer, ("SM02", "1006210")).language = language
        before = built(sessions, tmp_path)
        defaults = message.default_template(language)
        own_template(
            sessions,
            language,
            subject=defaults.subject,
            text_body=defaults.text_body,
            html_body=defaults.html_body,
        )
        after = built(sessions, tmp_path)
        assert (after.subject, after.body) == (before.subject, before.body)
        assert after.content.html.strip() == before.content.html.strip()
        assert not any(mail_templates.check_all(*vars(defaults).values()).values())


@pytest.mark.parametrize(
    ("part", "source"),
    [
        ("subject", "Estado {{ nombre }}"),
        ("text_body", "Hola {{ cliente.__class__.__mro__ }}"),
        ("html_body", "<p>{{ saldos[9].saldo }}</p>"),
        ("text_body", "{{ 100 / (saldos|length - saldos|length) }}"),
        (
            "text_body",
            "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        ),
    ],
)
def test_a_stored_template_that_fails_fails_the_customer_with_its_reason(
    sessions, ledger, tmp_path, part: str, source: str
) -> None:
    """Any failure of a typed template with this customer's data, not only Jinja's own."""
    own_template(sessions, **{part: source})
    with pytest.raises(InvalidValue, match=r"la plantilla de la sociedad \(SM02, Español, "):
        built(sessions, tmp_path)


def test_a_stored_template_failing_with_the_customers_data_says_so(
    sessions, ledger, tmp_path
) -> None:
    own_template(sessions, text_body="{{ 100 / (saldos|length - saldos|length) }}")
    with pytest.raises(InvalidValue) as failed:
        built(sessions, tmp_path)
    assert str(failed.value) == (
        "la plantilla de la sociedad (SM02, Español, Cuerpo de texto) tiene un error: no se "
        "pudo armar con los datos de este cliente: division by zero; corrígela en "
        "Administración › Sociedades"
    )


def test_a_stored_template_that_fails_is_a_failed_row_and_the_run_goes_on(
    catalog, settings, server: MailServer
) -> None:
    with catalog() as session, session.begin():
        session.add(CompanyTemplate(company_code="SM02", language="es", subject="{{ nombre }}"))
    run_id = start_run(catalog, ["1000001", "1000003"])
    runner = worker.Worker(catalog, settings, transport=smtp_to(server.port), pacer=pacing.Pacer(0))
    work_until_idle(runner, run_id)
    with catalog() as session:
        items = runs.items(session, run_id)
    assert {item.status for item in items} == {"failed"}
    assert all("corrígela en Administración › Sociedades" in item.error for item in items)
    assert statement_mails(server) == []


def test_a_refused_copy_is_a_note_not_the_customers_outcome(
    catalog, settings, server: MailServer
) -> None:
    own_sender(catalog, cc="copia@bajio.example", bcc="archivo@bajio.example")
    server.faults.refuse["archivo@bajio.example"] = (
        "550 5.1.1 <archivo@bajio.example>: no such user"
    )
    run_id = start_run(catalog, ["1000001"])
    runner = worker.Worker(catalog, settings, transport=smtp_to(server.port), pacer=pacing.Pacer(0))
    work_until_idle(runner, run_id)
    with catalog() as session:
        [item] = runs.items(session, run_id)
    assert item.status == "sent"
    assert item.note == (
        "El servidor rechazó la copia de la sociedad: archivo@bajio.example "
        "(550 5.1.1 <archivo@bajio.example>: no such user)."
    )
    [received] = statement_mails(server)
    assert "copia@bajio.example" in received.recipients


def test_the_logos_content_id_does_not_name_the_server(sessions, ledger, tmp_path) -> None:
    (tmp_path / "logos").mkdir()
    (tmp_path / "logos" / "SM02.png").write_bytes(PNG)
    [logo] = [p for p in built(sessions, tmp_path).message.walk() if p["Content-ID"]]
    assert str(logo["Content-ID"]).endswith("@estado-de-cuenta>")
    assert socket.gethostname() not in str(logo["Content-ID"])
