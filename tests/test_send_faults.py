"""Faults an operator meets, against real parts: a mail server that resets or is busy for
everybody, a DATA command dropped or left unanswered, a database locked or down right after
the mail server took a message, a mail server away when the log email is due, `lib.cli send`
losing its database or being stopped by cron. Nobody is lost, nobody is emailed twice, every
run ends with its log.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from lib import config, db, users
from lib.config import PROJECT_ROOT
from lib.mail import pacing, smtp
from lib.models import SendRun
from lib.sending import queue, runs, worker
from lib.sending.status import ItemStatus, RunStatus
from tests import support
from tests.mailserver import Faults, MailServer
from tests.test_sending import (  # noqa: F401 - fixtures too (catalog, server, settings)
    ANALYST_EMAIL,
    CATALOG,
    FakeClock,
    Sleeps,
    catalog,
    command_env,
    finished_run,
    outcomes,
    server,
    settings,
    start_run,
    statement_mails,
    work,
)


def smtp_client(port: int, *, timeout: float = 5) -> smtp.Smtp:
    options = smtp.SmtpOptions("127.0.0.1", port, "none", "", "", timeout=timeout)
    return smtp.Smtp(options, sleep=Sleeps())


def server_wide(faults: Faults, on: bool) -> None:
    faults.hang_up_on_mail = 10**6 if on else 0


def busy_for_everybody(faults: Faults, on: bool) -> None:
    faults.mail_reply = "451 4.7.500 Server busy. Please try again later." if on else ""


@pytest.mark.parametrize("fault", [server_wide, busy_for_everybody])
def test_a_server_refusing_every_session_at_mail_from_pauses_the_run_instead_of_failing(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    server: MailServer,
    fault: Callable[[Faults, bool], None],
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273"])
    clock = FakeClock()
    transport = smtp_client(server.port)
    runner = worker.Worker(
        catalog, settings, transport=transport, pacer=pacing.Pacer(0), clock=clock
    )
    fault(server.faults, True)

    waited = runner.step(run_id)

    assert waited is not None
    assert waited.status == ItemStatus.PENDING
    assert waited.reason.startswith(worker.WAITING)
    assert {status for status, _ in outcomes(catalog, run_id).values()} == {ItemStatus.PENDING}
    assert runner.step(run_id) is None  # waiting, not claiming the next customer

    fault(server.faults, False)
    clock.seconds = runner._paused_until
    work(catalog, settings, transport, run_id)

    assert outcomes(catalog, run_id) == {
        "1006210": (ItemStatus.SENT, ""),
        "1004273": (ItemStatus.SENT, ""),
    }
    assert len(statement_mails(server)) == 2
    assert finished_run(catalog, run_id).log_sent_at is not None


def dropped(faults: Faults) -> None:
    faults.drop_on_data_command = 1


def unanswered(faults: Faults) -> None:
    faults.stall_data_command, faults.stall_seconds = 1, 2.0


@pytest.mark.parametrize("fault", [dropped, unanswered])
def test_a_data_command_that_gets_no_354_is_retried_not_made_uncertain(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    server: MailServer,
    fault: Callable[[Faults], None],
) -> None:
    run_id = start_run(catalog, ["1006210"])
    fault(server.faults)

    work(catalog, settings, smtp_client(server.port, timeout=1), run_id)

    assert outcomes(catalog, run_id) == {"1006210": (ItemStatus.SENT, "")}
    assert len(statement_mails(server)) == 1


def hold_sqlite_lock(path: str, seconds: float) -> Callable[[], None]:
    """An `on_message` fault: another program takes SQLite's write lock for `seconds` just
    before the mail server answers, so the worker meets it when it records the outcome."""

    def lock() -> None:
        locked = threading.Event()

        def hold() -> None:
            connection = sqlite3.connect(path, isolation_level=None)
            connection.execute("BEGIN EXCLUSIVE")
            locked.set()
            time.sleep(seconds)
            connection.execute("COMMIT")
            connection.close()

        threading.Thread(target=hold, daemon=True).start()
        locked.wait(5)

    return lock


@pytest.fixture
def short_busy_engine(database_url: str) -> Iterator[Engine]:
    """The test's SQLite database with a busy timeout of 0.3 s (the app's is 30 s)."""
    engine = db.create_engine_for(database_url, sqlite_busy_seconds=0.3)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_outcome_is_recorded_although_sqlite_stays_locked_past_its_busy_timeout(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    server: MailServer,
    short_busy_engine: Engine,
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273"])
    path = make_url(str(short_busy_engine.url)).database
    server.faults.on_message = hold_sqlite_lock(path, 1.5)

    work(db.session_factory(short_busy_engine), settings, smtp_client(server.port), run_id)

    assert outcomes(catalog, run_id) == {
        "1006210": (ItemStatus.SENT, ""),
        "1004273": (ItemStatus.SENT, ""),
    }
    assert len(statement_mails(server)) == 2
    run = finished_run(catalog, run_id)
    assert (run.status, run.sent) == (RunStatus.DONE, 2)
    assert len(server.to(ANALYST_EMAIL)) == 1


@pytest.fixture
def proxied(database_url: str, postgres_server: str) -> Iterator[tuple[str, support.TcpProxy]]:
    """The test's PostgreSQL database reached through a relay the test can cut."""
    url = make_url(database_url)
    proxy = support.TcpProxy(url.port or 5432)
    yield url.set(port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.cut()


def cut_for(proxy: support.TcpProxy, seconds: float) -> Callable[[], None]:
    """An `on_message` fault: the database goes away as the mail server takes the message."""

    def cut() -> None:
        proxy.cut()
        threading.Timer(seconds, proxy.restore).start()

    return cut


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_outcome_is_recorded_although_postgresql_is_down_for_a_few_seconds(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    server: MailServer,
    proxied: tuple[str, support.TcpProxy],
) -> None:
    url, proxy = proxied
    run_id = start_run(catalog, ["1006210"])
    engine = db.create_engine_for(url)
    server.faults.on_message = cut_for(proxy, 2.0)
    try:
        work(db.session_factory(engine), settings, smtp_client(server.port), run_id)
    finally:
        engine.dispose()

    assert outcomes(catalog, run_id) == {"1006210": (ItemStatus.SENT, "")}
    assert len(statement_mails(server)) == 1
    assert finished_run(catalog, run_id).log_sent_at is not None


class LockBeforeSending(pacing.Pacer):
    """Takes SQLite's write lock for a moment right before the worker marks its first item
    `sending`: that write fails and the worker's loop ends with the item claimed."""

    def __init__(self, path: str) -> None:
        super().__init__(0)
        self.lock: Callable[[], None] | None = hold_sqlite_lock(path, 1.0)

    def wait(self, recipients: int = 1) -> None:
        if self.lock is not None:
            lock, self.lock = self.lock, None
            lock()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_worker_loop_started_again_after_an_error_recovers_what_it_had_claimed(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    server: MailServer,
    short_busy_engine: Engine,
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273"])
    path = make_url(str(short_busy_engine.url)).database
    runner = worker.Worker(
        db.session_factory(short_busy_engine),
        settings,
        transport=smtp_client(server.port),
        pacer=LockBeforeSending(path),
    )
    stop = threading.Event()
    with pytest.raises(sa.exc.OperationalError):
        runner.run(stop, run_id=run_id, until_idle=True, poll=0.01)
    assert outcomes(catalog, run_id)["1006210"][0] == ItemStatus.PENDING

    time.sleep(1.0)  # processes.work waits too before it starts the loop again
    timer = threading.Timer(30, stop.set)
    timer.start()
    try:
        runner.run(stop, run_id=run_id, until_idle=True, poll=0.01)
    finally:
        timer.cancel()

    assert not stop.is_set(), "the run did not finish"
    assert outcomes(catalog, run_id) == {
        "1006210": (ItemStatus.SENT, ""),
        "1004273": (ItemStatus.SENT, ""),
    }
    assert len(statement_mails(server)) == 2
    assert len(server.to(ANALYST_EMAIL)) == 1


def test_a_log_email_due_while_the_mail_server_is_down_goes_out_once_it_is_back(
    catalog: sessionmaker[Session], settings: config.Settings
) -> None:
    run_id = start_run(catalog, ["1006210"])
    first = MailServer()
    with first:
        runner = worker.Worker(
            catalog, settings, transport=smtp_client(first.port), pacer=pacing.Pacer(0)
        )
        assert runner.step(run_id).status == ItemStatus.SENT
    runner.finish_runs()  # the server is gone just when the log is due

    waiting = finished_run(catalog, run_id)
    assert (waiting.status, waiting.log_sent_at, waiting.log_error) == (RunStatus.DONE, None, "")
    assert waiting.log_claimed_by is None  # any worker may send it
    assert runner.paused

    with MailServer(port=first.port) as back:
        work(catalog, settings, smtp_client(back.port))  # another worker, later
        (log_mail,) = back.to(ANALYST_EMAIL)
    assert statement_mails(back) == []
    assert next(log_mail.message.iter_attachments()).get_filename() == "LogEnvioMasivo_20261129.txt"
    assert finished_run(catalog, run_id).log_sent_at is not None


def cli_send(database_url: str, port: int, data_dir: Path, *args: str) -> subprocess.Popen[str]:
    """`python -m lib.cli send` as cron runs it, sending to the test's SMTP server."""
    command = [sys.executable, "-m", "lib.cli", "send", "--sociedad", "SM02", "--user", "ana"]
    return subprocess.Popen(
        [*command, "--fecha-corte", "2026-11-28", *args],
        cwd=PROJECT_ROOT,
        env=command_env(database_url, port, data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def output_of(command: subprocess.Popen[str]) -> str:
    """What the command printed once it ended; it and its worker processes are killed if it
    has not ended in three minutes."""
    try:
        return command.communicate(timeout=180)[0]
    except subprocess.TimeoutExpired:
        os.killpg(command.pid, signal.SIGKILL)
        raise


@pytest.fixture
def analyst(catalog: sessionmaker[Session]) -> sessionmaker[Session]:
    with catalog() as session, session.begin():
        users.create_user(
            session,
            username="ana",
            name="Ana",
            email=ANALYST_EMAIL,
            role="analista",
            password="clave-de-ana-1",
            created_by="test",
        )
    return catalog


def runs_of(sessions: sessionmaker[Session]) -> list[SendRun]:
    with sessions() as session:
        return list(session.scalars(sa.select(SendRun).order_by(SendRun.id)))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_cli_send_finishes_its_run_although_the_database_goes_away_meanwhile(
    analyst: sessionmaker[Session],
    server: MailServer,
    proxied: tuple[str, support.TcpProxy],
    tmp_path: Path,
) -> None:
    url, proxy = proxied
    server.faults.on_message = cut_for(proxy, 3.0)
    sending = cli_send(url, server.port, tmp_path / "data", "--procesos", "1")
    output = output_of(sending)

    assert sending.returncode == 0, output
    assert "resumen: 5 clientes, enviados 5" in output
    assert sorted(m.recipients[0] for m in statement_mails(server)) == sorted(
        address.split(";")[0] for _, address in CATALOG.values()
    )
    (run,) = runs_of(analyst)
    assert (run.status, run.sent) == (RunStatus.DONE, 5)
    assert len(server.to(ANALYST_EMAIL)) == 1

    server.faults.on_message = None
    again = cli_send(url, server.port, tmp_path / "data", "--procesos", "1")
    output = output_of(again)
    assert again.returncode == 0, output  # not refused as "ya están en un envío en curso"


def test_cli_send_stopped_by_cron_closes_its_run_so_the_next_send_can_go(
    analyst: sessionmaker[Session], server: MailServer, database_url: str, tmp_path: Path
) -> None:
    server.faults.stall_data = threading.Event()
    sending = cli_send(database_url, server.port, tmp_path / "data", "--procesos", "1")
    assert server.handler.in_data.wait(60)
    sending.send_signal(signal.SIGTERM)  # what `timeout` sends
    time.sleep(0.5)
    server.faults.stall_data.set()
    output = output_of(sending)

    assert sending.returncode == 1, output
    assert "envío núm. 1 interrumpido: 4 clientes quedaron sin enviar" in output
    (run,) = runs_of(analyst)
    assert (run.status, run.sent, run.failed, queue.stopped(run)) == (RunStatus.DONE, 1, 0, 4)
    assert set(outcomes(analyst, run.id).values()) == {
        (ItemStatus.SENT, ""),
        (ItemStatus.STOPPED, "envío interrumpido (se detuvo lib.cli send antes de enviarlo)"),
    }
    assert len(statement_mails(server)) == 1
    assert len(server.to(ANALYST_EMAIL)) == 1

    server.handler.in_data.clear()
    server.faults.stall_data = None
    again = cli_send(database_url, server.port, tmp_path / "data", "--procesos", "1")
    output = output_of(again)
    assert again.returncode == 0, output
    with analyst() as session:
        assert runs.progress(session, 2).run.sent == 5
