"""What a mail server said when it took a message: its reply, and the addresses it refused
while taking it for the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Receipt:
    """SMTP answers per recipient (RCPT), so one address can be refused while the message goes
    to the rest; Graph and the outbox take a message whole or not at all.
    """

    reply: str
    refused: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
