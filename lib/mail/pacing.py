"""Pacing per sender mailbox, shared by every worker thread and process on every machine.

Exchange Online takes 30 messages a minute and 10,000 recipients a day per mailbox, whoever
sends them: two workers pacing themselves apart would send 60 a minute. So the mailbox's next
free moment is a database row (`MailboxPace`), moved on under a lock by whichever worker sends
next, and the recipients of the last 24 hours are counted from `MailboxUse`. Messages are
spaced evenly (no bursts); the outbox is never paced.

With no rate limit (a relay of your own) and only the daily limit, a worker takes RESERVE
recipients of the day at a time instead of one transaction per message, which would make
every worker wait for the same row: what a stopped worker took and did not use stays counted
for the day (at most RESERVE per worker).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lib.config import Settings
from lib.models import MailboxPace, MailboxUse, utcnow

DAY = timedelta(hours=24)
RESERVE = 50
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class DailyLimit(Exception):
    """The mailbox has had its day's recipients; the next one fits at `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"daily limit reached until {until.isoformat()}")
        self.until = until


class Pacer:
    """At most `per_minute` messages a minute and `daily_limit` recipients in any 24 hours
    (0: no limit) from one mailbox, for every `Pacer` of that mailbox on the same database.
    The clock and sleep are injectable so the pacing is tested without waiting.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        daily_limit: int = 0,
        sessions: sessionmaker[Session] | None = None,
        mailbox: str = "",
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = timedelta(minutes=1) / per_minute if per_minute > 0 else timedelta(0)
        self.daily_limit = daily_limit
        self.sessions = sessions
        self.mailbox = mailbox.lower()
        self.clock = clock
        self.sleep = sleep
        self._reserved = 0  # recipients of the day taken and not used yet (no rate limit only)
        if self.sessions is None and (self.interval or daily_limit):
            raise ValueError("a paced mailbox needs the database its workers share")

    def wait(self, recipients: int = 1) -> None:
        """Block until this message's moment; `DailyLimit` when it would pass the day's."""
        if self.sessions is None or not (self.interval or self.daily_limit):
            return
        if not self.interval and self._reserved >= recipients:
            self._reserved -= recipients
            return
        now = self.clock()
        taken = recipients if self.interval else max(recipients, RESERVE)
        with self.sessions() as session, session.begin():
            pace = _locked(session, self.mailbox)
            if self.daily_limit:
                taken = self._take_from_day(session, now, recipients, taken)
            slot = max(pace.next_slot, now)
            pace.next_slot = slot + self.interval
            session.add(MailboxUse(mailbox=self.mailbox, at=slot, recipients=taken))
        self._reserved += taken - recipients
        if slot > now:
            self.sleep((slot - now).total_seconds())

    def _take_from_day(self, session: Session, now: datetime, needed: int, wanted: int) -> int:
        """Up to `wanted` recipients of the day's room, at least `needed`; else `DailyLimit`."""
        since = now - DAY
        session.execute(
            delete(MailboxUse).where(MailboxUse.mailbox == self.mailbox, MailboxUse.at <= since)
        )
        used = session.scalar(
            select(func.coalesce(func.sum(MailboxUse.recipients), 0)).where(
                MailboxUse.mailbox == self.mailbox
            )
        )
        room = self.daily_limit - used
        if room >= needed:
            return min(wanted, room)
        over = needed - room
        freed = 0
        for at, count in session.execute(
            select(MailboxUse.at, MailboxUse.recipients)
            .where(MailboxUse.mailbox == self.mailbox)
            .order_by(MailboxUse.at)
        ):
            freed += count
            if freed >= over:
                raise DailyLimit(at + DAY)
        raise DailyLimit(now + DAY)


def for_settings(settings: Settings, sessions: sessionmaker[Session], mailbox: str = "") -> Pacer:
    """A mailbox's pacer (MAIL_FROM's by default): MAIL_RATE_PER_MINUTE and MAIL_DAILY_LIMIT
    are each sender mailbox's."""
    if settings.mail_transport == "outbox":
        return Pacer(0)
    return Pacer(
        settings.mail_rate_per_minute,
        daily_limit=settings.mail_daily_limit,
        sessions=sessions,
        mailbox=mailbox or parseaddr(settings.mail_from)[1],
    )


class Pacers:
    """One pacer per From address: a sociedad with its own sender mailbox is paced on that
    mailbox's limits, apart from MAIL_FROM's. A pacer given (tests) paces every From."""

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], given: Pacer | None = None
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.given = given
        self._by_mailbox: dict[str, Pacer] = {}

    @property
    def default(self) -> Pacer:
        return self.of(self.settings.mail_from)

    def of(self, from_header: str) -> Pacer:
        if self.given is not None:
            return self.given
        mailbox = parseaddr(from_header)[1].lower() or parseaddr(self.settings.mail_from)[1]
        if mailbox not in self._by_mailbox:
            self._by_mailbox[mailbox] = for_settings(self.settings, self.sessions, mailbox)
        return self._by_mailbox[mailbox]


def _locked(session: Session, mailbox: str) -> MailboxPace:
    """The mailbox's row, created on first use, locked until the transaction ends (the UPDATE
    takes SQLite's write lock or PostgreSQL's row lock, so workers take turns)."""
    touch = update(MailboxPace).where(MailboxPace.mailbox == mailbox)
    if session.execute(touch.values(mailbox=MailboxPace.mailbox)).rowcount == 0:
        try:
            with session.begin_nested():
                session.add(MailboxPace(mailbox=mailbox, next_slot=EPOCH))
        except IntegrityError:  # another worker created it meanwhile; its lock is next
            session.execute(touch.values(mailbox=MailboxPace.mailbox))
    return session.execute(
        select(MailboxPace)
        .where(MailboxPace.mailbox == mailbox)
        .execution_options(populate_existing=True)
    ).scalar_one()
