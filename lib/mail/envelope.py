"""The headers every message of ours starts with, whatever it carries."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr


def new_message(*, subject: str, mail_from: str, to: str) -> EmailMessage:
    """Subject, From, To, Date and a Message-ID on the sender's domain (bounces quote it)."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = mail_from
    message["To"] = to
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=domain(mail_from))
    return message


def domain(mail_from: str) -> str:
    return parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
