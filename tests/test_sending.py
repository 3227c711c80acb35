"""Send runs end to end: real SQLite/PostgreSQL, real SMTP exchanges with aiosmtpd on loopback."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker

from lib import config
from lib.config import PROJECT_ROOT
from lib.mail import outbox, pacing, smtp, transports
from lib.models import Company, Customer, OpenItem, Recipient, SendItem, SendRun, utcnow
from lib.normalize import InvalidValue
from lib.sending import log as runlog
from lib.sending import queue, runs, worker
from lib.sending.status import ItemStatus, RunStatus
from tests.mailserver import MailServer

CUTOFF = date(2026, 11, 28)
RUN_DATE = date(2026, 11, 29)
CATALOG = {
    "1006210": ("PEÑA & HIJOS <SA> DE CV", "pagos@pena.example;cxp@pena.example"),
    "1004273": ("PLUMBERS CENTER SA DE CV", "plumbers@plumbers.example"),
    "1000001": ("ÑANDÚ SA", "nandu@nandu.example"),
    "1000002": ("SIN SALDO SA", "saldo@cero.example"),
    "1000003": ("TUBOS DEL NORTE", "tubos@norte.example"),
}
ANALYST_EMAIL = "ana@finanzas.example"


class FakeClock:
    """The worker's clock, moved by the test: no sleeping, no patching of `time`."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return self.seconds


@pytest.fixture
def settings(tmp_path: Path) -> config.Settings:
    return config.load_settings(
        tmp_path / "no-secrets.toml",
        {"DATA_DIR": str(tmp_path / "data"), "MAIL_FROM": "Cobranza <cobranza@bajio.example>"},
    )


@pytest.fixture
def catalog(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """SM02 with five catalog customers; all but 1000002 owe something."""
    with sessions() as session, session.begin():
        session.add(Company(code="SM02", name="Soluciones del Bajío", tax_id="SBA950612AB3"))
        session.flush()
        for number, (name, _) in CATALOG.items():
            session.add(Customer(company_code="SM02", customer_no=number, name=name))
        session.add(Customer(company_code="SM02", customer_no="1009999", name="FUERA DEL CATÁLOGO"))
        session.flush()
        for number, (_, addresses) in CATALOG.items():
            session.add(Recipient(company_code="SM02", customer_no=number, emails=addresses,
                                  created_by="seed", updated_by="seed"))  # fmt: skip
            amount = Decimal("0") if number == "1000002" else Decimal("1500.25")
            session.add(OpenItem(company_code="SM02", customer_no=number, doc_no=f"F-{number}",
                                 doc_type="Factura", doc_date=CUTOFF - timedelta(days=40),
                                 due_date=CUTOFF - timedelta(days=10), reference="",
                                 amount=amount, open_amount=amount, currency="MXN"))  # fmt: skip
    return sessions


def start_run(
    sessions: sessionmaker[Session], numbers: list[str] | None = None, **options: object
) -> int:
    with sessions() as session, session.begin():
        run = runs.create_run(
            session,
            username="ana",
            notify_email=ANALYST_EMAIL,
            keys=[("SM02", number) for number in (numbers or list(CATALOG))],
            cutoff=CUTOFF,
            run_date=RUN_DATE,
            company_filter="SM02",
            **options,  # type: ignore[arg-type]
        )
        return run.id


@pytest.fixture
def server() -> Iterator[MailServer]:
    with MailServer() as running:
        yield running


class Sleeps(list[float]):
    """An injectable sleep that records what it was asked to wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def smtp_to(port: int, sleeps: Sleeps | None = None, **options: object) -> smtp.Smtp:
    settings = smtp.SmtpOptions("127.0.0.1", port, "none", "", "", timeout=5, **options)  # type: ignore[arg-type]
    return smtp.Smtp(settings, sleep=sleeps if sleeps is not None else Sleeps())


def work(
    sessions: sessionmaker[Session],
    settings: config.Settings,
    transport: transports.Transport,
    run_id: int | None = None,
) -> worker.Worker:
    """Run the worker until nothing is left; a run still waiting after a minute fails the test
    (a mail server that took nothing would otherwise be waited for forever)."""
    runner = worker.Worker(sessions, settings, transport=transport, pacer=pacing.Pacer(0))
    work_until_idle(runner, run_id)
    return runner


def work_until_idle(runner: worker.Worker, run_id: int | None = None) -> None:
    """`runner` until nothing is left; still waiting after a minute fails the test."""
    stop = threading.Event()
    timer = threading.Timer(60, stop.set)
    timer.start()
    try:
        runner.run(stop, run_id=run_id, until_idle=True, poll=0.01)
    finally:
        timer.cancel()
    assert not stop.is_set(), "the worker was still waiting after a minute"


def outcomes(sessions: sessionmaker[Session], run_id: int) -> dict[str, tuple[str, str]]:
    with sessions() as session:
        return {i.customer_no: (i.status, i.error) for i in runs.items(session, run_id)}


def finished_run(sessions: sessionmaker[Session], run_id: int) -> SendRun:
    with sessions() as session:
        return runs.progress(session, run_id).run


def statement_mails(server: MailServer) -> list:
    return [m for m in server.received if ANALYST_EMAIL not in m.recipients]


def test_each_selected_customer_gets_one_email_with_its_pdf(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273", "1000001"])

    work(catalog, settings, smtp_to(server.port))

    mails = statement_mails(server)
    assert sorted(m.recipients[0] for m in mails) == [
        "nandu@nandu.example",
        "pagos@pena.example",
        "plumbers@plumbers.example",
    ]
    pena = server.to("pagos@pena.example")[0]
    assert pena.recipients == ["pagos@pena.example", "cxp@pena.example"]
    assert pena.mail_from == "cobranza@bajio.example"
    message = pena.message
    assert "PEÑA & HIJOS <SA> DE CV" in message["Subject"] or "1006210" in message["Subject"]
    attachment = next(message.iter_attachments())
    assert attachment.get_filename() == "1006210_20261129.pdf"
    assert attachment.get_content_type() == "application/pdf"
    text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(attachment.get_content())).pages
    )
    assert "F-1006210" in text
    assert "F-1004273" not in text
    with catalog() as session:
        items = runs.items(session, run_id)
    assert {i.status for i in items} == {ItemStatus.SENT}
    assert all(i.message_id and i.sent_at and len(i.pdf_sha256 or "") == 64 for i in items)
    assert {i.message_id for i in items} == {m.message["Message-ID"] for m in mails}


def test_the_log_email_carries_one_line_per_customer_in_the_manual_format(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.refuse["tubos@norte.example"] = "550 5.1.1 Buzón inexistente"
    run_id = start_run(catalog, ["1006210", "1000003"])

    work(catalog, settings, smtp_to(server.port))

    (log_mail,) = server.to(ANALYST_EMAIL)
    attachment = next(log_mail.message.iter_attachments())
    assert attachment.get_filename() == "LogEnvioMasivo_20261129.txt"
    assert attachment.get_content().splitlines() == [
        "Sociedad: SM02 | NoCliente: 1006210 | FechaCorte: 20261128 | "
        "NombreCliente: PEÑA & HIJOS <SA> DE CV | "
        "CorreoDestino: pagos@pena.example;cxp@pena.example | Enviado: ok",
        "Sociedad: SM02 | NoCliente: 1000003 | FechaCorte: 20261128 | "
        "NombreCliente: TUBOS DEL NORTE | CorreoDestino: tubos@norte.example | "
        "Enviado: error: tubos@norte.example: rechazado: 550 5.1.1 Buzón inexistente",
    ]
    run = finished_run(catalog, run_id)
    assert (run.status, run.sent, run.failed, run.log_error) == (RunStatus.DONE, 1, 1, "")
    assert run.log_sent_at is not None


def test_a_refused_customer_fails_alone_and_the_run_goes_on(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.refuse["plumbers@plumbers.example"] = "550 5.7.1 Relay denied"
    run_id = start_run(catalog)

    work(catalog, settings, smtp_to(server.port))

    result = outcomes(catalog, run_id)
    assert result["1004273"] == (
        ItemStatus.FAILED, "plumbers@plumbers.example: rechazado: 550 5.7.1 Relay denied"
    )  # fmt: skip
    assert [n for n, (status, _) in result.items() if status == ItemStatus.SENT] == [
        "1006210", "1000001", "1000002", "1000003"
    ]  # fmt: skip


def test_smtp_down_pauses_the_run_and_it_goes_on_alone_once_the_server_answers(
    catalog: sessionmaker[Session], settings: config.Settings, unused_port: int
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273"])
    sleeps = Sleeps()
    transport = smtp_to(unused_port, sleeps, attempts=3, backoff=2.0)
    runner = worker.Worker(catalog, settings, transport=transport, pacer=pacing.Pacer(0), pause=0.3)

    waited = runner.step(run_id)

    assert waited is not None
    assert waited.status == ItemStatus.PENDING
    assert waited.reason.startswith(f"{worker.WAITING}: sin conexión con el servidor SMTP: ")
    assert waited.reason.endswith("(tras 3 intentos)")
    assert sleeps == [2.0, 4.0]
    assert runner.step(run_id) is None  # waiting: no customer is taken meanwhile
    assert outcomes(catalog, run_id) == {
        "1006210": (ItemStatus.PENDING, waited.reason),
        "1004273": (ItemStatus.PENDING, ""),
    }
    with catalog() as session:
        shown = runs.progress(session, run_id)
        assert shown.waiting == waited.reason
        assert shown.run.status == RunStatus.RUNNING
        assert shown.done == 0

    with MailServer(port=unused_port) as server:
        runner.run(threading.Event(), run_id=run_id, until_idle=True, poll=0.05)

    assert outcomes(catalog, run_id) == {
        "1006210": (ItemStatus.SENT, ""),
        "1004273": (ItemStatus.SENT, ""),
    }
    customers = sorted(m.recipients[0] for m in statement_mails(server))
    assert customers == ["pagos@pena.example", "plumbers@plumbers.example"]
    run = finished_run(catalog, run_id)
    assert (run.status, run.sent, run.failed) == (RunStatus.DONE, 2, 0)
    assert run.log_sent_at is not None
    with catalog() as session:
        assert runs.progress(session, run_id).waiting == ""


def test_the_wait_for_the_mail_server_doubles_up_to_a_limit(
    catalog: sessionmaker[Session], settings: config.Settings, unused_port: int
) -> None:
    start_run(catalog, ["1006210"])
    clock = FakeClock()
    runner = worker.Worker(
        catalog,
        settings,
        transport=smtp_to(unused_port, attempts=1),
        pacer=pacing.Pacer(0),
        clock=clock,
    )
    waits = []
    for _ in range(7):
        assert runner.step() is not None
        waits.append(runner._paused_until - clock.seconds)
        assert runner.step() is None
        clock.seconds = runner._paused_until
    assert waits == [15.0, 30.0, 60.0, 120.0, 240.0, 300.0, 300.0]


def test_stopping_a_run_that_waits_for_the_server_leaves_everyone_stopped(
    catalog: sessionmaker[Session], settings: config.Settings, unused_port: int
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273"])
    runner = worker.Worker(
        catalog, settings, transport=smtp_to(unused_port, attempts=1), pacer=pacing.Pacer(0)
    )
    assert runner.step(run_id) is not None
    with catalog() as session, session.begin():
        assert runs.stop(session, run_id, username="ana") == 2
    runner.finish_runs()
    result = outcomes(catalog, run_id)
    assert result == {
        "1006210": (ItemStatus.STOPPED, "envío detenido por ana"),
        "1004273": (ItemStatus.STOPPED, "envío detenido por ana"),
    }
    assert finished_run(catalog, run_id).status == RunStatus.DONE


def test_a_connection_dropped_between_messages_is_reopened_without_loss_or_double(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = start_run(catalog)
    transport = smtp_to(server.port)
    runner = worker.Worker(catalog, settings, transport=transport, pacer=pacing.Pacer(0))
    runner.step(run_id)
    runner.step(run_id)
    server.faults.hang_up_on_mail = 1

    work(catalog, settings, transport, run_id)

    assert {status for status, _ in outcomes(catalog, run_id).values()} == {ItemStatus.SENT}
    customers = [m.recipients[0] for m in statement_mails(server)]
    assert len(customers) == len(set(customers)) == len(CATALOG)


def test_temporary_refusals_are_retried_with_backoff_until_accepted(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.temporary = 2
    run_id = start_run(catalog, ["1006210"])
    sleeps = Sleeps()

    work(catalog, settings, smtp_to(server.port, sleeps, attempts=3, backoff=1.0), run_id)

    assert outcomes(catalog, run_id)["1006210"] == (ItemStatus.SENT, "")
    assert sleeps == [1.0, 2.0]
    assert len(server.to("pagos@pena.example")) == 1


def test_421_then_success_reconnects_and_delivers_once(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.temporary = 1
    server.faults.temporary_reply = "421 4.7.0 Demasiadas conexiones"
    run_id = start_run(catalog, ["1004273"])

    work(catalog, settings, smtp_to(server.port), run_id)

    assert outcomes(catalog, run_id)["1004273"] == (ItemStatus.SENT, "")
    assert len(server.to("plumbers@plumbers.example")) == 1


def test_temporary_refusals_that_never_end_fail_the_customer(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.temporary = 99
    run_id = start_run(catalog, ["1006210"])

    work(catalog, settings, smtp_to(server.port, attempts=2), run_id)

    status, reason = outcomes(catalog, run_id)["1006210"]
    assert status == ItemStatus.FAILED
    assert reason == "mensaje rechazado: 451 4.3.0 Intente más tarde (tras 2 intentos)"


def test_a_connection_lost_while_the_server_takes_the_message_is_uncertain_not_resent(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.hang_up_in_data = 1
    run_id = start_run(catalog, ["1006210", "1004273"])

    work(catalog, settings, smtp_to(server.port), run_id)

    result = outcomes(catalog, run_id)
    assert result["1006210"][0] == ItemStatus.UNCERTAIN
    assert "no se sabe si llegó" in result["1006210"][1]
    assert result["1004273"] == (ItemStatus.SENT, "")
    assert len(server.to("pagos@pena.example")) == 1
    assert finished_run(catalog, run_id).uncertain == 1


def test_customers_without_balance_are_skipped_with_the_reason_when_asked(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = start_run(catalog, ["1000002", "1000001"], skip_zero_balance=True)

    work(catalog, settings, smtp_to(server.port), run_id)

    assert outcomes(catalog, run_id) == {
        "1000002": (ItemStatus.SKIPPED, "sin saldo"),
        "1000001": (ItemStatus.SENT, ""),
    }
    assert server.to("saldo@cero.example") == []
    with catalog() as session:
        log = runlog.text(session, runs.progress(session, run_id).run)
    assert "NoCliente: 1000002 | FechaCorte: 20261128 | NombreCliente: SIN SALDO SA | " \
        "CorreoDestino: saldo@cero.example | Enviado: error: sin saldo\r\n" in log  # fmt: skip


def test_a_customer_outside_the_catalog_is_recorded_as_not_sent(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = start_run(catalog, ["1009999", "1000001"])

    work(catalog, settings, smtp_to(server.port), run_id)

    assert outcomes(catalog, run_id)["1009999"] == (ItemStatus.FAILED, runs.NOT_IN_CATALOG)
    assert finished_run(catalog, run_id).status == RunStatus.DONE


def test_a_second_procesar_for_customers_of_an_active_run_is_refused(
    catalog: sessionmaker[Session],
) -> None:
    first = start_run(catalog, ["1006210", "1004273"])

    with pytest.raises(
        InvalidValue, match=rf"2 de estos clientes ya están en un envío en curso \(núm. {first}\)"
    ):
        start_run(catalog, ["1004273", "1006210", "1000001"])
    assert start_run(catalog, ["1000001"]) > first


def test_retry_sends_only_the_failed_and_asks_before_the_uncertain(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.refuse["plumbers@plumbers.example"] = "550 5.1.1 No existe"
    server.faults.hang_up_in_data = 1
    first = start_run(catalog, ["1006210", "1004273", "1000001"])
    work(catalog, settings, smtp_to(server.port), first)
    server.faults.refuse.clear()

    with catalog() as session, session.begin():
        again = runs.retry(session, first, username="ana", notify_email=ANALYST_EMAIL,
                              run_date=RUN_DATE)  # fmt: skip
        again_id = again.id
    work(catalog, settings, smtp_to(server.port), again_id)
    with catalog() as session, session.begin():
        uncertain = runs.retry(session, first, username="ana", notify_email=ANALYST_EMAIL,
                                  run_date=RUN_DATE, include_uncertain=True)  # fmt: skip
        assert uncertain.retry_of == first

    assert outcomes(catalog, again_id) == {"1004273": (ItemStatus.SENT, "")}
    assert len(outcomes(catalog, uncertain.id)) == 2
    assert len(server.to("plumbers@plumbers.example")) == 1


def test_retry_of_a_run_without_failures_says_so(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = start_run(catalog, ["1000001"])
    work(catalog, settings, smtp_to(server.port), run_id)

    with (
        catalog() as session,
        pytest.raises(InvalidValue, match="no tiene clientes por reintentar"),
    ):
        runs.retry(session, run_id, username="ana", notify_email="", run_date=RUN_DATE)


def test_a_wrong_smtp_password_pauses_the_run_with_a_reason_that_does_not_show_it(
    catalog: sessionmaker[Session], settings: config.Settings
) -> None:
    run_id = start_run(catalog, ["1006210"])
    with MailServer(users={"envios": "la-buena"}) as server:
        options = smtp.SmtpOptions(
            "127.0.0.1", server.port, "none", "envios", "S3cr3t-mala", timeout=5
        )
        wrong = worker.Worker(catalog, settings, transport=smtp.Smtp(options, sleep=Sleeps()))
        waited = wrong.step(run_id)
        assert waited is not None
        good = smtp.SmtpOptions("127.0.0.1", server.port, "none", "envios", "la-buena", timeout=5)
        work(catalog, settings, smtp.Smtp(good, sleep=Sleeps()), run_id)

    assert waited.status == ItemStatus.PENDING
    assert waited.reason.startswith(
        f"{worker.WAITING}: el servidor SMTP rechazó el usuario o la contraseña (535"
    )
    assert "S3cr3t" not in waited.reason
    assert outcomes(catalog, run_id)["1006210"] == (ItemStatus.SENT, "")
    assert len(server.to("pagos@pena.example")) == 1


def test_an_outbox_that_cannot_be_written_makes_the_run_wait_not_fail(
    catalog: sessionmaker[Session], settings: config.Settings, tmp_path: Path
) -> None:
    (tmp_path / "archivo").write_text("no es una carpeta")
    run_id = start_run(catalog, ["1006210"])
    unwritable = outbox.Outbox(tmp_path / "archivo" / "outbox")
    runner = worker.Worker(
        catalog, settings, transport=unwritable, pacer=pacing.Pacer(0), pause=0.2
    )

    waited = runner.step(run_id)

    assert waited is not None
    assert waited.status == ItemStatus.PENDING
    assert waited.reason.startswith(f"{worker.WAITING}: no se pudo escribir en la bandeja ")
    (tmp_path / "archivo").unlink()
    work(catalog, settings, unwritable, run_id)
    assert outcomes(catalog, run_id)["1006210"] == (ItemStatus.SENT, "")
    assert len(list((tmp_path / "archivo" / "outbox").glob("*.eml"))) == 2  # statement and log


def test_the_outbox_writes_each_message_as_a_whole_eml_file(
    catalog: sessionmaker[Session], settings: config.Settings
) -> None:
    run_id = start_run(catalog, ["1006210", "1000001"])

    work(catalog, settings, outbox.Outbox(settings.outbox_dir), run_id)

    files = sorted(settings.outbox_dir.glob("*.eml"))
    assert len(files) == 3  # two customers and the log
    assert not list(settings.outbox_dir.glob(".*"))
    assert {status for status, _ in outcomes(catalog, run_id).values()} == {ItemStatus.SENT}


def test_a_dead_workers_claims_are_given_back_and_its_sending_item_becomes_uncertain(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273", "1000001"])
    gone = "otra-maquina:1:abc"
    with catalog() as session, session.begin():
        first, second, _ = runs.items(session, run_id)
        first.status, first.claimed_by, first.claimed_at = ItemStatus.SENDING, gone, _long_ago()
        second.claimed_by, second.claimed_at = gone, _long_ago()

    work(catalog, settings, smtp_to(server.port), run_id)

    result = outcomes(catalog, run_id)
    assert result["1006210"] == (ItemStatus.UNCERTAIN, runs.UNCERTAIN_REASON)
    assert result["1004273"] == (ItemStatus.SENT, "")
    assert result["1000001"] == (ItemStatus.SENT, "")
    assert server.to("pagos@pena.example") == []


def test_a_recent_claim_of_a_live_worker_elsewhere_is_left_alone(
    catalog: sessionmaker[Session], settings: config.Settings
) -> None:
    run_id = start_run(catalog, ["1006210"])
    with catalog() as session, session.begin():
        (item,) = runs.items(session, run_id)
        item.status, item.claimed_by = ItemStatus.SENDING, "otra-maquina:1:abc"
        item.claimed_at = worker.utcnow()

    runner = worker.Worker(catalog, settings, transport=outbox.Outbox(settings.outbox_dir))

    assert runner.recover() == 0
    assert runner.step(run_id) is None
    assert outcomes(catalog, run_id)["1006210"][0] == ItemStatus.SENDING


def test_progress_counts_what_is_done_and_what_is_left(catalog: sessionmaker[Session]) -> None:
    run_id = start_run(catalog, ["1006210", "1004273", "1009999"])

    with catalog() as session:
        shown = runs.progress(session, run_id)

    assert shown.counts == {ItemStatus.PENDING: 2, ItemStatus.FAILED: 1}
    assert (shown.done, round(shown.fraction, 2), shown.finished) == (1, 0.33, False)


def test_daily_outcomes_count_finished_emails_per_day_sociedad_and_outcome(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.refuse["nandu@nandu.example"] = "550 no"
    run_id = start_run(catalog, ["1006210", "1004273", "1000001"])
    work(catalog, settings, smtp_to(server.port), run_id)

    with catalog() as session:
        rows = runs.daily_outcomes(session, RUN_DATE - timedelta(days=29))

    assert [(r.day, r.company_code, r.status, r.count) for r in rows] == [
        (RUN_DATE, "SM02", ItemStatus.FAILED, 1),
        (RUN_DATE, "SM02", ItemStatus.SENT, 2),
    ]


def _long_ago() -> datetime:
    """Older than any live claim."""
    return worker.utcnow() - worker.STALE_AFTER - timedelta(minutes=1)


def test_items_are_unique_per_run_and_customer(catalog: sessionmaker[Session]) -> None:
    run_id = start_run(catalog, ["1006210", "1006210", "1000001"])
    with catalog() as session:
        assert [i.customer_no for i in runs.items(session, run_id)] == ["1006210", "1000001"]
        assert session.get(SendRun, run_id).total == 2
        assert session.query(SendItem).count() == 2


def command_env(database_url: str, port: int, data_dir: Path) -> dict[str, str]:
    """The environment of a `lib.cli` command sending to the test's SMTP server, unpaced."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "MAIL_TRANSPORT": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "MAIL_RATE_PER_MINUTE": "0",
        "DEMO_DATA": "false",
    }


def worker_process(
    database_url: str, port: int, data_dir: Path, *args: str
) -> subprocess.Popen[str]:
    """`python -m lib.cli worker` as an operator starts it, sending to the test's SMTP server."""
    return subprocess.Popen(
        [sys.executable, "-m", "lib.cli", "worker", *args],
        cwd=PROJECT_ROOT,
        env=command_env(database_url, port, data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the pool and its worker processes
    )


def kill_all(started: subprocess.Popen[str]) -> None:
    """SIGKILL to the command and every worker process it started, as a machine crash."""
    os.killpg(started.pid, signal.SIGKILL)
    started.wait()


def test_a_killed_worker_process_is_resumed_without_emailing_anyone_twice(
    catalog: sessionmaker[Session], database_url: str, tmp_path: Path, server: MailServer
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273", "1000001"])
    server.faults.stall_data = threading.Event()
    first = worker_process(database_url, server.port, tmp_path / "data", "--procesos", "1")
    try:
        assert server.handler.in_data.wait(60), first.stdout
    finally:
        kill_all(first)
    server.faults.stall_data.set()
    assert outcomes(catalog, run_id)["1006210"][0] == ItemStatus.SENDING

    second = worker_process(database_url, server.port, tmp_path / "data", "--once")
    output, _ = second.communicate(timeout=120)

    assert second.returncode == 0, output
    assert outcomes(catalog, run_id) == {
        "1006210": (ItemStatus.UNCERTAIN, runs.UNCERTAIN_REASON),
        "1004273": (ItemStatus.SENT, ""),
        "1000001": (ItemStatus.SENT, ""),
    }
    customers = [m.recipients[0] for m in statement_mails(server)]
    assert sorted(customers) == sorted(set(customers))
    assert len(server.to(ANALYST_EMAIL)) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_worker_processes_on_postgresql_share_a_run_without_duplicates(
    catalog: sessionmaker[Session], database_url: str, tmp_path: Path, server: MailServer
) -> None:
    extra = [f"20{n:05d}" for n in range(40)]
    with catalog() as session, session.begin():
        for number in extra:
            session.add(Customer(company_code="SM02", customer_no=number, name=f"CLIENTE {number}"))
        session.flush()
        for number in extra:
            session.add(Recipient(company_code="SM02", customer_no=number,
                                  emails=f"c{number}@clientes.example",
                                  created_by="seed", updated_by="seed"))  # fmt: skip
    run_id = start_run(catalog, extra)

    one_process = ("--once", "--procesos", "1")
    workers = [worker_process(database_url, server.port, tmp_path / "data", *one_process)
               for _ in range(2)]  # fmt: skip
    outputs = [process.communicate(timeout=180)[0] for process in workers]

    assert [process.returncode for process in workers] == [0, 0], outputs
    customers = [m.recipients[0] for m in statement_mails(server)]
    assert sorted(customers) == sorted(f"c{number}@clientes.example" for number in extra)
    with catalog() as session:
        items = runs.items(session, run_id)
    assert {i.status for i in items} == {ItemStatus.SENT}
    assert len({i.claimed_by for i in items}) == 2
    assert len(server.to(ANALYST_EMAIL)) == 1


def test_a_user_address_unfit_for_a_header_ends_as_the_log_error_not_a_crash(
    catalog: sessionmaker[Session], settings: config.Settings
) -> None:
    with catalog() as session, session.begin():
        run = runs.create_run(session, username="ana", notify_email="=?utf-8?q?=0D=0A?=@x.mx",
                                 keys=[("SM02", "1000001")], cutoff=CUTOFF,
                                 run_date=RUN_DATE)  # fmt: skip

    work(catalog, settings, outbox.Outbox(settings.outbox_dir), run.id)

    finished = finished_run(catalog, run.id)
    assert finished.status == RunStatus.DONE
    assert finished.log_sent_at is None
    assert finished.log_error.startswith("el correo de ana no sirve para enviarle el log")


def test_a_runs_log_goes_out_before_the_next_run_is_sent(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    first = start_run(catalog, ["1006210"])
    second = start_run(catalog, ["1004273", "1000001"])
    runner = worker.Worker(catalog, settings, transport=smtp_to(server.port), pacer=pacing.Pacer(0))
    seen: list[str] = []

    def after_each(outcome: worker.Outcome) -> None:
        seen.append(f"{outcome.run_id}:{outcome.customer_no}")

    runner.run(threading.Event(), until_idle=True, on_outcome=after_each, poll=0.01)

    assert seen == [f"{first}:1006210", f"{second}:1004273", f"{second}:1000001"]
    recipients = [m.recipients[0] for m in server.received]
    assert recipients.index(ANALYST_EMAIL) < recipients.index("plumbers@plumbers.example")


class DiesOnTheLog:
    """Delivers the statements, then the worker dies while handing over the log email."""

    def __init__(self, inner: transports.Transport) -> None:
        self.inner = inner

    def send(self, message: EmailMessage) -> str:
        if ANALYST_EMAIL in str(message["To"]):
            raise SystemExit("killed while sending the log")
        return self.inner.send(message)

    def close(self) -> None:
        self.inner.close()


def gone_worker_name() -> str:
    """A claimer on this machine whose process has ended."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return f"{socket.gethostname()}:{ended.pid}:abc"


def test_a_log_left_by_a_worker_that_died_sending_it_goes_out_from_the_next_worker(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273"])
    dying = worker.Worker(
        catalog,
        settings,
        transport=DiesOnTheLog(smtp_to(server.port)),
        pacer=pacing.Pacer(0),
        name=gone_worker_name(),
    )
    with pytest.raises(SystemExit):
        dying.run(threading.Event(), run_id=run_id, until_idle=True, poll=0.01)
    assert finished_run(catalog, run_id).status == RunStatus.DONE
    assert server.to(ANALYST_EMAIL) == []

    work(catalog, settings, smtp_to(server.port))

    (log_mail,) = server.to(ANALYST_EMAIL)
    attachment = next(log_mail.message.iter_attachments())
    assert attachment.get_filename() == "LogEnvioMasivo_20261129.txt"
    assert len(attachment.get_content().splitlines()) == 2
    assert len(statement_mails(server)) == 2
    assert finished_run(catalog, run_id).log_sent_at is not None


def test_a_log_being_sent_by_a_live_worker_is_not_taken_over(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = start_run(catalog, ["1006210"])
    with catalog() as session, session.begin():
        (item,) = runs.items(session, run_id)
        item.status = ItemStatus.SENT
        run = session.get_one(SendRun, run_id)
        run.status, run.log_claimed_by = RunStatus.DONE, "otra-maquina:1:abc"
        run.log_claimed_at = worker.utcnow()

    work(catalog, settings, smtp_to(server.port))

    assert server.received == []
    assert finished_run(catalog, run_id).log_sent_at is None


def test_stopping_a_run_leaves_the_customers_not_taken_stopped_and_retriable(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273", "1000001"])
    with catalog() as session, session.begin():
        taken = runs.items(session, run_id)[0]
        taken.claimed_by, taken.claimed_at = "otra-maquina:1:abc", worker.utcnow()

    with catalog() as session, session.begin():
        stopped = runs.stop(session, run_id, username="ana")

    assert stopped == 2
    result = outcomes(catalog, run_id)
    assert result["1006210"] == (ItemStatus.PENDING, "")  # a worker has it: it finishes
    assert result["1004273"] == result["1000001"] == (ItemStatus.STOPPED, "envío detenido por ana")
    with catalog() as session, session.begin():
        taken = runs.items(session, run_id)[0]
        taken.status, taken.claimed_by = ItemStatus.SENT, None

    work(catalog, settings, smtp_to(server.port))

    assert statement_mails(server) == []
    run = finished_run(catalog, run_id)
    assert (run.status, run.sent, run.failed, queue.stopped(run)) == (RunStatus.DONE, 1, 0, 2)
    (log_mail,) = server.to(ANALYST_EMAIL)
    log_lines = next(log_mail.message.iter_attachments()).get_content().splitlines()
    assert sum(line.endswith("Enviado: error: envío detenido por ana") for line in log_lines) == 2
    with catalog() as session, session.begin():
        again = runs.retry(
            session, run_id, username="ana", notify_email=ANALYST_EMAIL, run_date=RUN_DATE
        )
        assert again.total == 2


def test_a_finished_run_cannot_be_stopped(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = start_run(catalog, ["1006210"])
    work(catalog, settings, smtp_to(server.port))

    with catalog() as session, pytest.raises(InvalidValue, match="ya terminó"):
        runs.stop(session, run_id, username="ana")
