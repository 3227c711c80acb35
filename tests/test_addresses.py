"""Per-address outcomes against a real SMTP server: a customer is ✅ only when every address
took the email, ⚠️ parcial when some did, ❌ when none did, and each failed address is named
with the server's words wherever the result shows.
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from lib import config
from lib.mail import outbox
from lib.models import Recipient, SendAddress
from lib.sending import addresses, runs
from lib.sending import log as runlog
from lib.sending.status import AddressOutcome, ItemStatus
from lib.ui import items_table
from tests.mailserver import MailServer
from tests.test_sending import (  # noqa: F401 - fixtures too (catalog, server, settings)
    ANALYST_EMAIL,
    catalog,
    finished_run,
    outcomes,
    server,
    settings,
    smtp_to,
    start_run,
    statement_mails,
    work,
)

PENA = "1006210"  # pagos@pena.example;cxp@pena.example
USER_UNKNOWN = "550 5.1.1 <cxp@pena.example>: Recipient address rejected: User unknown"


def recorded(sessions: sessionmaker[Session], run_id: int) -> list[tuple[str, str, str]]:
    with sessions() as session:
        (item,) = [i for i in runs.items(session, run_id) if i.customer_no == PENA]
        rows = session.execute(
            select(SendAddress.address, SendAddress.outcome, SendAddress.reason)
            .where(SendAddress.item_id == item.id)
            .order_by(SendAddress.id)
        )
        return [tuple(row) for row in rows]


def test_one_address_refused_of_two_is_partial_naming_the_address_and_the_servers_words(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.refuse["cxp@pena.example"] = USER_UNKNOWN
    run_id = start_run(catalog, [PENA, "1004273"])

    work(catalog, settings, smtp_to(server.port))

    reason = f"cxp@pena.example: rechazado: {USER_UNKNOWN}"
    assert outcomes(catalog, run_id) == {
        PENA: (ItemStatus.PARTIAL, reason),
        "1004273": (ItemStatus.SENT, ""),
    }
    assert recorded(catalog, run_id) == [
        ("pagos@pena.example", AddressOutcome.ACCEPTED, ""),
        ("cxp@pena.example", AddressOutcome.REFUSED, USER_UNKNOWN),
    ]
    delivered = [m.recipients for m in statement_mails(server)]
    assert delivered == [["pagos@pena.example"], ["plumbers@plumbers.example"]]
    run = finished_run(catalog, run_id)
    assert (run.sent, run.partial, run.failed) == (1, 1, 0)
    (log_mail,) = server.to(ANALYST_EMAIL)
    lines = next(log_mail.message.iter_attachments()).get_content().splitlines()
    assert lines[0].endswith(
        "CorreoDestino: pagos@pena.example;cxp@pena.example | Enviado: parcial: " + reason
    )
    assert lines[1].endswith("Enviado: ok")
    assert runlog.summary(run) == ("resumen: 2 clientes, enviados 1, con error 0, parciales 1")


def test_the_run_view_shows_partial_with_when_it_was_sent_and_the_refused_address(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.refuse["cxp@pena.example"] = USER_UNKNOWN
    run_id = start_run(catalog, [PENA])
    work(catalog, settings, smtp_to(server.port))

    with catalog() as session:
        table = items_table(runs.items(session, run_id))

    assert table.loc[0, "Estado"] == "⚠️ Parcial"
    assert table.loc[0, "Mensaje"].startswith(f"cxp@pena.example: rechazado: {USER_UNKNOWN} · ")
    assert table.loc[0, "Mensaje"].split(" · ")[1].startswith("Enviado ")


def test_every_address_refused_fails_the_customer_with_each_address_named(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.refuse["pagos@pena.example"] = "550 5.1.1 No such user"
    server.faults.refuse["cxp@pena.example"] = "553 5.1.3 Bad address syntax"
    run_id = start_run(catalog, [PENA])

    work(catalog, settings, smtp_to(server.port))

    assert outcomes(catalog, run_id)[PENA] == (
        ItemStatus.FAILED,
        "pagos@pena.example: rechazado: 550 5.1.1 No such user; "
        "cxp@pena.example: rechazado: 553 5.1.3 Bad address syntax",
    )
    assert [outcome for _, outcome, _ in recorded(catalog, run_id)] == [AddressOutcome.REFUSED] * 2
    assert statement_mails(server) == []


def test_an_address_greylisted_once_is_retried_and_nobody_gets_the_email_twice(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.greylist["cxp@pena.example"] = 1
    run_id = start_run(catalog, [PENA])

    work(catalog, settings, smtp_to(server.port))

    assert outcomes(catalog, run_id)[PENA] == (ItemStatus.SENT, "")
    assert [m.recipients for m in statement_mails(server)] == [
        ["pagos@pena.example", "cxp@pena.example"]
    ]
    assert [outcome for _, outcome, _ in recorded(catalog, run_id)] == [AddressOutcome.ACCEPTED] * 2


def test_an_address_refused_for_now_on_every_attempt_is_partial_after_the_last_one(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.greylist["cxp@pena.example"] = 10
    run_id = start_run(catalog, [PENA])

    work(catalog, settings, smtp_to(server.port, attempts=3))

    assert outcomes(catalog, run_id)[PENA] == (
        ItemStatus.PARTIAL,
        "cxp@pena.example: rechazado: 450 4.2.0 Greylisted, try again later",
    )
    assert server.faults.greylist["cxp@pena.example"] == 7  # three attempts, then given up
    assert [m.recipients for m in statement_mails(server)] == [["pagos@pena.example"]]


def test_a_transport_that_takes_messages_whole_records_every_address_accepted(
    catalog: sessionmaker[Session], settings: config.Settings
) -> None:
    run_id = start_run(catalog, [PENA])

    work(catalog, settings, outbox.Outbox(settings.data_dir / "outbox"))

    assert outcomes(catalog, run_id)[PENA] == (ItemStatus.SENT, "")
    assert recorded(catalog, run_id) == [
        ("pagos@pena.example", AddressOutcome.ACCEPTED, ""),
        ("cxp@pena.example", AddressOutcome.ACCEPTED, ""),
    ]


def test_a_partial_customer_is_not_sent_again_by_reintentar_fallidos(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.refuse["cxp@pena.example"] = USER_UNKNOWN
    server.faults.refuse["plumbers@plumbers.example"] = "550 5.1.1 No such user"
    run_id = start_run(catalog, [PENA, "1004273"])
    work(catalog, settings, smtp_to(server.port))

    run_date = finished_run(catalog, run_id).run_date
    with catalog() as session, session.begin():
        again = runs.retry(
            session, run_id, username="ana", notify_email=ANALYST_EMAIL, run_date=run_date
        )
        keys = [i.customer_no for i in runs.items(session, again.id)]

    assert keys == ["1004273"]


def test_answers_make_the_customers_status_and_reason() -> None:
    both = addresses.answered(["a@x.mx", "b@x.mx"], {"b@x.mx": "550 no"})
    assert addresses.status(both) == ItemStatus.PARTIAL
    assert addresses.reason(both) == "b@x.mx: rechazado: 550 no"
    assert addresses.status(addresses.answered(["a@x.mx"], {})) == ItemStatus.SENT
    none = addresses.answered(["a@x.mx"], {"a@x.mx": "550 no"})
    assert addresses.status(none) == ItemStatus.FAILED


def readdress(sessions: sessionmaker[Session], number: str, emails: str) -> None:
    """A catalog entry as an older version or a direct load may have left it."""
    with sessions() as session, session.begin():
        session.execute(
            update(Recipient)
            .where(Recipient.company_code == "SM02", Recipient.customer_no == number)
            .values(emails=emails)
        )


def test_an_internationalised_domain_goes_out_in_idna_and_the_next_customer_is_unharmed(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    readdress(catalog, PENA, "pagos@peña.example;cxp@pena.example")
    server.faults.refuse["pagos@xn--pea-8ma.example"] = "550 5.1.1 User unknown"
    run_id = start_run(catalog, [PENA, "1004273"])

    work(catalog, settings, smtp_to(server.port))

    assert outcomes(catalog, run_id) == {
        PENA: (ItemStatus.PARTIAL, "pagos@peña.example: rechazado: 550 5.1.1 User unknown"),
        "1004273": (ItemStatus.SENT, ""),
    }
    pena, plumbers = statement_mails(server)
    assert pena.recipients == ["cxp@pena.example"]
    assert pena.message["To"] == "pagos@xn--pea-8ma.example, cxp@pena.example"
    assert plumbers.recipients == ["plumbers@plumbers.example"]


def test_an_address_no_server_takes_fails_its_customer_alone_with_the_reason(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    readdress(catalog, PENA, "josé@pena.example;cxp@pena.example")
    run_id = start_run(catalog, [PENA, "1004273"])

    work(catalog, settings, smtp_to(server.port))

    status, reason = outcomes(catalog, run_id)[PENA]
    assert status == ItemStatus.FAILED
    assert reason == (
        "el correo 'josé@pena.example' tiene caracteres que los servidores de correo no "
        "aceptan; corrígelo en el catálogo"
    )
    assert outcomes(catalog, run_id)["1004273"] == (ItemStatus.SENT, "")
    assert [m.recipients for m in statement_mails(server)] == [["plumbers@plumbers.example"]]


def test_a_transaction_stopped_half_way_leaves_no_session_for_the_next_message(
    server: MailServer,
) -> None:
    transport = smtp_to(server.port)
    broken = EmailMessage()
    broken["From"], broken["Subject"] = "cobranza@bajio.example", "uno"
    broken["To"] = "nadie@pena.example"
    broken.set_content("x")
    original = transport._recipients

    def fail_after_mail(*args: object, **kwargs: object) -> dict[str, str]:
        raise UnicodeEncodeError("ascii", "é", 0, 1, "not ascii")

    transport._recipients = fail_after_mail  # type: ignore[method-assign]
    with pytest.raises(UnicodeEncodeError):
        transport.send(broken)
    transport._recipients = original  # type: ignore[method-assign]
    fine = EmailMessage()
    fine["From"], fine["Subject"], fine["To"] = "cobranza@bajio.example", "dos", "si@pena.example"
    fine.set_content("y")

    receipt = transport.send(fine)

    assert receipt.reply.startswith("250")
    assert [m.recipients for m in server.received] == [["si@pena.example"]]
