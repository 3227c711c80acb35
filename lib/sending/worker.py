"""The send worker: one customer's trip from the queue to the mail server, then the run's log.

For each item: claim it (`queue.claim`), build the statement and the ready email
(`statements.message.ready`), mark it `sending` and commit, hand the message to the transport,
record the outcome. Crash safety comes from that order: a worker that dies leaves its claims
behind, and the next one to look gives claimed `pending` items back and turns `sending` ones
into `uncertain` (they may have gone out; a person decides), so nobody is emailed twice.

An outcome the mail server gave us is not dropped because the database is away for a moment
(a SQLite lock held past the busy timeout, PostgreSQL restarting): it is written again until it
is recorded, or the worker is stopped.

A mail server that takes no message at all (down, refusing our login, busy for everybody) does
not fail the customers one by one: the item goes back to pending with the reason and the worker
waits (PAUSE_SECONDS, doubling up to MAX_PAUSE_SECONDS) before trying again. The log email waits
the same way. Detener envío is the way out meanwhile.

Several workers (processes, on PostgreSQL or SQLite, on several machines) share the queue.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lib import emails, formatting, statements
from lib.config import Settings
from lib.mail import errors, pacing, transports
from lib.mail.mailbox import Mailbox
from lib.models import SendItem, SendRun, utcnow
from lib.normalize import InvalidValue
from lib.scheduling import due
from lib.sending import addresses, bounce_check, queue, runs
from lib.sending import log as runlog
from lib.sending.status import ACTIVE_RUN_STATES, ItemStatus, RunStatus
from lib.statements import message

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
RECOVER_EVERY_SECONDS = 60.0
# How often a worker asks whether the bounce mailbox is due (BOUNCE_CHECK_MINUTES decides).
BOUNCE_TRY_SECONDS = 30.0
# How often a worker looks for schedules (Programados) that are due.
SCHEDULE_TRY_SECONDS = 20.0
# Longer than any one SMTP transaction with its retries can take; a claim older than this
# belongs to a worker that is gone even when we cannot check its process.
STALE_AFTER = timedelta(minutes=15)
PAUSE_SECONDS = 15.0
MAX_PAUSE_SECONDS = 300.0
MAX_RECORD_WAIT_SECONDS = 30.0
WAITING = "en espera del servidor de correo"
DAILY_LIMIT = "límite diario del buzón alcanzado"
BUILD_FAILED = "no se pudo generar el estado de cuenta (error interno, quedó registrado)"
SEND_CRASHED = "error interno durante el envío; no se sabe si el correo salió"
NO_ADDRESS = "sin correo en el catálogo de envío"
COPY_REFUSED = "El servidor rechazó la copia de la sociedad"
# The database went away: worth writing again (anything else is a bug and is raised).
DATABASE_AWAY = (OperationalError, InterfaceError)

T = TypeVar("T")

# The workers running in this process: a claim by this pid under another name was left by a
# worker whose loop ended (an error restarted it), and is recovered like a dead process's.
_running: set[str] = set()


class Clock(Protocol):
    """Wall time for the records, a monotonic one for waits; tests pass their own."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()


def worker_name() -> str:
    """`host:pid:token`: enough to tell whether the claimer still lives on this machine."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Outcome:
    """What happened to one customer, as the CLI prints it."""

    run_id: int
    company_code: str
    customer_no: str
    status: ItemStatus
    reason: str


@dataclass(frozen=True)
class _NotSent:
    status: ItemStatus
    reason: str


class Worker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        *,
        transport: transports.Transport | None = None,
        pacer: pacing.Pacer | None = None,
        mailbox: Mailbox | None = None,
        name: str | None = None,
        clock: Clock | None = None,
        pause: float = PAUSE_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.transport = transport or transports.transport_for(settings)
        self.pacers = pacing.Pacers(settings, sessions, pacer)
        self.mailbox = mailbox or bounce_check.mailbox_for(settings)
        self.name = name or worker_name()
        self.clock = clock or SystemClock()
        self.pause = pause
        self._pauses = 0  # in a row, since the mail server last took a message
        self._paused_until = 0.0
        self._stop = threading.Event()
        self._ran = False
        self._bounces_tried_at: float | None = None
        self._checker: bounce_check.Checker | None = None
        self._schedules_tried_at: float | None = None

    def run(
        self,
        stop: threading.Event,
        *,
        run_id: int | None = None,
        until_idle: bool = False,
        on_outcome: Callable[[Outcome], None] | None = None,
        poll: float = POLL_SECONDS,
    ) -> None:
        """Work until `stop` is set (or, with `until_idle`, until nothing is left to do)."""
        if self._ran:  # after an error: what the last loop left claimed is recovered below
            self.name, self._checker = worker_name(), None
        self._ran, self._stop = True, stop
        _running.add(self.name)
        try:
            self.recover()
            recovered_at = self.clock.monotonic()
            while not stop.is_set():
                outcome = self.step(run_id)
                if outcome is not None and on_outcome is not None:
                    on_outcome(outcome)
                # A run's log goes out as soon as its last customer is done.
                self.finish_runs()
                if self.clock.monotonic() - recovered_at > RECOVER_EVERY_SECONDS:
                    self.recover()
                    recovered_at = self.clock.monotonic()
                self._check_bounces()
                if run_id is None:
                    self.run_due_schedules()
                if outcome is not None:
                    continue
                self.send_waiting_logs()
                if until_idle and not self._work_left(run_id):
                    return
                stop.wait(poll)
        finally:
            _running.discard(self.name)
            self.transport.close()

    @property
    def paused(self) -> bool:
        return self.clock.monotonic() < self._paused_until

    def step(self, run_id: int | None = None) -> Outcome | None:
        """Claim one pending item and see it through; None when there is none to claim, or the
        mail server is being waited for."""
        if self.paused:
            return None
        claimed = self._write(lambda s: queue.claim(s, self.name, self.clock.now(), run_id))
        if claimed is None:
            return None
        try:
            prepared = self._prepare(claimed)
        except DBAPIError:
            raise  # the database's, not the customer's: the claim is recovered and retried
        except Exception:
            log.exception("building the email of send item %d failed", claimed.item_id)
            prepared = _NotSent(ItemStatus.FAILED, BUILD_FAILED)
        if isinstance(prepared, _NotSent):
            self._record(claimed, ItemStatus.PENDING, prepared.status, prepared.reason)
            return _outcome(claimed, prepared.status, prepared.reason)
        return self._deliver(claimed, prepared)

    def recover(self) -> int:
        """Give back the claims of workers that are gone; returns how many items it touched."""
        with self.sessions() as session:
            claims = queue.open_claims(session)
        touched = 0
        for claim in claims:
            if not self._abandoned(claim.claimer, claim.claimed_at):
                continue
            if claim.status == ItemStatus.SENDING:
                changed = self._write(
                    lambda s, c=claim: queue.finish(
                        s,
                        c.item_id,
                        c.claimer,
                        ItemStatus.SENDING,
                        ItemStatus.UNCERTAIN,
                        runs.UNCERTAIN_REASON,
                        self.clock.now(),
                    )
                )
            else:
                changed = self._write(lambda s, c=claim: queue.release(s, c.item_id, c.claimer))
            touched += changed
            log.warning("recovered send item %d left %s by %s", *_described(claim))
        self.send_waiting_logs()
        return touched

    def finish_runs(self) -> list[int]:
        """Close every active run with no open item left and email its log to whoever ran it."""
        with self.sessions() as session:
            candidates = queue.closable_runs(session)
        finished = []
        for run_id in candidates:
            if self._write(lambda s, r=run_id: self._close(s, r)):
                finished.append(run_id)
                self._send_log(run_id)
        return finished

    def send_waiting_logs(self) -> None:
        """Logs still to go out: waiting for the mail server, or left by a worker that is gone
        before it recorded the outcome (the analyst may get such a log twice, never not at all).
        """
        with self.sessions() as session:
            waiting = queue.waiting_logs(session)
        for run_id, claimer, claimed_at in waiting:
            if self.paused:
                return
            if claimer is not None and not self._abandoned(claimer, claimed_at):
                continue
            taken = self._write(
                lambda s, r=run_id, c=claimer: queue.take_log(s, r, c, self.name, self.clock.now())
            )
            if taken:
                if claimer is not None:
                    log.warning("log email of send run %d taken over from %s", run_id, claimer)
                self._send_log(run_id)

    def bounce_checker(self) -> bounce_check.Checker | None:
        """The bounce check as this worker does it; None when BOUNCE_CHECK is off."""
        if self.mailbox is None:
            return None
        return bounce_check.Checker(
            self.sessions,
            self.settings,
            self.mailbox,
            transport=self.transport,
            pacer=self.pacers.default,
            name=self.name,
            clock=self.clock.now,
        )

    def _check_bounces(self) -> None:
        """Read the bounce mailbox when it is due, while sending too: a long run's bounces
        show on its rows before it ends.
        """
        now = self.clock.monotonic()
        tried = self._bounces_tried_at
        if self.mailbox is None or self.paused:
            return
        if tried is not None and now - tried < BOUNCE_TRY_SECONDS:
            return
        self._bounces_tried_at = now
        if self._checker is None:
            self._checker = self.bounce_checker()
        if self._checker is None:
            return
        try:
            self._checker.check()
        except DBAPIError:
            raise  # the database's: the worker's supervisor handles it as for sends
        except Exception:
            log.exception("the bounce check failed")

    def run_due_schedules(self) -> list[due.Occurred]:
        """Start the runs of the schedules due now, at most every SCHEDULE_TRY_SECONDS; the
        runs are then sent like any other, by whichever worker claims their customers.
        """
        now = self.clock.monotonic()
        tried = self._schedules_tried_at
        if tried is not None and now - tried < SCHEDULE_TRY_SECONDS:
            return []
        self._schedules_tried_at = now
        occurred = due.run_due(self.sessions, self.settings, self.clock.now(), worker=self.name)
        for each in occurred:
            log.info("schedule %d due %s: %s", each.schedule_id, each.due_at, each.outcome)
        return occurred

    def _close(self, session: Session, run_id: int) -> bool:
        counts = runs.counts(session, [run_id]).get(run_id, {})
        return queue.close_run(session, run_id, self.name, self.clock.now(), counts)

    def _prepare(self, claimed: queue.Claim) -> message.Ready | _NotSent:
        """The email of one item, or the outcome that makes sending it pointless."""
        with self.sessions() as session:
            item = session.get_one(SendItem, claimed.item_id)
            run = session.get_one(SendRun, item.run_id)
            try:
                statement = statements.build(
                    session, item.company_code, item.customer_no, run.cutoff_date
                )
            except InvalidValue as exc:
                return _NotSent(ItemStatus.FAILED, str(exc))
            recipients = tuple(
                address for address in item.emails.split(emails.SEPARATOR) if address
            )
            skip_zero, run_date = run.skip_zero_balance, run.run_date
        if skip_zero and not statement.has_balance:
            return _NotSent(ItemStatus.SKIPPED, runs.NO_BALANCE)
        if not recipients:
            return _NotSent(ItemStatus.FAILED, NO_ADDRESS)
        try:
            return message.ready(
                statement, recipients, options=message.Options.of(self.settings), sent_on=run_date
            )
        except InvalidValue as exc:  # an address no server takes: this customer alone fails
            return _NotSent(ItemStatus.FAILED, str(exc))

    def _deliver(self, claimed: queue.Claim, ready: message.Ready) -> Outcome:
        try:
            self.pacers.of(str(ready.message["From"])).wait(len(ready.envelope_recipients))
        except pacing.DailyLimit as limit:
            reason = self._wait_for_day(limit)
            self._durably(
                lambda s: queue.requeue(s, claimed.item_id, self.name, ItemStatus.PENDING, reason)
            )
            return _outcome(claimed, ItemStatus.PENDING, reason)
        marked = self._write(
            lambda s: queue.to_sending(
                s,
                claimed.item_id,
                self.name,
                message_id=str(ready.message["Message-ID"]),
                pdf_sha256=ready.pdf_sha256,
                attachment_name=ready.attachment_name,
                note=ready.note,
            )
        )
        if not marked:
            log.warning("send item %d is no longer ours; not sending it", claimed.item_id)
            return _outcome(claimed, ItemStatus.PENDING, "")
        try:
            receipt = self.transport.send(ready.message)
        except errors.DeliveryError as exc:
            if exc.unavailable:
                return self._wait_for_server(claimed, exc.reason)
            if exc.refused:
                return self._answered(claimed, ready, exc.refused)
            status = ItemStatus.UNCERTAIN if exc.uncertain else ItemStatus.FAILED
            self._record(claimed, ItemStatus.SENDING, status, exc.reason)
            return _outcome(claimed, status, exc.reason)
        except Exception:
            log.exception("the transport failed on send item %d", claimed.item_id)
            self._record(claimed, ItemStatus.SENDING, ItemStatus.UNCERTAIN, SEND_CRASHED)
            return _outcome(claimed, ItemStatus.UNCERTAIN, SEND_CRASHED)
        self._pauses = 0
        return self._answered(claimed, ready, receipt.refused)

    def _answered(
        self, claimed: queue.Claim, ready: message.Ready, refused: Mapping[str, str]
    ) -> Outcome:
        """The outcome the server gave the customer's addresses: sent, partial or failed. The
        sociedad's CC and BCC are not the customer's: one refused is said in the row's note."""
        sender = ready.statement.sender
        own = {emails.wire_form(a).lower() for a in ready.recipients}
        copies = {emails.wire_form(a).lower() for a in (*sender.cc, *sender.bcc)} - own
        theirs = {a: words for a, words in refused.items() if a.lower() not in copies}
        lost = [f"{a} ({words})" for a, words in refused.items() if a.lower() in copies]
        answers = addresses.answered(ready.recipients, theirs)
        status, reason = addresses.status(answers), addresses.reason(answers)
        note = f"{COPY_REFUSED}: {'; '.join(lost)}." if lost else ""
        self._record(claimed, ItemStatus.SENDING, status, reason, answers, note)
        return _outcome(claimed, status, reason)

    def _wait_for_server(self, claimed: queue.Claim, problem: str) -> Outcome:
        """The item back to pending with the reason shown on its row, and no claim for a while."""
        reason = f"{WAITING}: {problem}"
        self._durably(
            lambda s: queue.requeue(s, claimed.item_id, self.name, ItemStatus.SENDING, reason)
        )
        self._wait(problem)
        return _outcome(claimed, ItemStatus.PENDING, reason)

    def _wait_for_day(self, limit: pacing.DailyLimit) -> str:
        """No claim until the mailbox's day has room again; the reason the rows show."""
        self._paused_until = self.clock.monotonic() + max(
            (limit.until - self.clock.now()).total_seconds(), 0.0
        )
        when = formatting.moment(limit.until, self.settings.timezone)
        log.warning("daily limit of the sender mailbox reached; waiting until %s", when)
        return f"{DAILY_LIMIT}; continúa el {when}"

    def _wait(self, problem: str) -> None:
        seconds = min(self.pause * 2**self._pauses, MAX_PAUSE_SECONDS)
        self._pauses += 1
        self._paused_until = self.clock.monotonic() + seconds
        log.warning("mail server unavailable, waiting %.0f s: %s", seconds, problem)

    def _record(
        self,
        claimed: queue.Claim,
        before: ItemStatus,
        status: ItemStatus,
        reason: str,
        answers: Sequence[addresses.Answer] = (),
        note: str = "",
    ) -> None:
        """The item's outcome and, in the same transaction, each address's (and `note`)."""

        def change(session: Session) -> bool:
            now = self.clock.now()
            moved = queue.finish(session, claimed.item_id, self.name, before, status, reason, now)
            if moved:
                addresses.record(session, claimed, answers, now)
                if note:
                    queue.add_note(session, claimed.item_id, note)
            return moved

        changed = self._durably(change)
        if not changed:
            log.warning(
                "send item %d changed under us; outcome %s not recorded", claimed.item_id, status
            )

    def _send_log(self, run_id: int) -> None:
        """The log email to whoever ran the send. A refusal is kept on the run; a mail server
        that takes nothing leaves the log waiting, for this worker or any other, later.
        """
        with self.sessions() as session:
            run = session.get_one(SendRun, run_id)
            text = runlog.text(session, run)
        error, sent = "", False
        if not run.notify_email:
            error = f"el usuario {run.started_by} no tiene correo registrado"
        else:
            try:
                email = runlog.message(run, text, mail_from=self.settings.mail_from)
                self.pacers.default.wait()
                self.transport.send(email)
                sent = True
            except pacing.DailyLimit as limit:
                self._wait_for_day(limit)
            except errors.DeliveryError as exc:
                if exc.unavailable:
                    self._wait(exc.reason)
                else:
                    error = exc.reason
            except ValueError as exc:  # an address the email package will not put in a header
                error = f"el correo de {run.started_by} no sirve para enviarle el log ({exc})"
        now = self.clock.now()
        self._durably(
            lambda s: queue.log_outcome(
                s, run_id, self.name, sent_at=now if sent else None, error=error
            )
        )
        if error:
            log.warning("log email of send run %d not sent: %s", run_id, error)

    def _write(self, change: Callable[[Session], T]) -> T:
        with self.sessions() as session, session.begin():
            return change(session)

    def _durably(self, change: Callable[[Session], T]) -> T:
        """`_write` for what the mail server already did: written again while the database is
        away, until it is recorded or the worker is stopped (then recovery judges the item).
        """
        delay = 0.5
        while True:
            try:
                return self._write(change)
            except DATABASE_AWAY as exc:
                if self._stop.is_set():
                    raise
                log.warning("database unavailable (%s); writing again in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, MAX_RECORD_WAIT_SECONDS)

    def _abandoned(self, claimer: str, claimed_at: datetime | None) -> bool:
        if claimer == self.name:
            return False
        if claimed_at is None or self.clock.now() - claimed_at > STALE_AFTER:
            return True
        host, _, rest = claimer.partition(":")
        pid = rest.partition(":")[0]
        if host != socket.gethostname() or not pid.isdigit():
            return False
        if int(pid) == os.getpid():
            return claimer not in _running
        return not _process_alive(int(pid))

    def _work_left(self, run_id: int | None) -> bool:
        """An active run, or a finished one whose log waits for the mail server."""
        waiting_log = and_(
            SendRun.status == RunStatus.DONE,
            SendRun.log_sent_at.is_(None),
            SendRun.log_error == "",
            SendRun.log_claimed_by.is_(None),
        )
        left = select(SendRun.id).where(or_(SendRun.status.in_(ACTIVE_RUN_STATES), waiting_log))
        if run_id is not None:
            left = left.where(SendRun.id == run_id)
        with self.sessions() as session:
            return session.scalar(select(exists(left))) or False


def _outcome(claimed: queue.Claim, status: ItemStatus, reason: str) -> Outcome:
    return Outcome(claimed.run_id, claimed.company_code, claimed.customer_no, status, reason)


def _described(claim: queue.OpenClaim) -> tuple[int, str, str]:
    return claim.item_id, claim.status.value, claim.claimer


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
