"""Mail transports: where a composed message goes, and how a refusal becomes a reason.

`Outbox` writes each message as a real `.eml` file (nothing leaves the machine); `Smtp` keeps
one connection across messages. Both raise `DeliveryError` with a Spanish reason that ends up
on the customer's row and in the log.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import requests

from lib import oauth
from lib.config import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30.0
ATTEMPTS = 3
BACKOFF_SECONDS = 5.0


class DeliveryError(Exception):
    """The message was not delivered; `uncertain` when it may have been (connection lost while
    the server was receiving it), so nobody sends it again without looking.

    `unavailable` when the server (or the outbox) took no message at all: unreachable, or
    refusing our connection, login or certificate. Nothing was handed over, and the next
    customer would fail the same way, so the worker waits for it instead of failing customers.
    """

    def __init__(self, reason: str, *, uncertain: bool = False, unavailable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.uncertain = uncertain
        self.unavailable = unavailable


class Transport(Protocol):
    def send(self, message: EmailMessage) -> str:
        """Deliver or raise `DeliveryError`; returns the server's acceptance, for the record."""
        ...

    def close(self) -> None: ...


class Outbox:
    """Each message as `<UTC time>_<Message-ID>.eml` in a folder, written whole or not at all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        ident = re.sub(r"[^A-Za-z0-9.@_-]", "", str(message.get("Message-ID", ""))) or "mensaje"
        path = self.directory / f"{stamp}_{ident}.eml"
        partial = path.with_name(f".{path.name}.part")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(message.as_bytes())
            os.replace(partial, path)
        except OSError as exc:
            with contextlib.suppress(OSError):  # nothing to clean up where nothing was written
                partial.unlink(missing_ok=True)
            raise DeliveryError(
                f"no se pudo escribir en la bandeja {self.directory}: {exc.strerror}",
                unavailable=True,
            ) from None
        return f"guardado en {path.name}"

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class SmtpOptions:
    host: str
    port: int
    security: str
    user: str
    password: str = field(repr=False)
    timeout: float = TIMEOUT_SECONDS
    attempts: int = ATTEMPTS
    backoff: float = BACKOFF_SECONDS
    # SMTP AUTH XOAUTH2 as `sender` with these tokens instead of user and password.
    tokens: oauth.Tokens | None = None
    sender: str = ""


class Smtp:
    """One connection reused across messages, reopened when the server dropped it.

    A 4xx reply or a connection failure before the message was handed over is retried with
    backoff a bounded number of times; a 5xx reply fails at once with the server's words, and
    so does a server certificate this machine does not trust (waiting does not fix it). What
    goes wrong before the message's own commands (connecting, greeting, STARTTLS, login) is the
    server's, not the customer's: `unavailable`.
    """

    def __init__(
        self, options: SmtpOptions, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.options = options
        self.sleep = sleep
        self._connection: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> str:
        for attempt in range(1, self.options.attempts + 1):
            try:
                return self._transaction(message)
            except _Retry as retry:
                if attempt == self.options.attempts:
                    raise DeliveryError(
                        f"{retry.reason} (tras {attempt} intentos)", unavailable=retry.unavailable
                    ) from None
                log.info("SMTP attempt %d failed, retrying: %s", attempt, retry.reason)
                self.sleep(self.options.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()

    def _transaction(self, message: EmailMessage) -> str:
        sender = parseaddr(str(message["From"]))[1]
        recipients = [address for _, address in getaddresses(message.get_all("To", []))]
        content = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        connection = self._connection_or_unavailable()
        try:
            _expect(connection.mail(sender), "remitente rechazado")
            refused = self._recipients(connection, recipients)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise _Retry(f"sin conexión con el servidor SMTP: {_describe(exc)}") from None
        except _Refused as refusal:
            raise self._refused(refusal.code, refusal.reason) from None
        try:
            code, reply = connection.data(content)
        except smtplib.SMTPDataError as exc:
            raise self._refused(exc.smtp_code, _reply_text(exc.smtp_code, exc.smtp_error)) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryError(
                "se perdió la conexión mientras el servidor recibía el mensaje; "
                f"no se sabe si llegó ({_describe(exc)})",
                uncertain=True,
            ) from None
        if code != 250:
            raise self._refused(code, f"mensaje rechazado: {_reply_text(code, reply)}")
        accepted = _reply_text(code, reply)
        if refused:
            return f"{accepted}; rechazados: {'; '.join(refused)}"
        return accepted

    def _connection_or_unavailable(self) -> smtplib.SMTP:
        try:
            return self._connect()
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise DeliveryError(
                "el certificado del servidor SMTP no es de confianza "
                f"({exc.verify_message}); revisa SMTP_HOST y SMTP_SECURITY",
                unavailable=True,
            ) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise _Retry(
                f"sin conexión con el servidor SMTP: {_describe(exc)}", unavailable=True
            ) from None
        except _Refused as refusal:
            raise self._refused(refusal.code, refusal.reason, unavailable=True) from None

    def _refused(self, code: int, reason: str, *, unavailable: bool = False) -> Exception:
        """A 4xx is worth another attempt; a 5xx is the answer. 421 means the server hangs up."""
        if code == 421:
            self._drop()
        else:
            self._reset()
        if code < 500:
            return _Retry(reason, unavailable=unavailable or code == 421)
        return DeliveryError(reason, unavailable=unavailable)

    def _recipients(self, connection: smtplib.SMTP, recipients: list[str]) -> list[str]:
        """Refused addresses; raises `_Refused` when none is accepted."""
        refused: list[str] = []
        worst: tuple[int, str] | None = None
        for address in recipients:
            code, reply = connection.rcpt(address)
            if code not in (250, 251):
                refused.append(f"{address} ({_reply_text(code, reply)})")
                worst = (code, _reply_text(code, reply)) if worst is None else worst
        if worst is not None and len(refused) == len(recipients):
            raise _Refused(worst[0], f"destinatario rechazado: {'; '.join(refused)}")
        return refused

    def _connect(self) -> smtplib.SMTP:
        if self._connection is None:
            connection = self._open()
            try:
                self._greet(connection)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _open(self) -> smtplib.SMTP:
        options = self.options
        try:
            if options.security == "ssl":
                return smtplib.SMTP_SSL(
                    options.host,
                    options.port,
                    timeout=options.timeout,
                    context=ssl.create_default_context(),
                )
            return smtplib.SMTP(options.host, options.port, timeout=options.timeout)
        except smtplib.SMTPConnectError as exc:
            raise _Refused(exc.smtp_code, _reply_text(exc.smtp_code, exc.smtp_error)) from None

    def _greet(self, connection: smtplib.SMTP) -> None:
        """EHLO, STARTTLS when configured, AUTH when there is a user; the password never shows
        up in a reason.
        """
        options = self.options
        try:
            connection.ehlo()
            if options.security == "starttls":
                connection.starttls(context=ssl.create_default_context())
                connection.ehlo()
            if options.tokens is not None:
                self._xoauth2(connection, options.tokens)
            elif options.user:
                connection.login(options.user, options.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise _Refused(
                exc.smtp_code,
                "el servidor SMTP rechazó el usuario o la contraseña "
                f"({_reply_text(exc.smtp_code, exc.smtp_error)})",
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise _Refused(
                550, "el servidor SMTP no ofrece STARTTLS; revisa SMTP_SECURITY"
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise _Refused(exc.smtp_code, _reply_text(exc.smtp_code, exc.smtp_error)) from None

    def _xoauth2(self, connection: smtplib.SMTP, tokens: oauth.Tokens) -> None:
        """AUTH XOAUTH2 as the sending mailbox; a refused token is renewed once."""
        for renewed in (False, True):
            try:
                token = tokens.refresh() if renewed else tokens.token()
            except oauth.TokenError as exc:
                raise _Refused(550 if exc.permanent else 451, exc.reason) from None
            try:
                connection.auth("XOAUTH2", _bearer(self.options.sender, token))
                return
            except smtplib.SMTPAuthenticationError as exc:
                if renewed:
                    raise _Refused(
                        exc.smtp_code,
                        "el servidor rechazó el token de acceso de Microsoft 365 "
                        f"({_reply_text(exc.smtp_code, exc.smtp_error)})",
                    ) from None
                log.info("XOAUTH2 token refused, getting a new one")

    def _reset(self) -> None:
        """End a refused transaction so the connection can carry the next message."""
        if self._connection is None:
            return
        try:
            self._connection.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class _Retry(Exception):
    def __init__(self, reason: str, *, unavailable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unavailable = unavailable


class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _bearer(user: str, token: str) -> Callable[[bytes | None], str]:
    """The XOAUTH2 initial response; an empty answer to the server's error challenge."""

    def respond(challenge: bytes | None = None) -> str:
        return "" if challenge is not None else f"user={user}\x01auth=Bearer {token}\x01\x01"

    return respond


def _expect(response: tuple[int, bytes], what: str) -> None:
    code, reply = response
    if code != 250:
        raise _Refused(code, f"{what}: {_reply_text(code, reply)}")


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}".strip()


def _describe(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class Pacer:
    """At most `per_minute` messages a minute (0: no limit), evenly spaced.

    Exchange Online accepts 30 a minute per mailbox; the clock and sleep are injectable so the
    pacing is tested without waiting.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if self._next is not None and self._next > now:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


RETRY_STATUSES = {429, 503, 504}
GRAPH_ATTEMPTS = 5


class Graph:
    """Microsoft Graph `POST /users/{sender}/sendMail`: the same message as JSON, the PDF as a
    file attachment. 429/503 wait as long as `Retry-After` says; a 401 renews the token once;
    any other refusal fails the customer with Graph's own message. No token, a token refused
    (401, 403) or a Graph that stays busy is `unavailable`; a lost connection is not, since the
    request may have arrived.
    """

    def __init__(
        self,
        base_url: str,
        sender: str,
        tokens: oauth.Tokens,
        *,
        attempts: int = GRAPH_ATTEMPTS,
        backoff: float = BACKOFF_SECONDS,
        timeout: float = TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/users/{quote(sender)}/sendMail"
        self.tokens = tokens
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.sleep = sleep
        self.session = requests.Session()

    def send(self, message: EmailMessage) -> str:
        payload = graph_payload(message)
        renewed = False
        for attempt in range(1, self.attempts + 1):
            response = self._post(payload, renew=renewed)
            if response.status_code == 202:
                return "202 Accepted (Microsoft Graph)"
            reason = f"Microsoft Graph {response.status_code}: {_graph_error(response)}"
            if response.status_code == 401 and not renewed:
                renewed = True
                continue
            if response.status_code not in RETRY_STATUSES:
                raise DeliveryError(reason, unavailable=response.status_code in (401, 403))
            if attempt == self.attempts:
                raise DeliveryError(f"{reason} (tras {attempt} intentos)", unavailable=True)
            self.sleep(_retry_after(response, self.backoff * 2 ** (attempt - 1)))
        raise DeliveryError("Microsoft Graph no aceptó el mensaje")

    def _post(self, payload: dict[str, Any], *, renew: bool) -> requests.Response:
        try:
            token = self.tokens.refresh() if renew else self.tokens.token()
        except oauth.TokenError as exc:
            raise DeliveryError(exc.reason, unavailable=True) from None
        try:
            return self.session.post(
                self.url,
                json=payload,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
        except requests.ConnectionError as exc:
            raise DeliveryError(f"sin conexión con Microsoft Graph: {_describe(exc)}") from None
        except requests.Timeout:
            raise DeliveryError(
                "Microsoft Graph no respondió a tiempo; no se sabe si el correo salió",
                uncertain=True,
            ) from None

    def close(self) -> None:
        self.session.close()


def graph_payload(message: EmailMessage) -> dict[str, Any]:
    """The `sendMail` body: subject, recipients, the HTML (or text) body, the attachments."""
    body = message.get_body(preferencelist=("html", "plain"))
    attachments = [
        {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": part.get_filename() or "adjunto",
            "contentType": part.get_content_type(),
            "contentBytes": base64.b64encode(part.get_payload(decode=True) or b"").decode("ascii"),
        }
        for part in message.iter_attachments()
    ]
    return {
        "message": {
            "subject": str(message["Subject"]),
            "body": {
                "contentType": "HTML" if body and body.get_content_subtype() == "html" else "Text",
                "content": body.get_content() if body else "",
            },
            "toRecipients": [
                {"emailAddress": {"address": address}}
                for _, address in getaddresses(message.get_all("To", []))
            ],
            "internetMessageId": str(message["Message-ID"]),
            "attachments": attachments,
        },
        "saveToSentItems": False,
    }


def _graph_error(response: requests.Response) -> str:
    try:
        error = response.json().get("error", {})
        return " ".join(str(error.get("message") or error.get("code") or "").split()) or (
            response.reason or "error"
        )
    except ValueError:
        return response.reason or "error"


def _retry_after(response: requests.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else default


def transport_for(settings: Settings) -> Transport:
    sender = parseaddr(settings.mail_from)[1]
    tokens = oauth.Tokens(settings.oauth) if settings.oauth else None
    if settings.mail_transport == "graph" and tokens is not None:
        return Graph(settings.graph_base_url, sender, tokens)
    if settings.mail_transport == "smtp":
        return Smtp(
            SmtpOptions(
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=settings.smtp_security,
                user=settings.smtp_user,
                password=settings.smtp_password,
                tokens=tokens if settings.smtp_auth == "xoauth2" else None,
                sender=sender,
            )
        )
    return Outbox(settings.outbox_dir)
