"""Per-address outcomes of a send item: which of a customer's addresses the mail server took,
which it refused and with what words, and which bounced later. A customer is `sent` only when
every address took it, `partial` when some did, `failed` (or `bounced`) when none did; the
reason names each address that failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from lib import bounce_marks, emails
from lib.mail.bounces import Bounce
from lib.models import SendAddress, SendItem
from lib.sending import queue, runs
from lib.sending.status import DELIVERED_ITEM_STATES, AddressOutcome, ItemStatus


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
    """Every address of a message: accepted, or refused with the server's words. The server
    names an address in its wire form (IDNA); the answer names it as the catalog does.
    """
    typed = {emails.wire_form(address): address for address in recipients}
    words = {typed.get(address, address): reply for address, reply in refused.items()}
    return [
        Answer(address, AddressOutcome.REFUSED, words[address])
        if address in words
        else Answer(address, AddressOutcome.ACCEPTED)
        for address in dict.fromkeys([*typed.values(), *words])
    ]


def status(answers: Sequence[Answer]) -> ItemStatus:
    failed = sum(answer.outcome.failed for answer in answers)
    if not failed:
        return ItemStatus.SENT
    if failed < len(answers):
        return ItemStatus.PARTIAL
    bounced = any(answer.outcome == AddressOutcome.BOUNCED for answer in answers)
    return ItemStatus.BOUNCED if bounced else ItemStatus.FAILED


def reason(answers: Iterable[Answer]) -> str:
    """`<address>: rechazado|rebotó: <server's words>[; …]` for the addresses that failed."""
    return "; ".join(answer.text for answer in answers if answer.outcome.failed)


def record(session: Session, item: queue.Claim, answers: Sequence[Answer], now: datetime) -> None:
    """Each address's answer; an address refused for good is marked in the catalog."""
    for answer in answers:
        if answer.outcome == AddressOutcome.REFUSED and bounce_marks.permanent(answer.words):
            key = (item.company_code, item.customer_no)
            bounce_marks.flag(session, key, answer.address, answer.words, now, item.run_id)
    if answers:
        session.execute(
            insert(SendAddress),
            [
                {
                    "item_id": item.item_id,
                    "address": answer.address,
                    "outcome": answer.outcome,
                    "reason": answer.words,
                    "at": now,
                }
                for answer in answers
            ],
        )


@dataclass(frozen=True)
class Bounced:
    """A bounce matched to its customer, as `lib.cli bounces` prints it."""

    run_id: int
    company_code: str
    customer_no: str
    address: str
    reason: str


def record_bounce(session: Session, bounce: Bounce, now: datetime) -> Bounced | None:
    """Mark the address bounced and judge its customer again (✅ → ⚠️ parcial, or ❌ rebotado
    when no address is left); None when the bounce matches no address that took a message of
    ours, or was recorded already. The run's counts are the caller's to renew (`recount`),
    once for many bounces.
    """
    if not bounce.message_id:
        return None
    item = session.scalar(select(SendItem).where(SendItem.message_id == bounce.message_id))
    if item is None or item.status not in DELIVERED_ITEM_STATES:
        return None
    rows = list(
        session.scalars(
            select(SendAddress).where(SendAddress.item_id == item.id).order_by(SendAddress.id)
        )
    )
    hit = next((r for r in rows if r.address.lower() == bounce.address.lower()), None)
    if hit is None or hit.outcome != AddressOutcome.ACCEPTED:
        return None
    hit.outcome, hit.reason, hit.at = AddressOutcome.BOUNCED, bounce.reason, now
    answers = [Answer(r.address, AddressOutcome(r.outcome), r.reason) for r in rows]
    if not queue.bounced(
        session, item.id, ItemStatus(item.status), status(answers), reason(answers)
    ):
        return None
    bounce_marks.flag(
        session, (item.company_code, item.customer_no), hit.address, bounce.reason, now, item.run_id
    )
    return Bounced(item.run_id, item.company_code, item.customer_no, hit.address, bounce.reason)


def recount(session: Session, run_ids: Iterable[int]) -> None:
    """Finished runs' counts after bounces judged some of their customers again."""
    wanted = sorted(set(run_ids))
    counted = runs.counts(session, wanted)
    for run_id in wanted:
        queue.recount(session, run_id, counted.get(run_id, {}))
