"""The bounce check, on its own mailbox double (the IMAP and Graph readers have their own tests
against real servers): each bounce recorded once, the bookmark, one reader per mailbox, and the
"Rebotes del envío núm. N" email to the analyst through a real SMTP server on loopback.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lib import config
from lib.mail import pacing
from lib.mail.mailbox import Fetched, MailboxError
from lib.models import AddressBounce, MailboxCheck, SendRun, utcnow
from lib.sending import bounce_check, runs, worker
from lib.sending.status import ItemStatus
from tests.mailserver import MailServer
from tests.test_bounces import PENA, report, sent_to_pena
from tests.test_sending import (  # noqa: F401 - fixtures too (catalog, server, settings)
    ANALYST_EMAIL,
    FakeClock,
    catalog,
    finished_run,
    outcomes,
    server,
    settings,
    smtp_to,
    start_run,
)

AUTOREPLY = b"From: pena@pena.example\r\nSubject: Fuera de la oficina\r\n\r\nRegreso el lunes.\r\n"


class ListMailbox:
    """A mailbox whose messages are a list; the bookmark is how many were read."""

    name = "test:cobranza@bajio.example"

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.asked: list[tuple[str, date | None]] = []
        self.broken = ""

    def messages(self, cursor: str, since: date | None) -> Iterator[Fetched]:
        self.asked.append((cursor, since))
        if self.broken:
            raise MailboxError(self.broken)
        for index in range(int(cursor or 0), len(self.raw)):
            yield Fetched(self.raw[index], str(index + 1))


@pytest.fixture
def mailbox() -> ListMailbox:
    return ListMailbox()


@pytest.fixture
def checking(settings: config.Settings) -> config.Settings:
    return replace(settings, bounces=config.BounceCheck(source="imap", minutes=5))


def checker(
    sessions: sessionmaker[Session],
    settings: config.Settings,
    mailbox: ListMailbox,
    server: MailServer,
    name: str = "worker-a",
) -> bounce_check.Checker:
    return bounce_check.Checker(
        sessions,
        settings,
        mailbox,
        transport=smtp_to(server.port),
        pacer=pacing.Pacer(0),
        name=name,
    )


def bounce_notices(server: MailServer) -> list:
    return [m for m in server.to(ANALYST_EMAIL) if m.message["Subject"].startswith("Rebotes")]


def test_a_bounce_in_the_mailbox_is_recorded_once_and_the_rest_left_alone(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    checking: config.Settings,
    server: MailServer,
    mailbox: ListMailbox,
) -> None:
    run_id, message_id = sent_to_pena(catalog, settings, server)
    mailbox.raw += [
        AUTOREPLY,
        report("postfix.eml", "cxp@pena.example", message_id),
        report("gmail.eml", "cxp@pena.example", "<ajeno@otro.example>"),
    ]
    found: list = []

    result = checker(catalog, checking, mailbox, server).check(force=True, on_bounce=found.append)

    assert result is not None
    assert (result.read, len(result.matched), result.unmatched) == (3, 1, 1)
    assert [(b.company_code, b.customer_no, b.address) for b in found] == [
        ("SM02", PENA, "cxp@pena.example")
    ]
    assert result.summary().startswith("rebotes: 1 registrados, 1 sin coincidencia (3 mensajes")
    assert outcomes(catalog, run_id)[PENA][0] == ItemStatus.PARTIAL
    assert finished_run(catalog, run_id).partial == 1
    with catalog() as session:
        (mark,) = session.scalars(select(AddressBounce))
        assert (mark.customer_no, mark.address, mark.run_id) == (PENA, "cxp@pena.example", run_id)
        assert mark.reason.startswith("550 5.1.1")
        assert session.get_one(MailboxCheck, mailbox.name).cursor == "3"

    again = checker(catalog, checking, mailbox, server).check(force=True)

    assert again is not None
    assert (again.read, again.matched, again.unmatched) == (0, [], 0)
    assert mailbox.asked[-1][0] == "3"


def test_the_first_check_reads_from_the_day_before_the_first_send(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    checking: config.Settings,
    server: MailServer,
    mailbox: ListMailbox,
) -> None:
    sent_to_pena(catalog, settings, server)
    with catalog() as session:
        first = session.scalar(select(SendRun.created_at))
    assert first is not None

    checker(catalog, checking, mailbox, server).check(force=True)

    assert mailbox.asked == [("", first.date() - timedelta(days=1))]


def test_a_bounce_after_the_log_reaches_the_analyst_once_with_the_updated_line(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    checking: config.Settings,
    server: MailServer,
    mailbox: ListMailbox,
) -> None:
    run_id, message_id = sent_to_pena(catalog, settings, server)
    assert finished_run(catalog, run_id).log_sent_at is not None
    mailbox.raw.append(report("postfix.eml", "cxp@pena.example", message_id))

    result = checker(catalog, checking, mailbox, server).check(force=True)

    assert result is not None
    assert result.notices == [run_id]
    (notice,) = bounce_notices(server)
    assert notice.message["Subject"] == f"Rebotes del envío núm. {run_id}"
    (attachment,) = notice.message.iter_attachments()
    lines = attachment.get_content().splitlines()
    assert len(lines) == 1  # only the customer that bounced, not the whole run
    assert lines[0].startswith(f"Sociedad: SM02 | NoCliente: {PENA} |")
    assert lines[0].endswith("Enviado: parcial: cxp@pena.example: rebotó: 550 5.1.1 "
                             "<cxp@pena.example>: Recipient address rejected: "
                             "User unknown in virtual mailbox table")  # fmt: skip
    assert lines[0] in notice.message.get_body(("plain",)).get_content()

    checker(catalog, checking, mailbox, server).check(force=True)

    assert len(bounce_notices(server)) == 1


def test_bounces_of_one_check_make_one_notice_per_run(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    checking: config.Settings,
    server: MailServer,
    mailbox: ListMailbox,
) -> None:
    run_id, message_id = sent_to_pena(catalog, settings, server)
    mailbox.raw += [
        report("postfix.eml", "cxp@pena.example", message_id),
        report("gmail.eml", "pagos@pena.example", message_id),
    ]

    checker(catalog, checking, mailbox, server).check(force=True)

    (notice,) = bounce_notices(server)
    (attachment,) = notice.message.iter_attachments()
    assert "Enviado: error: pagos@pena.example: rebotó" in attachment.get_content()
    assert outcomes(catalog, run_id)[PENA][0] == ItemStatus.BOUNCED
    run = finished_run(catalog, run_id)
    assert (run.bounced, run.partial, run.sent) == (1, 0, 1)
    with catalog() as session:  # Inicio's chart and table count it as Rebotado
        daily = runs.daily_outcomes(session, run.run_date)
    assert [(r.status, r.count) for r in daily if r.status == ItemStatus.BOUNCED] == [
        (ItemStatus.BOUNCED, 1)
    ]
    assert ItemStatus.BOUNCED.outcome == "Rebotado"


def test_a_notice_the_mail_server_does_not_take_goes_at_the_next_check(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    checking: config.Settings,
    mailbox: ListMailbox,
) -> None:
    with MailServer() as first:
        run_id, message_id = sent_to_pena(catalog, settings, first)
    mailbox.raw.append(report("postfix.eml", "cxp@pena.example", message_id))
    with MailServer() as down:
        down.faults.mail_reply = "421 4.3.2 Service not available"
        result = checker(catalog, checking, mailbox, down).check(force=True)
        assert result is not None
        assert result.notices == []
    with MailServer() as back:
        result = checker(catalog, checking, mailbox, back).check(force=True)
        assert result is not None
        assert result.notices == [run_id]
        assert len(bounce_notices(back)) == 1


def test_one_reader_at_a_time_and_only_when_due(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    checking: config.Settings,
    server: MailServer,
    mailbox: ListMailbox,
) -> None:
    first = checker(catalog, checking, mailbox, server, "worker-a")
    second = checker(catalog, checking, mailbox, server, "worker-b")
    with catalog() as session, session.begin():
        assert first._claim(session, force=False)
    assert second.check(force=True) is None  # worker-a holds it

    with catalog() as session, session.begin():
        first._release(session, "")
    assert second.check() is None  # not due for BOUNCE_CHECK_MINUTES
    assert second.check(force=True) is not None
    with catalog() as session:
        row = session.get_one(MailboxCheck, mailbox.name)
        assert row.claimed_by is None
        assert row.next_check_at is not None
        assert row.next_check_at - row.checked_at == timedelta(minutes=5)  # type: ignore[operator]


def test_a_mailbox_that_cannot_be_read_is_reported_and_tried_again_later(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    checking: config.Settings,
    server: MailServer,
    mailbox: ListMailbox,
) -> None:
    mailbox.broken = "el servidor IMAP 127.0.0.1:1 respondió: AUTHENTICATIONFAILED"

    result = checker(catalog, checking, mailbox, server).check(force=True)

    assert result is not None
    assert result.error == mailbox.broken
    with catalog() as session:
        row = session.get_one(MailboxCheck, mailbox.name)
        assert (row.error, row.claimed_by) == (mailbox.broken, None)
        assert row.next_check_at is not None
        assert row.next_check_at > utcnow()


def test_a_bounce_that_arrives_before_the_log_goes_out_is_told_by_the_log_alone(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    checking: config.Settings,
    server: MailServer,
    mailbox: ListMailbox,
) -> None:
    run_id, message_id = sent_to_pena(catalog, settings, server)
    with catalog() as session, session.begin():
        run = session.get_one(SendRun, run_id)
        run.log_sent_at = run.log_claimed_at = None  # the log still waits for the server
    mailbox.raw.append(report("postfix.eml", "cxp@pena.example", message_id))

    first = checker(catalog, checking, mailbox, server).check(force=True)
    with catalog() as session, session.begin():
        run = session.get_one(SendRun, run_id)
        run.log_sent_at = run.log_claimed_at = utcnow()  # its text has the bounce
    second = checker(catalog, checking, mailbox, server).check(force=True)

    assert first is not None
    assert len(first.matched) == 1
    assert first.notices == []
    assert second is not None
    assert second.notices == []
    assert bounce_notices(server) == []


def test_a_worker_reads_the_mailbox_while_it_works_when_the_check_is_due(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    checking: config.Settings,
    server: MailServer,
    mailbox: ListMailbox,
) -> None:
    clock = FakeClock()
    sender = worker.Worker(
        catalog, checking, transport=smtp_to(server.port), pacer=pacing.Pacer(0),
        mailbox=mailbox, clock=clock,
    )  # fmt: skip
    run_id = start_run(catalog, [PENA])
    sender.run(threading.Event(), until_idle=True, poll=0.01)
    assert len(mailbox.asked) == 1  # at once, as it started
    with catalog() as session:
        (item,) = runs.items(session, run_id)
    mailbox.raw.append(report("postfix.eml", "cxp@pena.example", str(item.message_id)))

    clock.seconds += worker.BOUNCE_TRY_SECONDS + 1
    sender.run(threading.Event(), until_idle=True, poll=0.01)
    assert len(mailbox.asked) == 1  # asked again, but BOUNCE_CHECK_MINUTES have not passed

    with catalog() as session, session.begin():
        session.get_one(MailboxCheck, mailbox.name).next_check_at = utcnow()
    sender.run(threading.Event(), until_idle=True, poll=0.01)
    assert len(mailbox.asked) == 1  # due, but this worker asked under BOUNCE_TRY_SECONDS ago

    clock.seconds += worker.BOUNCE_TRY_SECONDS + 1
    sender.run(threading.Event(), until_idle=True, poll=0.01)
    assert len(mailbox.asked) == 2
    assert outcomes(catalog, run_id)[PENA][0] == ItemStatus.PARTIAL
    assert len(bounce_notices(server)) == 1
