"""The queue of send items, and every legal change of an item's or a run's state.

Each change is one compare-and-set UPDATE: it names the state (and claimer) it expects and
changes nothing if the row moved meanwhile, so two workers, Detener and recovery can never
overwrite each other's outcome. The functions take the caller's session; the caller owns the
transaction. Which change happens when is the worker's business (`lib.sending.worker`).

    pending, free ─claim─▶ pending, claimed ─to_sending─▶ sending
    sending ─finish─▶ sent | partial | failed | uncertain
    pending, claimed ─finish─▶ failed | skipped          nothing to send (no statement, no balance)
    pending, claimed | sending ─requeue─▶ pending, free   nothing handed over (server unavailable)
    pending, claimed by a gone worker ─release─▶ pending, free
    sending, claimed by a gone worker ─finish─▶ uncertain (it may have gone out)
    pending, free ─stop_unclaimed─▶ stopped              Detener envío, lib.cli send interrupted
    sent | partial ─bounced─▶ partial | bounced         a bounce came back for an address
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, exists, select, update
from sqlalchemy.orm import Session

from lib.models import SendItem, SendRun
from lib.sending.status import (
    ACTIVE_RUN_STATES,
    DELIVERED_ITEM_STATES,
    OPEN_ITEM_STATES,
    ItemStatus,
    RunStatus,
)

# A partial index (migration 0005) holds exactly the claimable items in id order, so a claim
# reads its first entry whatever the size of the run or of the history.
CLAIMABLE = (SendItem.status == ItemStatus.PENDING, SendItem.claimed_by.is_(None))


@dataclass(frozen=True)
class Claim:
    item_id: int
    run_id: int
    company_code: str
    customer_no: str


@dataclass(frozen=True)
class OpenClaim:
    item_id: int
    status: ItemStatus
    claimer: str
    claimed_at: datetime | None


def claim(session: Session, worker: str, now: datetime, run_id: int | None = None) -> Claim | None:
    """The oldest claimable item, now `worker`'s; its run starts if it had not."""
    pick = select(SendItem.id).where(*CLAIMABLE)
    if run_id is not None:
        pick = pick.where(SendItem.run_id == run_id)
    pick = pick.order_by(SendItem.id).limit(1).with_for_update(skip_locked=True)
    row = session.execute(
        _item_update(SendItem.id == pick.scalar_subquery(), *CLAIMABLE)
        .values(claimed_by=worker, claimed_at=now)
        .returning(SendItem.id, SendItem.run_id, SendItem.company_code, SendItem.customer_no)
    ).first()
    if row is None:
        return None
    session.execute(
        _run_update(SendRun.id == row.run_id, SendRun.status == RunStatus.PENDING).values(
            status=RunStatus.RUNNING, started_at=now
        )
    )
    return Claim(*row)


def to_sending(session: Session, item_id: int, worker: str, **recorded: Any) -> bool:
    """About to hand the message over: from here on a worker that dies leaves it `uncertain`.
    `recorded` is what the item keeps of the message (Message-ID, PDF hash, attachment name,
    what it lacks).
    """
    return _move(
        session,
        item_id,
        ItemStatus.PENDING,
        worker,
        status=ItemStatus.SENDING,
        attempts=SendItem.attempts + 1,
        **recorded,
    )


def finish(
    session: Session,
    item_id: int,
    claimer: str,
    before: ItemStatus,
    status: ItemStatus,
    reason: str,
    now: datetime,
) -> bool:
    """The item's outcome: sent, partial, failed, skipped or uncertain."""
    values: dict[str, Any] = {"status": status, "error": reason, "finished_at": now}
    if status in DELIVERED_ITEM_STATES:
        values["sent_at"] = now
    return _move(session, item_id, before, claimer, **values)


def add_note(session: Session, item_id: int, note: str) -> None:
    """More of what the email lacked, after what `to_sending` recorded."""
    joined = case((SendItem.note == "", note), else_=SendItem.note + " " + note)
    session.execute(_item_update(SendItem.id == item_id).values(note=joined))


def bounced(
    session: Session, item_id: int, before: ItemStatus, status: ItemStatus, reason: str
) -> bool:
    """A delivered item that an address bounced later: its outcome judged again."""
    return (
        session.execute(
            _item_update(SendItem.id == item_id, SendItem.status == before).values(
                status=status, error=reason
            )
        ).rowcount
        == 1
    )


def requeue(
    session: Session, item_id: int, worker: str, before: ItemStatus, reason: str = ""
) -> bool:
    """Back to the queue, nothing handed over: the reason says why it waits."""
    return _move(
        session,
        item_id,
        before,
        worker,
        status=ItemStatus.PENDING,
        claimed_by=None,
        claimed_at=None,
        error=reason,
    )


def release(session: Session, item_id: int, claimer: str) -> bool:
    """A claim of a worker that is gone, given back untouched."""
    return _move(session, item_id, ItemStatus.PENDING, claimer, claimed_by=None, claimed_at=None)


def stop_unclaimed(session: Session, run_id: int, reason: str, now: datetime) -> int:
    """Detener: the run's items no worker has taken yet become stopped with `reason`."""
    return session.execute(
        _item_update(SendItem.run_id == run_id, *CLAIMABLE).values(
            status=ItemStatus.STOPPED, error=reason, finished_at=now
        )
    ).rowcount


def open_claims(session: Session) -> list[OpenClaim]:
    """Every claimed item not decided yet, for recovery to judge its claimer."""
    rows = session.execute(
        select(SendItem.id, SendItem.status, SendItem.claimed_by, SendItem.claimed_at).where(
            SendItem.status.in_(OPEN_ITEM_STATES), SendItem.claimed_by.is_not(None)
        )
    )
    return [OpenClaim(item, ItemStatus(status), by, at) for item, status, by, at in rows]


def _no_open_items() -> ColumnElement[bool]:
    return ~exists().where(SendItem.run_id == SendRun.id, SendItem.status.in_(OPEN_ITEM_STATES))


def closable_runs(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(SendRun.id).where(SendRun.status.in_(ACTIVE_RUN_STATES), _no_open_items())
        )
    )


def close_run(session: Session, run_id: int, worker: str, now: datetime, counts: dict) -> bool:
    """Done, with its final counts; the closing worker holds the log email."""
    return (
        session.execute(
            _run_update(
                SendRun.id == run_id, SendRun.status.in_(ACTIVE_RUN_STATES), _no_open_items()
            ).values(
                status=RunStatus.DONE,
                finished_at=now,
                log_claimed_by=worker,
                log_claimed_at=now,
                **final_counts(counts),
            )
        ).rowcount
        == 1
    )


# A run's count columns and the item state each counts. Stopped items have none (that would
# take a migration): `stopped` counts them from the others.
COUNT_COLUMNS = {
    "sent": ItemStatus.SENT,
    "failed": ItemStatus.FAILED,
    "skipped": ItemStatus.SKIPPED,
    "uncertain": ItemStatus.UNCERTAIN,
    "partial": ItemStatus.PARTIAL,
    "bounced": ItemStatus.BOUNCED,
}


def final_counts(counts: dict) -> dict[str, int]:
    """A run's count columns from its items per status."""
    return {column: counts.get(status, 0) for column, status in COUNT_COLUMNS.items()}


def stopped(run: SendRun) -> int:
    """A finished run's stopped customers: once it is done every other item is in a count
    column, so they are the rest of the total.
    """
    if run.status != RunStatus.DONE:
        return 0
    return run.total - sum(getattr(run, column) for column in COUNT_COLUMNS)


def recount(session: Session, run_id: int, counts: dict) -> None:
    """A finished run's counts after a bounce judged one of its customers again."""
    session.execute(
        _run_update(SendRun.id == run_id, SendRun.status == RunStatus.DONE).values(
            **final_counts(counts)
        )
    )


def waiting_logs(session: Session) -> list[tuple[int, str | None, datetime | None]]:
    """Finished runs whose log email has not gone out nor failed for good, with who holds it."""
    return [
        (run_id, claimer, at)
        for run_id, claimer, at in session.execute(
            select(SendRun.id, SendRun.log_claimed_by, SendRun.log_claimed_at).where(
                SendRun.status == RunStatus.DONE,
                SendRun.log_sent_at.is_(None),
                SendRun.log_error == "",
            )
        )
    ]


def take_log(
    session: Session, run_id: int, claimer: str | None, worker: str, now: datetime
) -> bool:
    """The log email of a run, from whoever held it (or nobody) to `worker`."""
    held = (
        SendRun.log_claimed_by.is_(None) if claimer is None else SendRun.log_claimed_by == claimer
    )
    return (
        session.execute(
            _run_update(SendRun.id == run_id, SendRun.log_sent_at.is_(None), held).values(
                log_claimed_by=worker, log_claimed_at=now
            )
        ).rowcount
        == 1
    )


def log_outcome(
    session: Session, run_id: int, worker: str, *, sent_at: datetime | None, error: str
) -> bool:
    """Sent, or failed for good with `error`; with neither, the log waits for a worker again."""
    values: dict[str, Any] = {"log_sent_at": sent_at, "log_error": error}
    if sent_at is None and not error:
        values |= {"log_claimed_by": None, "log_claimed_at": None}
    return (
        session.execute(
            _run_update(SendRun.id == run_id, SendRun.log_claimed_by == worker).values(**values)
        ).rowcount
        == 1
    )


def _move(session: Session, item_id: int, before: ItemStatus, claimer: str, **values: Any) -> bool:
    return (
        session.execute(
            _item_update(
                SendItem.id == item_id,
                SendItem.status == before,
                SendItem.claimed_by == claimer,
            ).values(**values)
        ).rowcount
        == 1
    )


def _item_update(*where: ColumnElement[bool]) -> Any:
    return update(SendItem).where(*where).execution_options(synchronize_session=False)


def _run_update(*where: ColumnElement[bool]) -> Any:
    return update(SendRun).where(*where).execution_options(synchronize_session=False)
