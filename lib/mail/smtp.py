"""SMTP: one connection kept across messages, every refusal turned into a reason.

What goes wrong before the message's own commands (connecting, greeting, STARTTLS, login) or at
MAIL FROM is the server's, not the customer's, and so is a server that keeps answering 4xx:
`unavailable`, and the worker waits for it. Only what happens after the server said 354 to DATA
can have handed the message over: a connection lost then is `uncertain`.

The server answers RCPT per address: the message goes to those it accepts, and the receipt
names the ones it refused with its words. A 4xx for an address (greylisting, "try later") is
worth another attempt of the whole transaction, before anything is handed over; what is still
refused on the last attempt is reported as refused.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr

from lib.mail import envelope, errors, oauth
from lib.mail.receipt import Receipt

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30.0
ATTEMPTS = 3
BACKOFF_SECONDS = 5.0
LEADING_DOT_RE = re.compile(rb"(?m)^\.")


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
    so does a server certificate this machine does not trust (waiting does not fix it).
    """

    def __init__(
        self, options: SmtpOptions, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.options = options
        self.sleep = sleep
        self._connection: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> Receipt:
        for attempt in range(1, self.options.attempts + 1):
            try:
                return self._transaction(message, last=attempt == self.options.attempts)
            except _Retry as retry:
                if attempt == self.options.attempts:
                    raise errors.DeliveryError(
                        f"{retry.reason} (tras {attempt} intentos)",
                        unavailable=retry.unavailable,
                        refused=retry.refused,
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

    def _transaction(self, message: EmailMessage, *, last: bool) -> Receipt:
        # The envelope's sender is the configured mailbox, whose bounces the app reads, even
        # when a sociedad's own address is the message's From.
        sender = self.options.sender or parseaddr(str(message["From"]))[1]
        recipients = envelope.recipients(message)
        wire = envelope.without_bcc(message)
        content = wire.as_bytes(policy=wire.policy.clone(linesep="\r\n"))
        connection = self._connection_or_unavailable()
        try:
            return self._exchange(connection, sender, recipients, content, last=last)
        except (_Retry, errors.DeliveryError):
            raise
        except BaseException:
            # Whatever else stopped us half-way (after MAIL FROM), the session must not carry
            # the next customer's message ("503 nested MAIL command").
            self._drop()
            raise

    def _exchange(
        self,
        connection: smtplib.SMTP,
        sender: str,
        recipients: list[str],
        content: bytes,
        *,
        last: bool,
    ) -> Receipt:
        self._sender(connection, sender)
        try:
            refused = self._recipients(connection, recipients, last=last)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise _Retry(f"sin conexión con el servidor SMTP: {errors.describe(exc)}") from None
        except _Refused as refusal:
            raise self._refused(refusal.code, refusal.reason, refused=refusal.refused) from None
        return Receipt(self._data(connection, content), refused)

    def _sender(self, connection: smtplib.SMTP, sender: str) -> None:
        """MAIL FROM names no customer: whatever goes wrong there goes wrong for every one of
        them (a server that resets each session, or is busy for everybody), so it is
        `unavailable` and the run waits instead of failing customers.
        """
        try:
            code, reply = connection.mail(sender)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise _Retry(
                f"sin conexión con el servidor SMTP: {errors.describe(exc)}", unavailable=True
            ) from None
        if code != 250:
            raise self._refused(
                code, f"remitente rechazado: {_reply_text(code, reply)}", unavailable=True
            )

    def _data(self, connection: smtplib.SMTP, content: bytes) -> str:
        """DATA in its two steps, which smtplib's `data()` runs as one: until the server says
        354 nothing has been handed over and a lost connection is retried; after it, the
        message may have arrived.
        """
        try:
            code, reply = connection.docmd("data")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise _Retry(
                f"sin conexión con el servidor SMTP antes de entregar el mensaje: "
                f"{errors.describe(exc)}"
            ) from None
        if code != 354:
            raise self._refused(code, f"mensaje rechazado: {_reply_text(code, reply)}")
        try:
            connection.send(_dot_stuffed(content))
            code, reply = connection.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise errors.DeliveryError(
                "se perdió la conexión mientras el servidor recibía el mensaje; "
                f"no se sabe si llegó ({errors.describe(exc)})",
                uncertain=True,
            ) from None
        if code != 250:
            raise self._refused(code, f"mensaje rechazado: {_reply_text(code, reply)}")
        return _reply_text(code, reply)

    def _connection_or_unavailable(self) -> smtplib.SMTP:
        try:
            return self._connect()
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise errors.DeliveryError(
                "el certificado del servidor SMTP no es de confianza "
                f"({exc.verify_message}); revisa SMTP_HOST y SMTP_SECURITY",
                unavailable=True,
            ) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise _Retry(
                f"sin conexión con el servidor SMTP: {errors.describe(exc)}", unavailable=True
            ) from None
        except _Refused as refusal:
            raise self._refused(refusal.code, refusal.reason, unavailable=True) from None

    def _refused(
        self,
        code: int,
        reason: str,
        *,
        unavailable: bool = False,
        refused: dict[str, str] | None = None,
    ) -> Exception:
        """A 4xx is worth another attempt; a 5xx is the answer. 421 means the server hangs up.
        A throttling reply (even a 5xx, like Exchange's SubmissionQuotaExceeded) limits the
        mailbox, not the customer: `unavailable`, so the run pauses.
        """
        if code == 421:
            self._drop()
        else:
            self._reset()
        if errors.throttled(reason):
            unavailable = True
            reason = f"el servidor limita los envíos del buzón ({reason})"
        if code < 500:
            return _Retry(reason, unavailable=unavailable or code == 421, refused=refused)
        return errors.DeliveryError(reason, unavailable=unavailable, refused=refused)

    def _recipients(
        self, connection: smtplib.SMTP, recipients: list[str], *, last: bool
    ) -> dict[str, str]:
        """The refused addresses with the server's words. Raises `_Refused` when none is
        accepted, when a refusal is throttling, or (but on the last attempt) when one was
        refused for now (4xx).
        """
        refused: dict[str, str] = {}
        codes: list[int] = []
        for address in recipients:
            code, reply = connection.rcpt(address)
            if code not in (250, 251):
                refused[address] = _reply_text(code, reply)
                codes.append(code)
        if not refused:
            return refused
        reason = "destinatario rechazado: " + "; ".join(f"{a}: {w}" for a, w in refused.items())
        if errors.throttled(reason) or (not last and min(codes) < 500):
            raise _Refused(min(codes), reason, refused)
        if len(refused) == len(recipients):
            raise _Refused(max(codes), reason, refused)
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
    def __init__(
        self, reason: str, *, unavailable: bool = False, refused: dict[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unavailable = unavailable
        self.refused = refused or {}


class _Refused(Exception):
    def __init__(self, code: int, reason: str, refused: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.refused = refused or {}


def _bearer(user: str, token: str) -> Callable[[bytes | None], str]:
    """The XOAUTH2 initial response; an empty answer to the server's error challenge."""

    def respond(challenge: bytes | None = None) -> str:
        return "" if challenge is not None else f"user={user}\x01auth=Bearer {token}\x01\x01"

    return respond


def _dot_stuffed(content: bytes) -> bytes:
    """The message as DATA carries it (RFC 5321 4.5.2), as smtplib's own `data()` sends it."""
    stuffed = LEADING_DOT_RE.sub(b"..", content)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}".strip()
