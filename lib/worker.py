"""The send worker: takes pending items of send runs, one at a time, and records each outcome.

Crash safety comes from the order of the writes: an item is claimed, its PDF and email are
built, it is marked `sending` and committed, then handed to the transport, then marked `sent`
or `failed`. A worker that dies leaves its claims behind; the next one that starts gives
claimed `pending` items back and turns `sending` ones into `uncertain` (they may have gone out;
a person decides), so nobody is emailed twice by one run.

Several workers (threads or processes, on PostgreSQL or SQLite) share the queue: a claim is one
`UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`, so two never take one item.

A mail server that takes no message at all (down, or refusing our login) does not fail the
customers one by one: the item goes back to pending with the reason, and the worker waits
(PAUSE_SECONDS, doubling up to MAX_PAUSE_SECONDS) before it tries again. The run goes on by
itself once the server answers; Detener envío is the way out meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from lib import db, mail, messages, pdf, sending, statements
from lib.config import Settings
from lib.models import SendItem, SendRun, utcnow
from lib.normalize import InvalidValue

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
RECOVER_EVERY_SECONDS = 60.0
# Longer than any one SMTP transaction with its retries can take; a claim older than this
# belongs to a worker that is gone even when we cannot check its process.
STALE_AFTER = timedelta(minutes=15)
PAUSE_SECONDS = 15.0
MAX_PAUSE_SECONDS = 300.0
WAITING = "en espera del servidor de correo"
BUILD_FAILED = "no se pudo generar el estado de cuenta (error interno, quedó registrado)"
SEND_CRASHED = "error interno durante el envío; no se sabe si el correo salió"


def worker_name() -> str:
    """`host:pid:token`: enough to tell whether the claimer still lives on this machine."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Outcome:
    """What happened to one customer, as the CLI prints it."""

    run_id: int
    company_code: str
    customer_no: str
    status: str
    reason: str


@dataclass(frozen=True)
class _Ready:
    message: EmailMessage
    pdf_sha256: str
    attachment_name: str


class Worker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        *,
        transport: mail.Transport | None = None,
        pacer: mail.Pacer | None = None,
        name: str | None = None,
        now: Callable[[], datetime] = utcnow,
        pause: float = PAUSE_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.transport = transport or mail.transport_for(settings)
        self.pacer = pacer or mail.Pacer(
            settings.mail_rate_per_minute if settings.mail_transport != "outbox" else 0
        )
        self.name = name or worker_name()
        self.now = now
        self.pause = pause
        self._pauses = 0  # in a row, since the mail server last took a message
        self._paused_until = 0.0

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
        self.recover()
        recovered_at = time.monotonic()
        try:
            while not stop.is_set():
                outcome = self.step(run_id)
                if outcome is not None and on_outcome is not None:
                    on_outcome(outcome)
                # A run's log goes out as soon as its last customer is done, even while the
                # worker goes on with the next run.
                self.finish_runs()
                if time.monotonic() - recovered_at > RECOVER_EVERY_SECONDS:
                    self.recover()
                    recovered_at = time.monotonic()
                if outcome is not None:
                    continue
                if until_idle and not self._work_left(run_id):
                    return
                stop.wait(poll)
        finally:
            self.transport.close()

    def step(self, run_id: int | None = None) -> Outcome | None:
        """Claim one pending item and see it through; None when there is none to claim, or the
        mail server is being waited for."""
        if time.monotonic() < self._paused_until:
            return None
        claimed = self._claim(run_id)
        if claimed is None:
            return None
        item_id, claimed_run, company_code, customer_no = claimed
        try:
            prepared = self._prepare(item_id)
        except Exception:
            log.exception("building the email of send item %d failed", item_id)
            prepared = (sending.FAILED, BUILD_FAILED)
        if isinstance(prepared, tuple):
            status, reason = prepared
            self._record(item_id, sending.PENDING, status, reason)
        else:
            status, reason = self._deliver(item_id, prepared)
        return Outcome(claimed_run, company_code, customer_no, status, reason)

    def recover(self) -> int:
        """Give back the claims of workers that are gone; returns how many items it touched."""
        with self.sessions() as session:
            claims = session.execute(
                select(
                    SendItem.id, SendItem.status, SendItem.claimed_by, SendItem.claimed_at
                ).where(
                    SendItem.status.in_(sending.OPEN_ITEM_STATES),
                    SendItem.claimed_by.is_not(None),
                )
            ).all()
        touched = 0
        for item_id, status, claimer, claimed_at in claims:
            if not self._abandoned(claimer, claimed_at):
                continue
            if status == sending.SENDING:
                changed = self._record(
                    item_id, status, sending.UNCERTAIN, sending.UNCERTAIN_REASON, claimer=claimer
                )
            else:
                changed = self._release(item_id, claimer)
            touched += changed
            log.warning("recovered send item %d left %s by %s", item_id, status, claimer)
        self._take_over_logs()
        return touched

    def finish_runs(self) -> list[int]:
        """Close every active run with no open item left and email its log to whoever ran it."""
        open_items = exists().where(
            SendItem.run_id == SendRun.id, SendItem.status.in_(sending.OPEN_ITEM_STATES)
        )
        with self.sessions() as session:
            candidates = list(
                session.scalars(
                    select(SendRun.id).where(
                        SendRun.status.in_(sending.ACTIVE_RUN_STATES), ~open_items
                    )
                )
            )
        finished = []
        for run_id in candidates:
            with self.sessions() as session, session.begin():
                now = self.now()
                closed = session.execute(
                    update(SendRun)
                    .where(
                        SendRun.id == run_id,
                        SendRun.status.in_(sending.ACTIVE_RUN_STATES),
                        ~open_items,
                    )
                    .values(
                        status=sending.RUN_DONE,
                        finished_at=now,
                        log_claimed_by=self.name,
                        log_claimed_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if closed.rowcount != 1:
                    continue  # another worker closed it
                self._write_counts(session, run_id)
            finished.append(run_id)
            self._send_log(run_id)
        return finished

    def _take_over_logs(self) -> None:
        """Send the logs of finished runs whose worker is gone before it recorded the log's
        outcome (the analyst may get such a log twice, never not at all)."""
        with self.sessions() as session:
            waiting = session.execute(
                select(SendRun.id, SendRun.log_claimed_by, SendRun.log_claimed_at).where(
                    SendRun.status == sending.RUN_DONE,
                    SendRun.log_sent_at.is_(None),
                    SendRun.log_error == "",
                    SendRun.log_claimed_by.is_not(None),
                )
            ).all()
        for run_id, claimer, claimed_at in waiting:
            if not self._abandoned(claimer, claimed_at) or not self._take_log(run_id, claimer):
                continue
            log.warning("log email of send run %d taken over from %s", run_id, claimer)
            self._send_log(run_id)

    def _take_log(self, run_id: int, claimer: str) -> bool:
        with self.sessions() as session, session.begin():
            return (
                session.execute(
                    update(SendRun)
                    .where(SendRun.id == run_id, SendRun.log_claimed_by == claimer)
                    .values(log_claimed_by=self.name, log_claimed_at=self.now())
                    .execution_options(synchronize_session=False)
                ).rowcount
                == 1
            )

    def _claim(self, run_id: int | None) -> tuple[int, int, str, str] | None:
        pick = select(SendItem.id).where(
            SendItem.status == sending.PENDING, SendItem.claimed_by.is_(None)
        )
        if run_id is not None:
            pick = pick.where(SendItem.run_id == run_id)
        pick = pick.order_by(SendItem.id).limit(1).with_for_update(skip_locked=True)
        now = self.now()
        with self.sessions() as session, session.begin():
            claimed = session.execute(
                update(SendItem)
                .where(
                    SendItem.id == pick.scalar_subquery(),
                    SendItem.status == sending.PENDING,
                    SendItem.claimed_by.is_(None),
                )
                .values(claimed_by=self.name, claimed_at=now)
                .returning(
                    SendItem.id, SendItem.run_id, SendItem.company_code, SendItem.customer_no
                )
                .execution_options(synchronize_session=False)
            ).first()
            if claimed is None:
                return None
            session.execute(
                update(SendRun)
                .where(SendRun.id == claimed.run_id, SendRun.status == sending.RUN_PENDING)
                .values(status=sending.RUN_RUNNING, started_at=now)
                .execution_options(synchronize_session=False)
            )
        return claimed.id, claimed.run_id, claimed.company_code, claimed.customer_no

    def _prepare(self, item_id: int) -> _Ready | tuple[str, str]:
        """The email of one item, or the outcome that makes sending it pointless."""
        with self.sessions() as session:
            item = session.get_one(SendItem, item_id)
            run = session.get_one(SendRun, item.run_id)
            try:
                statement = statements.build(
                    session, item.company_code, item.customer_no, run.cutoff_date
                )
            except InvalidValue as exc:
                return sending.FAILED, str(exc)
        if run.skip_zero_balance and not statement.has_balance:
            return sending.SKIPPED, sending.NO_BALANCE
        recipients = tuple(address for address in item.emails.split(";") if address)
        if not recipients:
            return sending.FAILED, "sin correo en el catálogo de envío"
        logo = pdf.logo_for(self.settings.data_dir, statement.company.code)
        document = pdf.render(statement, logo=logo)
        message = messages.compose(
            statement,
            recipients,
            document,
            mail_from=self.settings.mail_from,
            sent_on=run.run_date,
        )
        return _Ready(
            message=message,
            pdf_sha256=hashlib.sha256(document).hexdigest(),
            attachment_name=messages.attachment_name(item.customer_no, run.run_date),
        )

    def _deliver(self, item_id: int, ready: _Ready) -> tuple[str, str]:
        self.pacer.wait()
        with self.sessions() as session, session.begin():
            marked = session.execute(
                update(SendItem)
                .where(
                    SendItem.id == item_id,
                    SendItem.status == sending.PENDING,
                    SendItem.claimed_by == self.name,
                )
                .values(
                    status=sending.SENDING,
                    attempts=SendItem.attempts + 1,
                    message_id=str(ready.message["Message-ID"]),
                    pdf_sha256=ready.pdf_sha256,
                    attachment_name=ready.attachment_name,
                )
                .execution_options(synchronize_session=False)
            )
        if marked.rowcount != 1:
            log.warning("send item %d is no longer ours; not sending it", item_id)
            return sending.PENDING, ""
        try:
            self.transport.send(ready.message)
        except mail.DeliveryError as exc:
            if exc.unavailable:
                return self._wait_for_server(item_id, exc.reason)
            status = sending.UNCERTAIN if exc.uncertain else sending.FAILED
            self._record(item_id, sending.SENDING, status, exc.reason)
            return status, exc.reason
        except Exception:
            log.exception("the transport failed on send item %d", item_id)
            self._record(item_id, sending.SENDING, sending.UNCERTAIN, SEND_CRASHED)
            return sending.UNCERTAIN, SEND_CRASHED
        self._record(item_id, sending.SENDING, sending.SENT, "")
        self._pauses = 0
        return sending.SENT, ""

    def _wait_for_server(self, item_id: int, problem: str) -> tuple[str, str]:
        """The item back to pending with the reason shown on its row, and no claim for a while."""
        reason = f"{WAITING}: {problem}"
        with self.sessions() as session, session.begin():
            session.execute(
                update(SendItem)
                .where(
                    SendItem.id == item_id,
                    SendItem.status == sending.SENDING,
                    SendItem.claimed_by == self.name,
                )
                .values(status=sending.PENDING, claimed_by=None, claimed_at=None, error=reason)
                .execution_options(synchronize_session=False)
            )
        seconds = min(self.pause * 2**self._pauses, MAX_PAUSE_SECONDS)
        self._pauses += 1
        self._paused_until = time.monotonic() + seconds
        log.warning("mail server unavailable, waiting %.0f s: %s", seconds, problem)
        return sending.PENDING, reason

    def _record(
        self, item_id: int, before: str, status: str, reason: str, *, claimer: str | None = None
    ) -> int:
        """Write an outcome if the item is still where we left it; returns rows changed."""
        now = self.now()
        values: dict[str, object] = {"status": status, "error": reason, "finished_at": now}
        if status == sending.SENT:
            values["sent_at"] = now
        with self.sessions() as session, session.begin():
            result = session.execute(
                update(SendItem)
                .where(
                    SendItem.id == item_id,
                    SendItem.status == before,
                    SendItem.claimed_by == (claimer or self.name),
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        if result.rowcount != 1:
            log.warning("send item %d changed under us; outcome %s not recorded", item_id, status)
        return result.rowcount

    def _release(self, item_id: int, claimer: str) -> int:
        with self.sessions() as session, session.begin():
            return session.execute(
                update(SendItem)
                .where(
                    SendItem.id == item_id,
                    SendItem.status == sending.PENDING,
                    SendItem.claimed_by == claimer,
                )
                .values(claimed_by=None, claimed_at=None)
                .execution_options(synchronize_session=False)
            ).rowcount

    def _abandoned(self, claimer: str, claimed_at: datetime | None) -> bool:
        if claimer == self.name:
            return False
        if claimed_at is None or self.now() - claimed_at > STALE_AFTER:
            return True
        host, _, rest = claimer.partition(":")
        pid = rest.partition(":")[0]
        if host != socket.gethostname() or not pid.isdigit():
            return False
        return not _process_alive(int(pid))

    def _work_left(self, run_id: int | None) -> bool:
        runs = select(SendRun.id).where(SendRun.status.in_(sending.ACTIVE_RUN_STATES))
        if run_id is not None:
            runs = runs.where(SendRun.id == run_id)
        with self.sessions() as session:
            return session.scalar(select(exists(runs))) or False

    def _write_counts(self, session: Session, run_id: int) -> None:
        counts = sending.counts(session, [run_id]).get(run_id, {})
        session.execute(
            update(SendRun)
            .where(SendRun.id == run_id)
            .values(
                sent=counts.get(sending.SENT, 0),
                failed=counts.get(sending.FAILED, 0),
                skipped=counts.get(sending.SKIPPED, 0),
                uncertain=counts.get(sending.UNCERTAIN, 0),
            )
            .execution_options(synchronize_session=False)
        )

    def _send_log(self, run_id: int) -> None:
        """The log email to whoever ran the send; a failure is kept on the run, not raised."""
        with self.sessions() as session:
            run = session.get_one(SendRun, run_id)
            text = sending.log_text(session, run)
        error = ""
        if not run.notify_email:
            error = f"el usuario {run.started_by} no tiene correo registrado"
        else:
            try:
                message = messages.log_message(
                    run, text, sending.log_name(run), mail_from=self.settings.mail_from
                )
                self.pacer.wait()
                self.transport.send(message)
            except mail.DeliveryError as exc:
                error = exc.reason
            except ValueError as exc:  # an address the email package will not put in a header
                error = f"el correo de {run.started_by} no sirve para enviarle el log ({exc})"
        with self.sessions() as session, session.begin():
            session.execute(
                update(SendRun)
                .where(SendRun.id == run_id)
                .values(log_sent_at=None if error else self.now(), log_error=error)
                .execution_options(synchronize_session=False)
            )
        if error:
            log.warning("log email of send run %d not sent: %s", run_id, error)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_background: dict[str, threading.Thread] = {}
_background_lock = threading.Lock()


def start_background(settings: Settings) -> threading.Thread:
    """The app's own worker thread (one per process and database); it makes no `st.*` call."""
    with _background_lock:
        thread = _background.get(settings.database_url)
        if thread is not None and thread.is_alive():
            return thread
        sessions = db.session_factory(db.create_engine_for(settings.database_url))
        thread = threading.Thread(
            target=_work_forever,
            args=(Worker(sessions, settings),),
            name="envio-masivo-worker",
            daemon=True,
        )
        thread.start()
        _background[settings.database_url] = thread
        return thread


def _work_forever(worker: Worker) -> None:
    """A database that goes away for a moment must not end the app's only worker."""
    stop = threading.Event()
    while True:
        try:
            worker.run(stop)
        except Exception:
            log.exception("send worker stopped by an error; starting again in 5 s")
            time.sleep(5)
