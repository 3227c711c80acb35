"""Per-address outcomes of a send item: which of a customer's addresses the mail server took,
which it refused and with what words. A customer is `sent` only when every address took it,
`partial` when some did, `failed` when none did; the reason names each address that failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from lib.models import SendAddress
from lib.sending.status import AddressOutcome, ItemStatus


@dataclass(frozen=True)
class Answer:
    """The mail server's answer for one address."""

    address: str
    outcome: AddressOutcome
    words: str = ""

    @property
    def text(self) -> str:
        return f"{self.address}: {self.outcome.verb}: {self.words}"


def answered(recipients: Iterable[str], refused: Mapping[str, str]) -> list[Answer]:
    """Every address of a message: accepted, or refused with the server's words."""
    return [
        Answer(address, AddressOutcome.REFUSED, refused[address])
        if address in refused
        else Answer(address, AddressOutcome.ACCEPTED)
        for address in dict.fromkeys([*recipients, *refused])
    ]


def status(answers: Sequence[Answer]) -> ItemStatus:
    failed = sum(answer.outcome.failed for answer in answers)
    if not failed:
        return ItemStatus.SENT
    return ItemStatus.PARTIAL if failed < len(answers) else ItemStatus.FAILED


def reason(answers: Iterable[Answer]) -> str:
    """`<address>: rechazado: <server's words>[; …]` for the addresses that failed."""
    return "; ".join(answer.text for answer in answers if answer.outcome.failed)


def record(session: Session, item_id: int, answers: Sequence[Answer], now: datetime) -> None:
    if answers:
        session.execute(
            insert(SendAddress),
            [
                {
                    "item_id": item_id,
                    "address": answer.address,
                    "outcome": answer.outcome,
                    "reason": answer.words,
                    "at": now,
                }
                for answer in answers
            ],
        )
