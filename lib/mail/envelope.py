"""The headers every message of ours starts with, whatever it carries."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from lib import emails


def new_message(*, subject: str, mail_from: str, to: str, reply_to: str = "") -> EmailMessage:
    """Subject, From, To, Date and a Message-ID on the sender's domain (bounces quote it), and
    Reply-To when given. The To and Reply-To addresses go in their wire form (an
    internationalised domain in IDNA), which every server takes; `InvalidValue` for one that
    has none.
    """
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = mail_from
    # Split on our own separator only, never parse: "a@x\r\nBcc: b@y" would be two recipients.
    if "\r" in to or "\n" in to:
        raise ValueError("Header values may not contain linefeed or carriage return characters")
    message["To"] = ", ".join(emails.wire_form(part.strip(" ")) for part in to.split(","))
    if reply_to:
        # One address, checked in full: nothing else (a list, a name, a line break) gets in.
        message["Reply-To"] = emails.wire_form(emails.address(reply_to))
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=domain(mail_from))
    return message


def domain(mail_from: str) -> str:
    return parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
