"""Bounces: what a delivery status notification in the sender mailbox says went wrong.

A relay or Exchange Online accepts a message for a stale address and reports the failure
minutes later, as a message to the sender. RFC 3464 reports (Postfix, Exchange Online, Gmail
and most servers today) are read with the standard `email` package: each recipient's Action,
Status and Diagnostic-Code, and the original's Message-ID from the returned message or its
headers. Older, non-RFC styles (qmail, Sendmail, Exim, Yahoo…) are recognised by flufl.bounce,
which names the failed addresses; the Message-ID then comes from the quoted original.
A delay notice (Action: delayed, a transient failure) is not a bounce; neither is an
auto-reply, which no detector recognises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message

from flufl.bounce import all_failures

MESSAGE_ID_RE = re.compile(r"^Message-ID:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)
STATUS_RE = re.compile(r"\b([45]\.\d{1,3}\.\d{1,3})\b")
REPLY_RE = re.compile(r"\b[45]\d\d[ -][45]\.\d{1,3}\.\d{1,3}\b[^\r\n]*")


@dataclass(frozen=True)
class Bounce:
    """One address of one original message that will not receive it."""

    message_id: str  # the original's, "" when the report does not quote it
    address: str
    status: str  # RFC 3463 code, e.g. "5.1.1"; "" when the report gives none
    diagnostic: str  # the remote server's words, on one line

    @property
    def reason(self) -> str:
        words = self.diagnostic or "el servidor del destinatario devolvió el correo"
        return words if not self.status or self.status in words else f"{self.status} {words}"


def parse(raw: bytes) -> list[Bounce]:
    """The permanent failures a message reports; [] for anything that is not a bounce."""
    # compat32 leaves headers as text (the default policy parses every header it is asked
    # for, most of the time spent here); flufl.bounce wants the default policy's messages.
    message = message_from_bytes(raw, policy=policy.compat32)
    if message.get_content_type() == "multipart/report":
        report = _delivery_status(message)
        if report is not None:
            return _from_report(message, report)
    return _from_detectors(message_from_bytes(raw, policy=policy.default))


def _delivery_status(message: Message) -> Message | None:
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            return part
    return None


def _from_report(message: Message, report: Message) -> list[Bounce]:
    original = _original_message_id(message)
    found = []
    for fields in _recipient_blocks(report):
        if str(fields.get("Action", "")).strip().lower() != "failed":
            continue  # delayed, delivered, relayed, expanded: not a bounce
        address = _address(str(fields.get("Final-Recipient") or fields.get("Original-Recipient")))
        if not address:
            continue
        status = str(fields.get("Status", "")).strip()
        if status.startswith("4"):
            continue  # a transient failure reported as final is still not a bounce
        found.append(Bounce(original, address, status, _diagnostic(fields)))
    return found


def _recipient_blocks(report: Message) -> list[Message]:
    """The per-recipient field groups; the first group is about the whole message."""
    payload = report.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if block.get("Final-Recipient")]
    # Some servers send the report as text: one block per blank line.
    text = report.get_payload(decode=True) or b""
    blocks = re.split(rb"\r?\n\r?\n", text)
    parsed = [message_from_bytes(block.strip() + b"\n", policy=policy.compat32) for block in blocks]
    return [block for block in parsed if block.get("Final-Recipient")]


def _diagnostic(fields: Message) -> str:
    value = " ".join(str(fields.get("Diagnostic-Code", "")).split())
    kind, _, words = value.partition(";")
    return words.strip() if words else kind.strip()


def _address(field: str) -> str:
    """`rfc822; user@host` → `user@host`."""
    return field.rpartition(";")[2].strip().strip("<>").lower()


def _original_message_id(message: Message) -> str:
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) else inner
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return str(inner["Message-ID"]).strip()
        if kind == "text/rfc822-headers":
            found = MESSAGE_ID_RE.search(_text(part))
            if found:
                return found.group(1)
    return ""


def _from_detectors(message: EmailMessage) -> list[Bounce]:
    _, permanent = all_failures(message)
    if not permanent:
        return []
    body = "\n".join(_text(part) for part in message.walk() if part is not message)
    body = body or _text(message)
    original = MESSAGE_ID_RE.search(body)
    status = STATUS_RE.search(body)
    reply = REPLY_RE.search(body)
    return [
        Bounce(
            original.group(1) if original else "",
            address.decode("utf-8", "replace").lower(),
            status.group(1) if status else "",
            " ".join(reply.group(0).split()) if reply else "",
        )
        for address in sorted(permanent)
    ]


def _text(part: Message) -> str:
    if part.is_multipart():
        return ""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload())
    return payload.decode(part.get_content_charset() or "utf-8", "replace")
