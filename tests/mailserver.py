"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and can misbehave the
ways real servers do: refuse a recipient, answer 4xx for a while, hang up, stall in DATA. It can
also require STARTTLS or speak TLS from the first byte, with a given certificate.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from base64 import b64decode
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.support import free_port


@dataclass
class Received:
    mail_from: str
    recipients: list[str]
    content: bytes
    encrypted: bool = False  # the message came over TLS
    at: float = field(default_factory=time.monotonic)  # when its DATA arrived

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.content, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Faults:
    """What the server does wrong; tests set these between or during runs."""

    refuse: dict[str, str] = field(default_factory=dict)  # recipient → reply
    # recipient → how many more RCPT for it get `greylist_reply` before it is accepted
    greylist: dict[str, int] = field(default_factory=dict)
    greylist_reply: str = "450 4.2.0 Greylisted, try again later"
    temporary: int = 0  # answer the next N DATA with 451
    temporary_reply: str = "451 4.3.0 Intente más tarde"
    hang_up_on_mail: int = 0  # hang up on the next N MAIL FROM (before any data)
    hang_up_in_data: int = 0  # keep the next N messages but hang up before answering
    stall_data: threading.Event | None = None  # hold DATA replies until set
    mail_reply: str = ""  # answer every MAIL FROM with this (e.g. a server-wide 451)
    drop_on_data_command: int = 0  # hang up on the next N DATA commands, before the 354
    stall_data_command: int = 0  # the next N DATA commands get no answer for stall_seconds
    stall_seconds: float = 3.0
    # Called with each message received, before the server answers it (in a thread).
    on_message: Callable[[], None] | None = None


class Handler:
    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.bearer_tokens: set[str] = set()
        self.xoauth2_attempts: list[tuple[str, str]] = []
        self.received: list[Received] = []
        self.in_data = threading.Event()
        self.lock = threading.Lock()

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        """Microsoft's XOAUTH2: `user=<mailbox>^Aauth=Bearer <token>^A^A`; a refused token gets
        the JSON error challenge, then 535 after the client's empty answer.
        """
        blob = b64decode(args[1]) if len(args) > 1 else await server.challenge_auth("")
        fields = dict(
            part.split("=", 1) for part in bytes(blob).decode().split("\x01") if "=" in part
        )
        token = fields.get("auth", "").removeprefix("Bearer ")
        self.xoauth2_attempts.append((fields.get("user", ""), token))
        if token in self.bearer_tokens:
            return AuthResult(success=True, auth_data=fields.get("user"))
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(
            success=False, handled=False, message="535 5.7.3 Authentication unsuccessful"
        )

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.faults.hang_up_on_mail:
            self.faults.hang_up_on_mail -= 1
            server.transport.close()
            return "421 4.4.2 adiós"
        if self.faults.mail_reply:
            return self.faults.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.faults.refuse:
            return self.faults.refuse[address]
        if self.faults.greylist.get(address, 0) > 0:
            self.faults.greylist[address] -= 1
            return self.faults.greylist_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.faults.temporary:
            self.faults.temporary -= 1
            return self.faults.temporary_reply
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    bytes(envelope.content),
                    encrypted=server.transport.get_extra_info("ssl_object") is not None,
                )
            )
        self.in_data.set()
        if self.faults.on_message is not None:
            await asyncio.to_thread(self.faults.on_message)
        if self.faults.stall_data is not None:
            while not self.faults.stall_data.is_set():
                await asyncio.sleep(0.02)
        if self.faults.hang_up_in_data:
            self.faults.hang_up_in_data -= 1
            server.transport.close()
        return "250 2.0.0 Ok: queued"


class FaultySMTP(SMTP):
    """aiosmtpd's server, able to fail at the DATA command itself, before its 354 (no
    handler hook runs that early)."""

    def __init__(self, handler: Handler, **options: Any) -> None:
        super().__init__(handler, **options)
        self.faults = handler.faults

    async def smtp_DATA(self, arg: str) -> None:
        if self.faults.drop_on_data_command:
            self.faults.drop_on_data_command -= 1
            self.transport.close()
            return
        if self.faults.stall_data_command:
            self.faults.stall_data_command -= 1
            await asyncio.sleep(self.faults.stall_seconds)
            self.transport.close()
            return
        await super().smtp_DATA(arg)


class FaultyController(Controller):
    def factory(self) -> SMTP:
        return FaultySMTP(self.handler, **self.SMTP_kwargs)


class MailServer:
    """`with MailServer() as server:` listens on 127.0.0.1:<free port> until the block ends."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        bearer_tokens: set[str] | None = None,
        tls: str = "",
        certificate: tuple[Path, Path] | None = None,
        port: int | None = None,
    ) -> None:
        """`tls`: "" (plain), "starttls" (required before MAIL) or "ssl" (from the first byte),
        with `certificate` as (certificate file, key file); `port`: a free one if not given."""
        self.faults = Faults()
        self.handler = Handler(self.faults)
        self.handler.bearer_tokens = bearer_tokens or set()
        self.users = users
        options: dict[str, Any] = {}
        if bearer_tokens is not None:
            options = {"auth_require_tls": False}
        if users is not None:
            options = {
                "authenticator": self._authenticate,
                "auth_require_tls": False,
            }
        if tls:
            assert certificate is not None, "TLS needs a certificate"
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*certificate)
            if tls == "starttls":
                options |= {"tls_context": context, "require_starttls": True}
            else:
                options["ssl_context"] = context
        self.controller = FaultyController(
            self.handler, hostname="127.0.0.1", port=port or free_port(), **options
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.users is not None
            and self.users.get(data.login.decode()) == data.password.decode()
        )
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> MailServer:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.faults.stall_data is not None:
            self.faults.stall_data.set()
        self.controller.stop()

    @property
    def port(self) -> int:
        return self.controller.port

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def to(self, address: str) -> list[Received]:
        return [message for message in self.received if address in message.recipients]
