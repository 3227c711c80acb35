"""The bounce reader through Microsoft Graph (`BOUNCE_CHECK=graph`), against the loopback
Microsoft stand-in: the sender mailbox's `/messages` by arrival, each read as MIME; Exchange
Online's non-delivery report of a statement sent through Graph turns its customer ⚠️ parcial.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from lib import config
from lib.mail import graph_inbox, oauth, pacing
from lib.mail.mailbox import MailboxError
from lib.sending import bounce_check, runs
from lib.sending.status import ItemStatus
from tests import test_microsoft, test_sending
from tests.microsoft import GraphServer, IdentityProvider, StoredMessage
from tests.test_bounces import PENA, report
from tests.test_microsoft import SENDER, credentials, graph_transport
from tests.test_sending import Sleeps, outcomes, start_run, work

catalog = test_sending.catalog
settings = test_sending.settings
identity = test_microsoft.identity


@pytest.fixture
def graph(identity: IdentityProvider) -> Iterator[tuple[GraphServer, oauth.Tokens]]:
    with GraphServer() as server:
        yield server, oauth.Tokens(credentials(identity, config.GRAPH_SCOPE))


def inbox(graph: tuple[GraphServer, oauth.Tokens], sleeps: Sleeps | None = None):
    server, tokens = graph
    return graph_inbox.GraphInbox(
        server.base_url, SENDER, tokens, sleep=sleeps if sleeps is not None else Sleeps()
    )


def stored(count: int) -> list[StoredMessage]:
    """`count` messages, the first two arriving at the same instant."""
    times = ["2026-12-02T10:00:00Z"] * 2 + [f"2026-12-02T10:0{n}:00Z" for n in range(2, count)]
    return [
        StoredMessage(f"AAMk-{n}", times[n], f"Subject: aviso {n}\r\n\r\nhola\r\n".encode())
        for n in range(count)
    ]


def test_graph_lists_the_mailbox_by_arrival_in_pages_and_keeps_a_bookmark(
    graph, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = graph
    server.stored = stored(5)
    reader = inbox(graph)
    monkeypatch.setattr(graph_inbox, "PAGE_SIZE", 2)

    first = list(reader.messages("", None))

    assert [f.raw.split(b"\r\n")[0] for f in first] == [
        f"Subject: aviso {n}".encode() for n in range(5)
    ]
    assert sum("/$value" not in path for path in server.reads) == 3  # three pages of two
    assert first[-1].cursor == "2026-12-02T10:04:00Z|AAMk-4"
    server.stored.append(StoredMessage("AAMk-9", "2026-12-02T10:09:00Z", b"Subject: nuevo\r\n\r\n"))

    again = list(reader.messages(first[-1].cursor, None))

    assert [f.raw.split(b"\r\n")[0] for f in again] == [b"Subject: nuevo"]
    assert "receivedDateTime+ge+2026-12-02T10%3A04%3A00Z" in server.reads[-2]


def test_messages_that_arrived_at_the_same_instant_are_each_read_once(graph) -> None:
    server, _ = graph
    server.stored = stored(2)  # both at 10:00:00
    reader = inbox(graph)
    (first, second) = reader.messages("", None)
    assert second.cursor == "2026-12-02T10:00:00Z|AAMk-0 AAMk-1"

    (after_first,) = reader.messages(first.cursor, None)
    assert after_first.raw.startswith(b"Subject: aviso 1")
    assert list(reader.messages(second.cursor, None)) == []


def test_graph_busy_is_waited_for_as_retry_after_says(graph) -> None:
    server, _ = graph
    server.stored = stored(1)
    server.get_replies = [(429, {"Retry-After": "7"}, {"error": {"code": "TooManyRequests"}})]
    sleeps = Sleeps()

    assert len(list(inbox(graph, sleeps).messages("", None))) == 1
    assert sleeps == [7.0]


def test_a_mailbox_graph_will_not_show_is_a_reason_not_a_traceback(graph) -> None:
    server, _ = graph
    denied = {"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}}
    server.get_replies = [(403, {}, denied)]

    with pytest.raises(MailboxError, match="Microsoft Graph 403: Access is denied"):
        list(inbox(graph).messages("", None))


def test_an_exchange_online_ndr_read_through_graph_turns_the_customer_partial(
    catalog: sessionmaker[Session], settings: config.Settings, graph
) -> None:
    server, _ = graph
    run_id = start_run(catalog, [PENA])
    work(catalog, settings, graph_transport(graph), run_id)
    with catalog() as session:
        (item,) = runs.items(session, run_id)
    ndr = report("exchange_online.eml", "cxp@pena.example", str(item.message_id))
    # Received after the send, whatever today is: the check reads from the sends it watches.
    received = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    server.stored = [StoredMessage("AAMk-ndr", received, ndr)]
    checking = replace(settings, bounces=config.BounceCheck(source="graph"))
    checker = bounce_check.Checker(catalog, checking, inbox(graph),
                                   transport=graph_transport(graph), pacer=pacing.Pacer(0),
                                   name="worker-graph")  # fmt: skip

    result = checker.check(force=True)

    assert result is not None
    assert [(b.customer_no, b.address) for b in result.matched] == [(PENA, "cxp@pena.example")]
    status, reason = outcomes(catalog, run_id)[PENA]
    assert status == ItemStatus.PARTIAL
    assert reason.startswith("cxp@pena.example: rebotó: 550 5.1.10 RESOLVER.ADR.RecipientNotFound")
    assert [c.path for c in server.calls][-1].endswith("/sendMail")  # the notice went by Graph
    assert server.calls[-1].payload["message"]["subject"] == f"Rebotes del envío núm. {run_id}"


def test_bounce_check_graph_reads_the_mail_from_mailbox_with_the_graph_scope(
    tmp_path, identity: IdentityProvider
) -> None:
    settings = config.load_settings(tmp_path / "none.toml", {
        "DATA_DIR": str(tmp_path), "MAIL_TRANSPORT": "smtp", "BOUNCE_CHECK": "graph",
        "MAIL_FROM": f"Cobranza <{SENDER}>", "OAUTH_TENANT_ID": "t", "OAUTH_CLIENT_ID": "c",
        "OAUTH_CLIENT_SECRET": "s",
    })  # fmt: skip

    reader = bounce_check.mailbox_for(settings)

    assert isinstance(reader, graph_inbox.GraphInbox)
    assert reader.name == f"graph:{SENDER}"
    assert reader.tokens.settings.scope == config.GRAPH_SCOPE
