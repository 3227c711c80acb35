"""Every way a delivery can fail, as one exception with a Spanish reason for the customer's row."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

# Replies that limit the sender mailbox rather than refuse the customer: Exchange Online's
# recipient/message rate and submission quota, concurrent connections, "server busy", Graph's
# throttling codes. Waiting fixes them; failing the customer would not.
THROTTLING_RE = re.compile(
    r"\b(?:4\.3\.2|4\.5\.3|4\.7\.500|5\.7\.708)\b|SubmissionQuotaExceeded"
    r"|RateLimitExceeded|ExceededMessageLimit|MailboxConcurrency|ConcurrentConnection"
    r"|ApplicationThrottled|throttl",
    re.IGNORECASE,
)


class DeliveryError(Exception):
    """The message was not delivered; `uncertain` when it may have been (connection lost while
    the server was receiving it), so nobody sends it again without looking.

    `unavailable` when the server (or the outbox) took no message at all: unreachable, or
    refusing our connection, login or certificate. Nothing was handed over, and the next
    customer would fail the same way, so the worker waits for it instead of failing customers.

    `refused`: the server's words for each address, when it refused every one of them.
    """

    def __init__(
        self,
        reason: str,
        *,
        uncertain: bool = False,
        unavailable: bool = False,
        refused: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.uncertain = uncertain
        self.unavailable = unavailable
        self.refused = MappingProxyType(dict(refused or {}))


def throttled(reply: str) -> bool:
    """The server limits the mailbox for now (see THROTTLING_RE): pause, do not fail."""
    return THROTTLING_RE.search(reply) is not None


def describe(exc: BaseException) -> str:
    """An OS or library error on one line, for a reason shown to users."""
    return " ".join(str(exc).split()) or type(exc).__name__
