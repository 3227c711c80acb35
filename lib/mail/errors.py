"""Every way a delivery can fail, as one exception with a Spanish reason for the customer's row."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


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


def describe(exc: BaseException) -> str:
    """An OS or library error on one line, for a reason shown to users."""
    return " ".join(str(exc).split()) or type(exc).__name__
