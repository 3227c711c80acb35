"""Bounces that come back after the server took the message: each format the team wrote from
the RFCs and vendor documentation (tests/bounces/), read into the failed address and reason,
and matched to the customer it was sent to, whose row turns ⚠️ parcial or ❌ rebotado.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from lib import config
from lib.mail import bounces
from lib.models import utcnow
from lib.sending import addresses, runs
from lib.sending import log as runlog
from lib.sending.status import ItemStatus
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
    work,
)

FORMATS = Path(__file__).parent / "bounces"
PENA = "1006210"  # pagos@pena.example;cxp@pena.example


def report(name: str, address: str, message_id: str) -> bytes:
    raw = (FORMATS / name).read_bytes()
    return raw.replace(b"@@ADDRESS@@", address.encode()).replace(
        b"@@MESSAGE_ID@@", message_id.encode()
    )


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("postfix.eml", "5.1.1", "550 5.1.1 <cxp@pena.example>: Recipient address rejected"),
        ("exchange_online.eml", "5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound"),
        ("gmail.eml", "5.1.1", "550-5.1.1 The email account that you tried to reach"),
        ("qmail.eml", "5.1.1", ""),
    ],
)
def test_each_bounce_format_names_the_address_the_code_and_the_original(
    name: str, status: str, words: str
) -> None:
    (bounce,) = bounces.parse(report(name, "CXP@pena.example", "<m-1@bajio.example>"))

    assert (bounce.message_id, bounce.address, bounce.status) == (
        "<m-1@bajio.example>",
        "cxp@pena.example",
        status,
    )
    assert bounce.diagnostic.lower().startswith(words.lower())
    assert bounce.reason.lower().startswith((words or status).lower())


@pytest.mark.parametrize("name", ["delayed.eml", "autoreply.eml"])
def test_a_delay_notice_or_an_auto_reply_is_not_a_bounce(name: str) -> None:
    assert bounces.parse(report(name, "cxp@pena.example", "<m-1@bajio.example>")) == []


def sent_to_pena(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> tuple[int, str]:
    run_id = start_run(catalog, [PENA, "1004273"])
    work(catalog, settings, smtp_to(server.port))
    with catalog() as session:
        (item,) = [i for i in runs.items(session, run_id) if i.customer_no == PENA]
    assert item.message_id
    return run_id, item.message_id


def record(sessions: sessionmaker[Session], raw: bytes) -> list[addresses.Bounced | None]:
    with sessions() as session, session.begin():
        return [addresses.record_bounce(session, b, utcnow()) for b in bounces.parse(raw)]


def test_one_address_bouncing_later_turns_the_customer_partial_everywhere_it_shows(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id, message_id = sent_to_pena(catalog, settings, server)
    assert outcomes(catalog, run_id)[PENA] == (ItemStatus.SENT, "")

    (matched,) = record(catalog, report("postfix.eml", "cxp@pena.example", message_id))

    reason = (
        "cxp@pena.example: rebotó: 550 5.1.1 <cxp@pena.example>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert matched is not None
    assert (matched.run_id, matched.customer_no, matched.address) == (
        run_id,
        PENA,
        "cxp@pena.example",
    )
    assert outcomes(catalog, run_id)[PENA] == (ItemStatus.PARTIAL, reason)
    with catalog() as session:
        run = finished_run(catalog, run_id)
        assert runlog.text(session, run).splitlines()[0].endswith(f"Enviado: parcial: {reason}")
    # The same report read again changes nothing.
    assert record(catalog, report("postfix.eml", "cxp@pena.example", message_id)) == [None]


def test_every_address_bouncing_makes_the_customer_bounced_and_retried(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id, message_id = sent_to_pena(catalog, settings, server)

    record(catalog, report("gmail.eml", "pagos@pena.example", message_id))
    record(catalog, report("exchange_online.eml", "cxp@pena.example", message_id))

    status, reason = outcomes(catalog, run_id)[PENA]
    assert status == ItemStatus.BOUNCED
    assert ItemStatus(status).label == "❌ Rebotado"
    assert reason.startswith("pagos@pena.example: rebotó: 550-5.1.1 ")
    assert "; cxp@pena.example: rebotó: 550 5.1.10 RESOLVER.ADR.RecipientNotFound" in reason
    with catalog() as session, session.begin():
        again = runs.retry(session, run_id, username="ana", notify_email=ANALYST_EMAIL,
                           run_date=finished_run(catalog, run_id).run_date)  # fmt: skip
        assert [i.customer_no for i in runs.items(session, again.id)] == [PENA]


def test_a_bounce_that_matches_nothing_is_left_alone(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id, message_id = sent_to_pena(catalog, settings, server)

    assert record(catalog, report("postfix.eml", "cxp@pena.example", "<other@x.example>")) == [None]
    assert record(catalog, report("postfix.eml", "nadie@pena.example", message_id)) == [None]
    assert outcomes(catalog, run_id)[PENA] == (ItemStatus.SENT, "")
