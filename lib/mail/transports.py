"""Where a composed message goes: the `Transport` every sender implements, and the one the
settings choose.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import parseaddr
from typing import Protocol

from lib.config import Settings
from lib.mail import graph, oauth, outbox, smtp
from lib.mail.receipt import Receipt


class Transport(Protocol):
    def send(self, message: EmailMessage) -> Receipt:
        """Deliver or raise `DeliveryError`; the receipt names the addresses refused, if any."""
        ...

    def close(self) -> None: ...


def transport_for(settings: Settings) -> Transport:
    sender = parseaddr(settings.mail_from)[1]
    tokens = oauth.Tokens(settings.oauth) if settings.oauth else None
    if settings.mail_transport == "graph" and tokens is not None:
        return graph.Graph(settings.graph_base_url, sender, tokens)
    if settings.mail_transport == "smtp":
        return smtp.Smtp(
            smtp.SmtpOptions(
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=settings.smtp_security,
                user=settings.smtp_user,
                password=settings.smtp_password,
                tokens=tokens if settings.smtp_auth == "xoauth2" else None,
                sender=sender,
            )
        )
    return outbox.Outbox(settings.outbox_dir)
