"""The headers every message of ours starts with, whatever it carries."""

from __future__ import annotations

import copy as copy_module
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid, parseaddr

from lib import emails


def new_message(
    *,
    subject: str,
    mail_from: str,
    to: str,
    reply_to: str = "",
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
) -> EmailMessage:
    """Subject, From, To, Date and a Message-ID on the sender's domain (bounces quote it), and
    Reply-To, Cc and Bcc when given. The addresses go in their wire form (an internationalised
    domain in IDNA), which every server takes; `InvalidValue` for one that has none.

    Bcc stays in the message for the transport to read its recipients from; the transport
    leaves the header out of what it hands over (`without_bcc`).
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
    for header, addresses in (("Cc", cc), ("Bcc", bcc)):
        if addresses:
            message[header] = ", ".join(emails.wire_form(emails.address(a)) for a in addresses)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=domain(mail_from))
    return message


def domain(mail_from: str) -> str:
    return parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"


def recipients(message: EmailMessage) -> list[str]:
    """Every address the server is asked to deliver to: To, Cc and Bcc."""
    headers = [value for name in ("To", "Cc", "Bcc") for value in message.get_all(name, [])]
    return [address for _, address in getaddresses(headers) if address]


def without_bcc(message: EmailMessage) -> EmailMessage:
    """What goes on the wire: the message less its Bcc header, which no recipient may see."""
    if message["Bcc"] is None:
        return message
    copy = copy_module.copy(message)
    del copy["Bcc"]
    return copy
