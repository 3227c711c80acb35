"""The sender mailbox, as the bounce reader sees it: messages after a bookmark, each with the
bookmark that follows it, from IMAP or Microsoft Graph (`BOUNCE_CHECK`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol


@dataclass(frozen=True)
class Fetched:
    raw: bytes
    cursor: str  # the reader's bookmark once this message is processed


class MailboxError(Exception):
    """The mailbox could not be read (down, wrong password, no such folder); said in Spanish."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Mailbox(Protocol):
    @property
    def name(self) -> str:
        """Which mailbox, as its bookmark is kept: one reader at a time per name."""
        ...

    def messages(self, cursor: str, since: date | None) -> Iterator[Fetched]:
        """The messages after `cursor` (from `since`, or all, without one), oldest first."""
        ...
