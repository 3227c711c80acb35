"""SMTP over TLS against a real server on loopback: STARTTLS and TLS from the first byte, with
the certificate checked as on a real network (trusted here through SSL_CERT_FILE)."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from lib.mail import errors, smtp
from tests.mailserver import MailServer
from tests.microsoft import self_signed


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


def statement_email() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Cobranza <cobranza@bajio.example>"
    message["To"] = "pagos@pena.example"
    message["Subject"] = "Estado de cuenta"
    message.set_content("Adjunto su estado de cuenta.")
    return message


def smtp_client(port: int, security: str, sleeps: list[float], **options: object) -> smtp.Smtp:
    settings = smtp.SmtpOptions("127.0.0.1", port, security, "", "", timeout=5, **options)  # type: ignore[arg-type]
    return smtp.Smtp(settings, sleep=sleeps.append)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_trusted_server_gets_the_message_encrypted(
    security: str, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with MailServer(tls=security, certificate=certificate) as server:
        transport = smtp_client(server.port, security, [])
        transport.send(statement_email())
        transport.send(statement_email())
        transport.close()

        assert [r.recipients for r in server.received] == [["pagos@pena.example"]] * 2
        assert all(r.encrypted for r in server.received)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_an_untrusted_certificate_fails_at_once_with_a_clear_reason(
    security: str, certificate: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "otra").mkdir()
    other, _ = self_signed(tmp_path / "otra")
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    sleeps: list[float] = []
    with MailServer(tls=security, certificate=certificate) as server:
        transport = smtp_client(server.port, security, sleeps)
        with pytest.raises(errors.DeliveryError) as failure:
            transport.send(statement_email())

        assert failure.value.reason.startswith(
            "el certificado del servidor SMTP no es de confianza"
        )
        assert "SMTP_HOST" in failure.value.reason
        assert failure.value.unavailable  # the run waits for someone to fix it
        assert sleeps == []  # a certificate does not fix itself: no retries
        assert server.received == []


def test_a_server_without_starttls_is_refused_when_starttls_is_required() -> None:
    with MailServer() as server:
        with pytest.raises(errors.DeliveryError) as failure:
            smtp_client(server.port, "starttls", []).send(statement_email())

        assert "no ofrece STARTTLS" in failure.value.reason
        assert server.received == []
