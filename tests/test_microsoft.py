"""Sending through Microsoft 365 without passwords: tokens from an OpenID provider on loopback
(msal), SMTP AUTH XOAUTH2 against aiosmtpd, and Graph `sendMail` against a loopback server.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from lib import config
from lib.mail import graph as graph_api
from lib.mail import oauth, probe, smtp, transports
from lib.sending import worker
from lib.sending.status import ItemStatus
from tests import test_sending
from tests.mailserver import MailServer
from tests.microsoft import (
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT,
    GraphServer,
    IdentityProvider,
    self_signed,
)
from tests.test_cli import run_cli
from tests.test_sending import ANALYST_EMAIL, Sleeps, outcomes, start_run, statement_mails, work

SENDER = "estados.cuenta@contoso.example"
# The send-run fixtures: SM02's catalog and settings in a temp folder.
catalog = test_sending.catalog
settings = test_sending.settings


@pytest.fixture
def identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityProvider]:
    certificate, key = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate))
    with IdentityProvider(certificate, key) as provider:
        yield provider


def credentials(provider: IdentityProvider, scope: str = config.SMTP_SCOPE) -> config.OAuth:
    return config.OAuth(TENANT, CLIENT_ID, CLIENT_SECRET, scope, provider.authority)


def waits_for_the_server(
    sessions: sessionmaker[Session],
    settings: config.Settings,
    transport: transports.Transport,
    run_id: int,
) -> str:
    """What a worker says after trying a run's first customer that the server will not take;
    the customer stays pending, to go out once the server does."""
    outcome = worker.Worker(sessions, settings, transport=transport).step(run_id)
    assert outcome is not None
    assert outcome.status == ItemStatus.PENDING
    assert outcome.reason.startswith(f"{worker.WAITING}: ")
    assert outcomes(sessions, run_id)[outcome.customer_no] == (ItemStatus.PENDING, outcome.reason)
    return outcome.reason.removeprefix(f"{worker.WAITING}: ")


def xoauth2_to(server: MailServer, tokens: oauth.Tokens) -> smtp.Smtp:
    options = smtp.SmtpOptions("127.0.0.1", server.port, "none", "", "", timeout=5,
                               tokens=tokens, sender=SENDER)  # fmt: skip
    return smtp.Smtp(options, sleep=Sleeps())


def test_xoauth2_sends_the_run_with_one_cached_token(
    catalog: sessionmaker[Session], settings: config.Settings, identity: IdentityProvider
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273", "1000001"])
    with MailServer(bearer_tokens={"token-1"}) as server:
        work(catalog, settings, xoauth2_to(server, oauth.Tokens(credentials(identity))), run_id)

    assert {status for status, _ in outcomes(catalog, run_id).values()} == {ItemStatus.SENT}
    assert len(statement_mails(server)) == 3
    assert server.handler.xoauth2_attempts == [(SENDER, "token-1")]
    assert identity.tokens.issued == ["token-1"]
    assert identity.tokens.forms[0]["scope"] == [config.SMTP_SCOPE]


def test_a_token_close_to_expiry_is_renewed_before_it_is_used(identity: IdentityProvider) -> None:
    identity.tokens.expires_in = 120  # inside msal's five-minute margin
    tokens = oauth.Tokens(credentials(identity))

    assert [tokens.token(), tokens.token()] == ["token-1", "token-2"]


def test_a_long_lived_token_comes_from_the_cache(identity: IdentityProvider) -> None:
    tokens = oauth.Tokens(credentials(identity))

    assert [tokens.token(), tokens.token(), tokens.token()] == ["token-1"] * 3
    assert tokens.refresh() == "token-2"


def test_a_refused_token_is_renewed_once_and_the_send_goes_on(
    catalog: sessionmaker[Session], settings: config.Settings, identity: IdentityProvider
) -> None:
    run_id = start_run(catalog, ["1006210"])
    with MailServer(bearer_tokens={"token-2"}) as server:
        work(catalog, settings, xoauth2_to(server, oauth.Tokens(credentials(identity))), run_id)

    assert outcomes(catalog, run_id)["1006210"] == (ItemStatus.SENT, "")
    assert [token for _, token in server.handler.xoauth2_attempts] == ["token-1", "token-2"]


def test_a_token_refused_again_pauses_the_run_with_a_clear_reason(
    catalog: sessionmaker[Session], settings: config.Settings, identity: IdentityProvider
) -> None:
    run_id = start_run(catalog, ["1006210"])
    with MailServer(bearer_tokens=set()) as server:
        transport = xoauth2_to(server, oauth.Tokens(credentials(identity)))
        reason = waits_for_the_server(catalog, settings, transport, run_id)

    assert reason == (
        "el servidor rechazó el token de acceso de Microsoft 365 "
        "(535 5.7.3 Authentication unsuccessful)"
    )
    assert server.received == []


def test_a_wrong_client_secret_pauses_with_the_provider_reason_never_the_secret(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    identity: IdentityProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    identity.tokens.refuse_client = True
    run_id = start_run(catalog, ["1006210"])
    with MailServer(bearer_tokens={"token-1"}) as server:
        transport = xoauth2_to(server, oauth.Tokens(credentials(identity)))
        reason = waits_for_the_server(catalog, settings, transport, run_id)

    assert reason.startswith("el proveedor de identidad no dio un token: invalid_client")
    assert CLIENT_SECRET not in reason
    assert CLIENT_SECRET not in caplog.text


def test_no_token_and_no_bearer_ever_reach_the_logs(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    identity: IdentityProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    run_id = start_run(catalog, ["1006210", "1004273"])
    with MailServer(bearer_tokens={"token-2"}) as server:
        work(catalog, settings, xoauth2_to(server, oauth.Tokens(credentials(identity))), run_id)

    assert "token-1" not in caplog.text
    assert "token-2" not in caplog.text
    assert CLIENT_SECRET not in caplog.text


@pytest.fixture
def graph(identity: IdentityProvider) -> Iterator[tuple[GraphServer, oauth.Tokens]]:
    with GraphServer() as server:
        yield server, oauth.Tokens(credentials(identity, config.GRAPH_SCOPE))


def graph_transport(
    graph: tuple[GraphServer, oauth.Tokens], sleeps: Sleeps | None = None
) -> graph_api.Graph:
    server, tokens = graph
    return graph_api.Graph(
        server.base_url, SENDER, tokens, sleep=sleeps if sleeps is not None else Sleeps()
    )


def test_graph_sendmail_carries_recipients_subject_body_and_the_pdf(
    catalog: sessionmaker[Session], settings: config.Settings, graph
) -> None:
    server, _ = graph
    run_id = start_run(catalog, ["1006210"])

    work(catalog, settings, graph_transport(graph), run_id)

    assert outcomes(catalog, run_id)["1006210"] == (ItemStatus.SENT, "")
    statement, log = server.calls
    assert statement.path == "/v1.0/users/estados.cuenta%40contoso.example/sendMail"
    assert statement.authorization == "Bearer token-1"
    message = statement.payload["message"]
    assert [r["emailAddress"]["address"] for r in message["toRecipients"]] == [
        "pagos@pena.example",
        "cxp@pena.example",
    ]
    assert "Estado de cuenta" in message["subject"]
    assert message["body"]["contentType"] == "HTML"
    assert "PEÑA &amp; HIJOS &lt;SA&gt; DE CV" in message["body"]["content"]
    (attachment,) = message["attachments"]
    assert attachment["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert attachment["name"] == "1006210_20261129.pdf"
    assert attachment["contentType"] == "application/pdf"
    assert base64.b64decode(attachment["contentBytes"]).startswith(b"%PDF-")
    assert statement.payload["saveToSentItems"] is False
    assert log.payload["message"]["toRecipients"][0]["emailAddress"]["address"] == ANALYST_EMAIL
    assert log.payload["message"]["attachments"][0]["name"] == "LogEnvioMasivo_20261129.txt"


def test_graph_429_waits_as_long_as_retry_after_says(
    catalog: sessionmaker[Session], settings: config.Settings, graph
) -> None:
    server, _ = graph
    busy = {"error": {"code": "ApplicationThrottled", "message": "Too many requests"}}
    server.replies.queue = [(429, {"Retry-After": "7"}, busy), (503, {"Retry-After": "2"}, {})]
    run_id = start_run(catalog, ["1006210"])
    sleeps = Sleeps()

    work(catalog, settings, graph_transport(graph, sleeps), run_id)

    assert outcomes(catalog, run_id)["1006210"] == (ItemStatus.SENT, "")
    assert sleeps == [7.0, 2.0]
    assert len(server.calls) == 4  # three tries of the statement, then the log


def test_graph_400_fails_the_customer_with_graphs_message(
    catalog: sessionmaker[Session], settings: config.Settings, graph
) -> None:
    server, _ = graph
    error = {"error": {"code": "ErrorInvalidRecipients",
                       "message": "At least one recipient is not valid."}}  # fmt: skip
    server.replies.queue = [(400, {}, error)]
    run_id = start_run(catalog, ["1006210", "1004273"])

    work(catalog, settings, graph_transport(graph), run_id)

    assert outcomes(catalog, run_id) == {
        "1006210": (ItemStatus.FAILED, "Microsoft Graph 400: At least one recipient is not valid."),
        "1004273": (ItemStatus.SENT, ""),
    }


def test_graph_401_renews_the_token_once(
    catalog: sessionmaker[Session], settings: config.Settings, graph
) -> None:
    server, _ = graph
    server.replies.accepted_tokens = {"token-2"}
    run_id = start_run(catalog, ["1006210"])

    work(catalog, settings, graph_transport(graph), run_id)

    assert outcomes(catalog, run_id)["1006210"] == (ItemStatus.SENT, "")
    assert [call.authorization for call in server.calls[:2]] == ["Bearer token-1", "Bearer token-2"]


def test_graph_keeps_refusing_the_token_then_the_run_waits(
    catalog: sessionmaker[Session], settings: config.Settings, graph
) -> None:
    server, _ = graph
    server.replies.accepted_tokens = set()
    run_id = start_run(catalog, ["1006210"])

    reason = waits_for_the_server(catalog, settings, graph_transport(graph), run_id)

    assert reason == "Microsoft Graph 401: Access token has expired."


def test_settings_demand_the_oauth_client_for_xoauth2_and_graph(tmp_path: Path) -> None:
    with pytest.raises(config.SettingsError, match="OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET"):
        config.load_settings(tmp_path / "none.toml", {"MAIL_TRANSPORT": "smtp",
                             "SMTP_AUTH": "xoauth2", "OAUTH_TENANT_ID": "t"})  # fmt: skip
    graph = config.load_settings(tmp_path / "none.toml", {"MAIL_TRANSPORT": "graph",
                                 "OAUTH_TENANT_ID": "t", "OAUTH_CLIENT_ID": "c",
                                 "OAUTH_CLIENT_SECRET": "s"})  # fmt: skip
    assert graph.oauth is not None
    assert (graph.oauth.scope, graph.oauth.authority) == (
        "https://graph.microsoft.com/.default",
        "https://login.microsoftonline.com/t",
    )
    assert "'s'" not in repr(graph)


def test_mail_test_sends_one_message_and_prints_the_reply(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, identity: IdentityProvider
) -> None:
    with MailServer(bearer_tokens={"token-1"}) as server:
        for name, value in {"MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1",
                            "SMTP_PORT": str(server.port), "SMTP_SECURITY": "none",
                            "SMTP_AUTH": "xoauth2", "OAUTH_TENANT_ID": TENANT,
                            "OAUTH_CLIENT_ID": CLIENT_ID, "OAUTH_CLIENT_SECRET": CLIENT_SECRET,
                            "OAUTH_AUTHORITY": identity.authority,
                            "MAIL_FROM": f"Cobranza <{SENDER}>"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)

        code, out, err = run_cli("mail-test", "--to", "yo@contoso.example")

        assert (code, err) == (0, "")
        assert out.startswith("prueba enviada a yo@contoso.example con smtp: 250 ")
        (received,) = server.received
        assert received.recipients == ["yo@contoso.example"]
        assert received.message["Subject"] == "Prueba de envío: Envío masivo de estados de cuenta"


def test_mail_test_says_why_it_failed(app_env: dict[str, str], monkeypatch) -> None:
    with MailServer() as server:
        server.faults.refuse["yo@contoso.example"] = "550 5.1.1 Buzón inexistente"
        smtp = {"MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(server.port), "SMTP_SECURITY": "none"}  # fmt: skip
        for name, value in smtp.items():
            monkeypatch.setenv(name, value)

        code, _, err = run_cli("mail-test", "--to", "yo@contoso.example")

    assert code == 1
    assert err == (
        "error: no se envió la prueba: destinatario rechazado: "
        "yo@contoso.example: 550 5.1.1 Buzón inexistente\n"
    )


def test_the_test_message_is_plain_and_addressed() -> None:
    message = probe.test_message("a@b.mx", mail_from="X <x@b.mx>", transport="graph")
    assert (message["To"], message["From"]) == ("a@b.mx", "X <x@b.mx>")
    assert "'graph'" in message.get_content()
