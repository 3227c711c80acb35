"""The sender mailbox's limits hold whatever the number of workers: MAIL_RATE_PER_MINUTE per
From address, shared through the database; MAIL_DAILY_LIMIT recipients in any 24 hours, a run
pausing at the cap and going on by itself; throttling replies pause instead of failing.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from lib import config, db
from lib.config import PROJECT_ROOT
from lib.mail import pacing
from lib.models import Customer, MailboxUse, Recipient
from lib.sending import runs, worker
from lib.sending.status import ItemStatus
from tests.mailserver import MailServer
from tests.test_sending import (  # noqa: F401 - fixtures too (catalog, server, settings)
    ANALYST_EMAIL,
    CUTOFF,
    Sleeps,
    catalog,
    command_env,
    outcomes,
    server,
    settings,
    smtp_to,
    start_run,
    statement_mails,
)

MAILBOX = "cobranza@bajio.example"


class Clock:
    """Wall and monotonic time moved together by the test; `sleep` moves them too."""

    def __init__(self) -> None:
        self.wall = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
        self.seconds = 1000.0
        self.slept = Sleeps()

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.seconds += seconds

    def sleep(self, seconds: float) -> None:
        self.slept(seconds)
        self.advance(seconds)


def pacer(sessions: sessionmaker[Session], clock: Clock, **limits: float) -> pacing.Pacer:
    per_minute = limits.pop("per_minute", 0)
    return pacing.Pacer(
        per_minute,
        sessions=sessions,
        mailbox=MAILBOX,
        clock=clock.now,
        sleep=clock.sleep,
        **limits,  # type: ignore[arg-type]
    )


def test_messages_are_spaced_evenly_without_sleeping_when_already_late(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    paced = pacer(sessions, clock, per_minute=30)

    paced.wait()
    paced.wait()
    clock.advance(0.5)
    paced.wait()
    clock.advance(10.0)
    paced.wait()

    assert clock.slept == [2.0, 1.5]


def test_no_pacing_and_no_database_when_nothing_is_limited() -> None:
    clock = Clock()
    unpaced = pacing.Pacer(0, clock=clock.now, sleep=clock.sleep)
    for _ in range(5):
        unpaced.wait()
    assert clock.slept == []
    with pytest.raises(ValueError, match="needs the database"):
        pacing.Pacer(30)


def test_two_workers_on_one_mailbox_share_its_rate(engine: Engine) -> None:
    """Each worker with its own connection pool, as two processes have: the slots they are
    given interleave two seconds apart (30 a minute), not two seconds apart each."""
    other = db.create_engine_for(engine.url)
    clock = Clock()
    slots: list[tuple[str, datetime]] = []

    def sleep_to(name: str) -> pacing.Pacer:
        def record(seconds: float) -> None:
            slots.append((name, clock.wall + timedelta(seconds=seconds)))

        return pacing.Pacer(
            30,
            sessions=db.session_factory(engine if name == "a" else other),
            mailbox=MAILBOX,
            clock=clock.now,
            sleep=record,
        )

    first, second = sleep_to("a"), sleep_to("b")
    for _ in range(10):
        first.wait()
        second.wait()
    other.dispose()

    times = [at for _, at in slots]
    gaps = {(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)}
    assert gaps == {2.0}
    assert len(times) == 19  # the very first message went at once
    assert {name for name, _ in slots} == {"a", "b"}


def test_each_sender_mailbox_has_its_own_rate(sessions: sessionmaker[Session]) -> None:
    clock = Clock()
    ours = pacer(sessions, clock, per_minute=30)
    theirs = pacing.Pacer(
        30, sessions=sessions, mailbox="otra@bajio.example", clock=clock.now, sleep=clock.sleep
    )
    ours.wait()
    theirs.wait()
    assert clock.slept == []


def test_the_daily_limit_counts_recipients_over_a_rolling_day(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock()
    limited = pacer(sessions, clock, per_minute=60, daily_limit=5)
    start = clock.wall
    limited.wait(2)
    clock.advance(3600)
    limited.wait(3)

    with pytest.raises(pacing.DailyLimit) as reached:
        limited.wait(1)
    assert reached.value.until == start + timedelta(hours=24)

    clock.wall = start + timedelta(hours=24, seconds=1)
    limited.wait(2)  # the first two left the window
    with pytest.raises(pacing.DailyLimit) as again:
        limited.wait(1)
    assert again.value.until == start + timedelta(hours=25)
    with sessions() as session:
        kept = session.scalar(select(func.sum(MailboxUse.recipients)))
    assert kept == 5  # what left the window is deleted


def test_with_only_the_daily_limit_workers_take_the_day_in_blocks(
    sessions: sessionmaker[Session],
) -> None:
    """No transaction per message: a worker takes RESERVE recipients at a time, and the
    others see them taken."""
    clock = Clock()
    first = pacer(sessions, clock, daily_limit=pacing.RESERVE + 10)
    second = pacer(sessions, clock, daily_limit=pacing.RESERVE + 10)

    for _ in range(pacing.RESERVE):
        first.wait()
    second.wait(10)
    with pytest.raises(pacing.DailyLimit):
        first.wait()
    with pytest.raises(pacing.DailyLimit):
        second.wait()
    with sessions() as session:
        rows = session.scalars(select(MailboxUse.recipients).order_by(MailboxUse.id)).all()
    assert rows == [pacing.RESERVE, 10]


def test_at_the_daily_cap_the_run_pauses_with_the_time_it_goes_on_and_then_goes_on(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    clock = Clock()
    limited = pacer(catalog, clock, daily_limit=3)  # 1006210 has two addresses
    run_id = start_run(catalog, ["1006210", "1004273", "1000001"])
    runner = worker.Worker(
        catalog, settings, transport=smtp_to(server.port), pacer=limited, clock=clock
    )

    assert runner.step(run_id).status == ItemStatus.SENT
    assert runner.step(run_id).status == ItemStatus.SENT
    paused = runner.step(run_id)

    tomorrow = "02/12/2026 09:00"  # 15:00 UTC + 24 h, in Mexico City
    assert paused.status == ItemStatus.PENDING
    assert paused.reason == f"límite diario del buzón alcanzado; continúa el {tomorrow}"
    assert runner.step(run_id) is None  # no claim while the mailbox is full
    with catalog() as session:
        assert runs.progress(session, run_id).waiting == paused.reason
    assert len(server.received) == 2

    clock.advance(24 * 3600)
    runner.run(threading.Event(), run_id=run_id, until_idle=True, poll=0.01)

    assert {status for status, _ in outcomes(catalog, run_id).values()} == {ItemStatus.SENT}
    assert len(server.to(ANALYST_EMAIL)) == 1


@pytest.mark.parametrize(
    ("where", "reply"),
    [
        ("data", "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException"),
        ("data", "421 4.3.2 The maximum number of concurrent connections has been exceeded"),
        ("rcpt", "452 4.5.3 Too many recipients"),
        ("data", "550 5.7.708 Service unavailable. Access denied, traffic not accepted"),
    ],
)
def test_a_throttling_reply_pauses_the_run_and_fails_nobody(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    server: MailServer,
    where: str,
    reply: str,
) -> None:
    run_id = start_run(catalog, ["1004273", "1000001"])
    if where == "data":
        server.faults.temporary, server.faults.temporary_reply = 10**6, reply
    else:
        server.faults.refuse["plumbers@plumbers.example"] = reply
    clock = Clock()
    runner = worker.Worker(
        catalog,
        settings,
        transport=smtp_to(server.port, attempts=1),
        pacer=pacing.Pacer(0),
        clock=clock,
    )

    paused = runner.step(run_id)

    assert paused.status == ItemStatus.PENDING
    assert paused.reason.startswith(f"{worker.WAITING}: el servidor limita los envíos del buzón")
    assert runner.step(run_id) is None
    assert {status for status, _ in outcomes(catalog, run_id).values()} == {ItemStatus.PENDING}

    server.faults.temporary = 0
    server.faults.refuse.clear()
    clock.advance(worker.MAX_PAUSE_SECONDS)
    runner.run(threading.Event(), run_id=run_id, until_idle=True, poll=0.01)
    assert {status for status, _ in outcomes(catalog, run_id).values()} == {ItemStatus.SENT}


def test_the_outbox_is_never_paced(settings: config.Settings) -> None:
    assert settings.mail_transport == "outbox"
    assert pacing.for_settings(settings, sessionmaker()).sessions is None


def test_two_worker_processes_hold_the_mailboxs_rate_within_five_percent(
    catalog: sessionmaker[Session], database_url: str, server: MailServer, tmp_path: Path
) -> None:
    """Real time, real processes: `lib.cli worker --once --procesos 2` at 240 a minute."""
    with catalog() as session, session.begin():
        for n in range(20):
            number = f"{2_000_000 + n}"
            session.add(Customer(company_code="SM02", customer_no=number, name=f"CLIENTE {n}"))
            session.flush()
            address = f"c{n}@clientes.example"
            session.add(Recipient(company_code="SM02", customer_no=number, emails=address,
                                  created_by="t", updated_by="t"))  # fmt: skip
    with catalog() as session:
        numbers = [c.customer_no for c in runs.candidates(session, "SM02", None, CUTOFF)]
    start_run(catalog, numbers)
    env = command_env(database_url, server.port, tmp_path / "data")
    env |= {"MAIL_RATE_PER_MINUTE": "240", "MAIL_FROM": f"Cobranza <{MAILBOX}>"}
    subprocess.run(
        [sys.executable, "-m", "lib.cli", "worker", "--once", "--procesos", "2"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )

    statements = statement_mails(server)
    message_ids = [m.message["Message-ID"] for m in statements]
    assert len(message_ids) == len(set(message_ids)) == len(numbers)
    times = sorted(m.at for m in statements)
    rate = (len(times) - 1) / (times[-1] - times[0]) * 60
    assert 240 * 0.95 <= rate <= 240 * 1.05, f"{rate:.1f} a minute"
