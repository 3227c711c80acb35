"""The bounce check: read the sender mailbox, record each bounce on its send item, and tell
the analyst of bounces that came after their run's log ("Rebotes del envío núm. N").

One reader at a time per mailbox, across threads, processes and machines: a worker claims the
mailbox's `MailboxCheck` row when it is due (`BOUNCE_CHECK_MINUTES`), as the log email is
claimed. The bookmark moves in the same transaction as the bounces of the messages read, every
BATCH messages, so a message is processed once even when a check dies half-way (what it read
after its last commit is read again, and a bounce already recorded is not recorded twice).
A bounce that matches no send of ours (another program's mail, a run deleted) is counted and
left alone; so is every message that is no bounce. A worker that dies while reading holds the
mailbox for STALE_AFTER, then another takes it from the bookmark.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from email.utils import parseaddr

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from lib.config import GRAPH_SCOPE, SMTP_SCOPE, Settings
from lib.mail import bounces, errors, pacing, transports
from lib.mail.mailbox import Mailbox, MailboxError
from lib.models import MailboxCheck, SendAddress, SendItem, SendRun, utcnow
from lib.sending import addresses
from lib.sending import log as runlog
from lib.sending.status import AddressOutcome

log = logging.getLogger(__name__)

BATCH = 100
STALE_AFTER = timedelta(minutes=30)
BUSY = "otro proceso está leyendo el buzón de rebotes en este momento"


@dataclass
class Result:
    mailbox: str
    read: int = 0
    matched: list[addresses.Bounced] = field(default_factory=list)
    unmatched: int = 0
    notices: list[int] = field(default_factory=list)
    error: str = ""

    def summary(self) -> str:
        """The CLI's last line."""
        text = (
            f"rebotes: {len(self.matched)} registrados, {self.unmatched} sin coincidencia "
            f"({self.read} mensajes leídos de {self.mailbox})"
        )
        if self.notices:
            text += "; avisos enviados: " + ", ".join(f"envío núm. {n}" for n in self.notices)
        return text


def mailbox_for(settings: Settings) -> Mailbox | None:
    """The reader `BOUNCE_CHECK` asks for; None when it is off."""
    from lib.mail import graph_inbox, imap, oauth

    check = settings.bounces
    if check.source == "graph" and settings.oauth is not None:
        scope = settings.oauth.scope if settings.mail_transport == "graph" else GRAPH_SCOPE
        return graph_inbox.GraphInbox(
            settings.graph_base_url,
            parseaddr(settings.mail_from)[1],
            oauth.Tokens(replace(settings.oauth, scope=scope)),
        )
    if check.source != "imap":
        return None
    tokens = None
    if check.imap_auth == "xoauth2" and settings.oauth is not None:
        scope = settings.oauth.scope if settings.mail_transport == "smtp" else SMTP_SCOPE
        tokens = oauth.Tokens(replace(settings.oauth, scope=scope))
    return imap.Imap(
        check.imap_host,
        check.imap_port,
        check.imap_security,
        check.imap_user,
        password=check.imap_password,
        tokens=tokens,
        folder=check.imap_folder,
    )


class Checker:
    """What one worker (or `lib.cli bounces`) needs to check: the mailbox, and the transport
    and pacer through which the notices go, as the run logs do.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        mailbox: Mailbox,
        *,
        transport: transports.Transport,
        pacer: pacing.Pacer,
        name: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.mailbox = mailbox
        self.transport = transport
        self.pacer = pacer
        self.name = name
        self.clock = clock

    def check(
        self, *, force: bool = False, on_bounce: Callable[[addresses.Bounced], None] | None = None
    ) -> Result | None:
        """Read what is new, if due (or `force`d) and no other worker is reading; None when
        it is not this worker's turn.
        """
        if not self._write(lambda s: self._claim(s, force)):
            return None
        result = Result(self.mailbox.name)
        try:
            self._read(result, on_bounce)
        except MailboxError as exc:
            result.error = exc.reason
            log.warning("bounce check of %s failed: %s", self.mailbox.name, exc.reason)
        finally:
            self._write(lambda s: self._release(s, result.error))
        result.notices = self.send_notices()
        return result

    def _read(self, result: Result, on_bounce: Callable[[addresses.Bounced], None] | None) -> None:
        with self.sessions() as session:
            cursor = session.get_one(MailboxCheck, self.mailbox.name).cursor
            since = _first_send_day(session)
        batch: list[tuple[bytes, str]] = []
        for fetched in self.mailbox.messages(cursor, since):
            batch.append((fetched.raw, fetched.cursor))
            if len(batch) == BATCH:
                self._record(batch, result, on_bounce)
                batch = []
        if batch:
            self._record(batch, result, on_bounce)

    def _record(
        self,
        batch: list[tuple[bytes, str]],
        result: Result,
        on_bounce: Callable[[addresses.Bounced], None] | None,
    ) -> None:
        """A batch's bounces and the bookmark after it, in one transaction."""
        found = [bounce for raw, _ in batch for bounce in _parsed(raw)]
        now = self.clock()
        with self.sessions() as session, session.begin():
            matched = [addresses.record_bounce(session, bounce, now) for bounce in found]
            addresses.recount(session, (hit.run_id for hit in matched if hit is not None))
            session.execute(
                update(MailboxCheck)
                .where(MailboxCheck.mailbox == self.mailbox.name)
                .values(cursor=batch[-1][1])
            )
        result.read += len(batch)
        for hit in matched:
            if hit is None:
                result.unmatched += 1
            else:
                result.matched.append(hit)
                if on_bounce is not None:
                    on_bounce(hit)

    def send_notices(self) -> list[int]:
        """One "Rebotes del envío núm. N" per run with bounces its log did not tell; what the
        mail server does not take now waits for the next check.
        """
        with self.sessions() as session:
            pending = _untold(session)
        sent = []
        for run_id, item_ids in pending.items():
            if self._notify(run_id, item_ids):
                sent.append(run_id)
        return sent

    def _notify(self, run_id: int, item_ids: list[int]) -> bool:
        with self.sessions() as session:
            run = session.get_one(SendRun, run_id)
            items = [session.get_one(SendItem, item_id) for item_id in item_ids]
            text = "".join(f"{runlog.line(run, item)}\r\n" for item in items)
        error = ""
        try:
            email = runlog.bounce_message(run, text, mail_from=self.settings.mail_from)
            self.pacer.wait()
            self.transport.send(email)
        except pacing.DailyLimit:
            return False  # told after the mailbox's day has room again
        except errors.DeliveryError as exc:
            if exc.unavailable:
                return False
            error = exc.reason
        except ValueError as exc:  # no usable address for the analyst
            error = str(exc)
        if error:
            log.warning("bounce notice of send run %d not sent: %s", run_id, error)
        now = self.clock()
        with self.sessions() as session, session.begin():
            session.execute(
                update(SendAddress)
                .where(
                    SendAddress.item_id.in_(item_ids),
                    SendAddress.outcome == AddressOutcome.BOUNCED,
                    SendAddress.reported_at.is_(None),
                )
                .values(reported_at=now)
            )
        return not error

    def _claim(self, session: Session, force: bool) -> bool:
        now = self.clock()
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(MailboxCheck)
            .values(mailbox=self.mailbox.name, cursor="", error="")
            .on_conflict_do_nothing(index_elements=["mailbox"])
        )
        due = (
            []
            if force
            else [or_(MailboxCheck.next_check_at.is_(None), MailboxCheck.next_check_at <= now)]
        )
        free = or_(MailboxCheck.claimed_by.is_(None), MailboxCheck.claimed_at < now - STALE_AFTER)
        claimed = session.execute(
            update(MailboxCheck)
            .where(MailboxCheck.mailbox == self.mailbox.name, free, *due)
            .values(claimed_by=self.name, claimed_at=now)
        )
        return claimed.rowcount == 1

    def _release(self, session: Session, error: str) -> None:
        now = self.clock()
        session.execute(
            update(MailboxCheck)
            .where(MailboxCheck.mailbox == self.mailbox.name, MailboxCheck.claimed_by == self.name)
            .values(
                claimed_by=None,
                claimed_at=None,
                checked_at=now,
                next_check_at=now + timedelta(minutes=self.settings.bounces.minutes),
                error=error,
            )
        )

    def _write(self, change: Callable[[Session], bool | None]) -> bool | None:
        with self.sessions() as session, session.begin():
            return change(session)


def _parsed(raw: bytes) -> Iterator[bounces.Bounce]:
    """A message's bounces; one the parser chokes on is logged and skipped, not retried."""
    try:
        yield from bounces.parse(raw)
    except Exception:
        log.exception("could not read a message of the bounce mailbox; skipped")


def _first_send_day(session: Session) -> date | None:
    """Bounces are of our sends: older mail in the mailbox is not read on the first check."""
    first = session.scalar(select(func.min(SendRun.created_at)))
    return first.date() - timedelta(days=1) if first else date.today()


def _untold(session: Session) -> dict[int, list[int]]:
    """Runs whose log is out, with the items that bounced since its text was written."""
    rows = session.execute(
        select(SendItem.run_id, SendItem.id)
        .join(SendAddress, SendAddress.item_id == SendItem.id)
        .join(SendRun, SendRun.id == SendItem.run_id)
        .where(
            SendAddress.outcome == AddressOutcome.BOUNCED,
            SendAddress.reported_at.is_(None),
            SendRun.log_sent_at.is_not(None),
            SendAddress.at >= SendRun.log_claimed_at,
        )
        .distinct()
        .order_by(SendItem.run_id, SendItem.id)
    )
    pending: dict[int, list[int]] = {}
    for run_id, item_id in rows:
        pending.setdefault(run_id, []).append(item_id)
    return pending
