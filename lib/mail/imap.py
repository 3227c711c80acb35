"""The sender mailbox over IMAP, read for bounces: Exchange Online, Dovecot or any IMAP4rev1
server, over TLS (implicit or STARTTLS) with a password or an XOAUTH2 token.

The folder is opened read-only (EXAMINE) and messages fetched with BODY.PEEK, so nothing a
person reading the mailbox sees changes. The bookmark is `<UIDVALIDITY>:<last UID read>`: the
next check asks only for newer UIDs, and a folder whose UIDVALIDITY changed (rebuilt by the
server) is read again from the date given.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Iterator
from datetime import date

from lib.mail import oauth
from lib.mail.mailbox import Fetched, MailboxError

FETCH_BATCH = 200
TIMEOUT_SECONDS = 60.0
UID_RE = re.compile(rb"\bUID (\d+)")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Imap:
    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        user: str,
        *,
        password: str = "",
        tokens: oauth.Tokens | None = None,
        folder: str = "INBOX",
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.user, self.password, self.tokens = user, password, tokens
        self.folder = folder
        self.timeout = timeout

    @property
    def name(self) -> str:
        return f"imap://{self.user}@{self.host}:{self.port}/{self.folder}"

    def messages(self, cursor: str, since: date | None) -> Iterator[Fetched]:
        """Every message after the bookmark, oldest first, each with the bookmark after it."""
        connection = self._open()
        try:
            validity = self._examine(connection)
            uids = self._new_uids(connection, validity, cursor, since)
            for uid, raw in self._fetch(connection, uids):
                yield Fetched(raw, f"{validity}:{uid}")
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(self._reason(exc)) from None
        finally:
            _logout(connection)

    def _open(self) -> imaplib.IMAP4:
        try:
            if self.security == "ssl":
                connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    self.host,
                    self.port,
                    ssl_context=ssl.create_default_context(),
                    timeout=self.timeout,
                )
            else:
                connection = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    connection.starttls(ssl.create_default_context())
            self._login(connection)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(self._reason(exc)) from None
        except oauth.TokenError as exc:
            raise MailboxError(f"buzón de rebotes: {exc.reason}") from None
        return connection

    def _login(self, connection: imaplib.IMAP4) -> None:
        if self.tokens is None:
            connection.login(self.user, self.password)
            return
        token = self.tokens.token()
        answer = f"user={self.user}\x01auth=Bearer {token}\x01\x01".encode()
        connection.authenticate("XOAUTH2", lambda _challenge: answer)

    def _examine(self, connection: imaplib.IMAP4) -> str:
        status, data = connection.select(_quoted(self.folder), readonly=True)
        if status != "OK":
            raise imaplib.IMAP4.error(f"no existe la carpeta {self.folder}: {_words(data)}")
        _, validity = connection.response("UIDVALIDITY")
        return _words(validity) or "0"

    def _new_uids(
        self, connection: imaplib.IMAP4, validity: str, cursor: str, since: date | None
    ) -> list[int]:
        old_validity, _, last = cursor.partition(":")
        if old_validity == validity and last.isdigit():
            after = int(last)
            return [uid for uid in self._search(connection, "UID", f"{after + 1}:*") if uid > after]
        if since is None:
            return self._search(connection, "ALL")
        return self._search(connection, "SINCE", _imap_date(since))

    def _search(self, connection: imaplib.IMAP4, *criteria: str) -> list[int]:
        status, data = connection.uid("SEARCH", *criteria)
        if status != "OK":
            raise imaplib.IMAP4.error(f"la búsqueda falló: {_words(data)}")
        return sorted(int(uid) for uid in b" ".join(d for d in data if d).split())

    def _fetch(self, connection: imaplib.IMAP4, uids: list[int]) -> Iterator[tuple[int, bytes]]:
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            status, data = connection.uid("FETCH", ",".join(map(str, batch)), "(UID BODY.PEEK[])")
            if status != "OK":
                raise imaplib.IMAP4.error(f"no se pudieron leer los mensajes: {_words(data)}")
            found = {}
            for part in data:
                if isinstance(part, tuple) and (uid := UID_RE.search(part[0])):
                    found[int(uid.group(1))] = part[1]
            for uid in batch:
                if uid in found:  # expunged meanwhile: nothing to read
                    yield uid, found[uid]

    def _reason(self, exc: BaseException) -> str:
        where = f"{self.host}:{self.port}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            trust = f"no es de confianza ({exc.verify_message})"
            return f"el certificado del servidor IMAP {where} {trust}"
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return f"el servidor IMAP {where} no respondió a tiempo"
        if isinstance(exc, OSError):
            return f"no se pudo conectar al servidor IMAP {where} ({exc.strerror or exc})"
        return f"el servidor IMAP {where} respondió: {_decoded(exc.args[0] if exc.args else exc)}"


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _imap_date(day: date) -> str:
    """`2-Dec-2026`: IMAP's date, with English month names whatever the locale."""
    return f"{day.day}-{MONTHS[day.month - 1]}-{day.year}"


def _words(data: list | None) -> str:
    parts = [_decoded(d) for d in data or [] if d]
    return " ".join(parts).strip()


def _decoded(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _logout(connection: imaplib.IMAP4) -> None:
    with contextlib.suppress(imaplib.IMAP4.error, OSError):  # already gone: nothing to close
        connection.logout()
