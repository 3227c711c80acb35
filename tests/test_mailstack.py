"""The loopback mail servers of tests/mailstack.py do what the bounce reader's tests rely on,
checked with the standard library only: Dovecot's logins (password over implicit TLS, STARTTLS
and plain; XOAUTH2 with the identity provider's token) and mailbox, and Postfix's refusals,
deliveries and the RFC 3464 bounce it writes into that mailbox.
"""

from __future__ import annotations

import imaplib
import json
import urllib.parse
import urllib.request
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from lib.mail import bounces
from tests import mailstack
from tests.mailstack import ANALYST, PASSWORD, REFUSED, SENDER, STALE, USER
from tests.microsoft import CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def trusted(dovecot: mailstack.Dovecot, monkeypatch: pytest.MonkeyPatch) -> mailstack.Dovecot:
    """Clients with default TLS contexts trust the servers' certificate, as the app would."""
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.certificate))
    return dovecot


def message(to: str, subject: str = "Estado de cuenta") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = SENDER
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="envio.test")
    mail.set_content("Adjuntamos su estado de cuenta.\n")
    return mail


def fetch_all(client: imaplib.IMAP4) -> list[bytes]:
    """Every message of INBOX, as the bounce reader will fetch them."""
    client.select("INBOX", readonly=True)
    _, numbers = client.search(None, "ALL")
    found = []
    for number in numbers[0].split():
        _, data = client.fetch(number, "(RFC822)")
        found.append(data[0][1])
    return found


def token_from(dovecot: mailstack.Dovecot) -> str:
    """A client-credentials token, asked of the provider as msal would."""
    form = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "client_credentials",
        "scope": "https://outlook.office365.com/.default",
    }
    body = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(f"{dovecot.identity.authority}/token", body, timeout=10) as reply:
        return json.load(reply)["access_token"]


def xoauth2(token: str) -> bytes:
    return f"user={USER}\x01auth=Bearer {token}\x01\x01".encode()


def test_password_login_over_implicit_tls(trusted: mailstack.Dovecot) -> None:
    with imaplib.IMAP4_SSL("127.0.0.1", trusted.ssl_port, timeout=10) as client:
        assert client.login(USER, PASSWORD)[0] == "OK"
        assert client.select("INBOX")[0] == "OK"


def test_password_login_after_starttls(trusted: mailstack.Dovecot) -> None:
    with imaplib.IMAP4("127.0.0.1", trusted.port, timeout=10) as client:
        assert "STARTTLS" in client.capabilities
        client.starttls()
        assert client.login(USER, PASSWORD)[0] == "OK"


def test_password_login_in_plain_text_for_the_none_mode(dovecot: mailstack.Dovecot) -> None:
    with imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=10) as client:
        assert client.login(USER, PASSWORD)[0] == "OK"


def test_a_wrong_password_is_refused(dovecot: mailstack.Dovecot) -> None:
    with (
        imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=10) as client,
        pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
    ):
        client.login(USER, "not-" + PASSWORD)


def test_xoauth2_logs_in_with_a_token_of_the_identity_provider(trusted: mailstack.Dovecot) -> None:
    token = token_from(trusted)
    with imaplib.IMAP4_SSL("127.0.0.1", trusted.ssl_port, timeout=10) as client:
        assert client.authenticate("XOAUTH2", lambda _: xoauth2(token))[0] == "OK"
        assert client.select("INBOX")[0] == "OK"
    assert token in trusted.identity.tokens.introspected


def test_xoauth2_refuses_a_token_the_provider_never_issued(trusted: mailstack.Dovecot) -> None:
    with (
        imaplib.IMAP4_SSL("127.0.0.1", trusted.ssl_port, timeout=10) as client,
        pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
    ):
        client.authenticate("XOAUTH2", lambda _: xoauth2("forged-token"))


def test_a_message_delivered_to_the_maildir_is_fetched_over_imap(
    mailbox: mailstack.Dovecot,
) -> None:
    raw = message(SENDER, "Undelivered Mail Returned to Sender").as_bytes(policy=policy.SMTP)
    mailbox.deliver(raw)

    with mailbox.imap() as client:
        assert fetch_all(client) == [raw]
    assert mailbox.count() == 1


def test_postfix_refuses_refused_at_rcpt_and_delivers_to_the_other_customer(
    relay: mailstack.Postfix,
) -> None:
    mail = message("ok@clientes.test")
    refused = relay.send(SENDER, [REFUSED, "ok@clientes.test"], mail.as_bytes())

    assert refused == {REFUSED: (550, mailstack.REFUSED_REPLY.encode())}
    mailstack.wait_for(lambda: relay.delivered(), 5, "the catch-all's message", relay)
    (delivered,) = [message_from_bytes(raw, policy=policy.default) for raw in relay.delivered()]
    assert delivered["Delivered-To"] == "ok@clientes.test"
    assert delivered["Message-ID"] == mail["Message-ID"]


def test_postfix_delivers_the_analyst_copy_to_its_own_mailbox(relay: mailstack.Postfix) -> None:
    assert relay.send(SENDER, [ANALYST], message(ANALYST).as_bytes()) == {}

    mailstack.wait_for(lambda: relay.analyst_mail(), 5, "the analyst's message", relay)
    assert relay.delivered() == []
    assert relay.dovecot.count() == 0


def test_a_stale_address_bounces_into_the_mailbox_the_reader_reads(
    relay: mailstack.Postfix,
) -> None:
    mail = message(STALE)
    assert relay.send(SENDER, [STALE], mail.as_bytes()) == {}

    mailbox = relay.dovecot
    mailstack.wait_for(lambda: mailbox.count() == 1, 5, "Postfix's bounce", relay, mailbox)
    with mailbox.imap() as client:
        (raw,) = fetch_all(client)
    (bounce,) = bounces.parse(raw)
    assert bounce.address == STALE
    assert bounce.status.startswith("5.")
    assert bounce.message_id == mail["Message-ID"]
    assert message_from_bytes(raw, policy=policy.default).get_content_type() == "multipart/report"
