"""Stopped runs (Detener envío, an interrupted `lib.cli send`) and what follows them: their
customers are ⏹️ Detenido and counted apart, Reintentar fallidos sends them, Inicio counts each
customer by its latest outcome; and a retry leaves out the customers gone from the catalog.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from lib import config, dashboard
from lib.mail import pacing
from lib.models import Recipient, SendItem, SendRun
from lib.normalize import InvalidValue
from lib.sending import log as runlog
from lib.sending import queue, runs, worker
from lib.sending.status import ItemStatus, RunStatus
from tests import test_envio_pages, test_sending
from tests.mailserver import MailServer
from tests.test_catalogo_pages import button
from tests.test_cli import run_cli
from tests.test_envio_pages import (
    ENVIO,
    HISTORIAL,
    buscar,
    procesar,
    questions,
    runs_items,
    send_everything,
)
from tests.test_pages import start
from tests.test_sending import (
    ANALYST_EMAIL,
    CATALOG,
    RUN_DATE,
    outcomes,
    smtp_to,
    start_run,
    work,
)

# Their fixtures, found by pytest under these names and passed to the tests as parameters.
catalog, server, settings = test_sending.catalog, test_sending.server, test_sending.settings
customers = test_envio_pages.customers

STOPPED_BY_ANA = (ItemStatus.STOPPED, "envío detenido por ana")
SINCE = RUN_DATE - timedelta(days=29)


def stopped_run(
    sessions: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> int:
    """All five customers of the catalog; the first is sent, then Detener stops the other
    four, and the worker closes the run and emails its log."""
    run_id = start_run(sessions)
    first = worker.Worker(sessions, settings, transport=smtp_to(server.port), pacer=pacing.Pacer(0))
    assert first.step(run_id) is not None
    with sessions() as session, session.begin():
        assert runs.stop(session, run_id, username="ana") == len(CATALOG) - 1
    work(sessions, settings, smtp_to(server.port))
    return run_id


def retry(sessions: sessionmaker[Session], run_id: int) -> int:
    with sessions() as session, session.begin():
        return runs.retry(
            session, run_id, username="ana", notify_email=ANALYST_EMAIL, run_date=RUN_DATE
        ).id


def finished(sessions: sessionmaker[Session], run_id: int) -> SendRun:
    with sessions() as session:
        return runs.progress(session, run_id).run


def test_a_stopped_runs_customers_are_detenido_and_counted_apart_from_errors(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = stopped_run(catalog, settings, server)

    result = outcomes(catalog, run_id)
    assert result.pop("1006210") == (ItemStatus.SENT, "")
    assert set(result.values()) == {STOPPED_BY_ANA}
    run = finished(catalog, run_id)
    assert (run.status, run.sent, run.failed, queue.stopped(run)) == (RunStatus.DONE, 1, 0, 4)
    with catalog() as session:
        counts = runs.counts(session, [run_id])[run_id]
    assert counts == {ItemStatus.SENT: 1, ItemStatus.STOPPED: 4}
    assert RunStatus(run.status).shown(counts[ItemStatus.STOPPED]) == "Detenido"
    assert ItemStatus.STOPPED.label == "⏹️ Detenido"
    assert runlog.summary(run) == "resumen: 5 clientes, enviados 1, con error 0, detenidos 4"


def test_the_log_email_of_a_stopped_run_says_detenidos(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = stopped_run(catalog, settings, server)

    (log_mail,) = server.to(ANALYST_EMAIL)
    body = log_mail.message.get_body().get_content().splitlines()
    assert body[0].startswith(f"Se detuvo el envío masivo de estados de cuenta núm. {run_id} (ana)")
    assert "Con error: 0" in body
    assert (
        "Detenidos (no se enviaron; Reintentar fallidos, en Historial de envíos, los envía): 4"
        in body
    )
    lines = next(log_mail.message.iter_attachments()).get_content().splitlines()
    # The manual's format has `ok` or `error: <reason>` only: the reason tells it was stopped.
    assert sum(line.endswith("| Enviado: error: envío detenido por ana") for line in lines) == 4


def test_lib_cli_log_of_a_stopped_run_says_detenidos(
    catalog: sessionmaker[Session],
    settings: config.Settings,
    server: MailServer,
    database_url: str,
    app_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = stopped_run(catalog, settings, server)
    monkeypatch.setenv("DATABASE_URL", database_url)

    code, out, err = run_cli("log", str(run_id))

    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "resumen: 5 clientes, enviados 1, con error 0, detenidos 4"


def test_the_summary_of_a_run_without_stopped_customers_does_not_name_them(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = start_run(catalog, ["1006210"])
    work(catalog, settings, smtp_to(server.port))

    run = finished(catalog, run_id)
    assert runlog.summary(run) == "resumen: 1 cliente, enviados 1, con error 0"
    assert RunStatus(run.status).shown(0) == "Terminado"
    body = server.to(ANALYST_EMAIL)[0].message.get_body().get_content()
    assert body.startswith("Terminó el envío masivo")
    assert "Detenidos" not in body


def test_a_run_finishing_the_customers_being_sent_after_detener_reads_deteniendo() -> None:
    assert RunStatus.RUNNING.shown(3) == "Deteniendo"
    assert RunStatus.RUNNING.shown(0) == "Enviando"


def test_reintentar_fallidos_sends_the_stopped_customers(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = stopped_run(catalog, settings, server)

    again = retry(catalog, run_id)
    work(catalog, settings, smtp_to(server.port))

    assert set(outcomes(catalog, again)) == set(CATALOG) - {"1006210"}
    assert set(outcomes(catalog, again).values()) == {(ItemStatus.SENT, "")}
    assert finished(catalog, again).retry_of == run_id


def test_inicio_counts_stopped_customers_sent_by_a_retry_as_sent(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    run_id = stopped_run(catalog, settings, server)
    with catalog() as session:
        before = runs.daily_outcomes(session, SINCE)
    assert [(r.status, r.count) for r in before] == [
        (ItemStatus.SENT, 1),
        (ItemStatus.STOPPED, 4),
    ]

    retry(catalog, run_id)
    work(catalog, settings, smtp_to(server.port))

    with catalog() as session:
        after = runs.daily_outcomes(session, SINCE)
    assert [(r.day, r.company_code, r.status, r.count) for r in after] == [
        (RUN_DATE, "SM02", ItemStatus.SENT, 5)
    ]


def test_inicio_follows_retries_of_retries_and_counts_other_runs_apart(
    catalog: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    server.faults.refuse["nandu@nandu.example"] = "550 5.1.1 No existe"
    first = start_run(catalog, ["1006210", "1000001"])
    work(catalog, settings, smtp_to(server.port))
    second = retry(catalog, first)
    work(catalog, settings, smtp_to(server.port))  # refused again
    server.faults.refuse.clear()
    pending = retry(catalog, second)

    with catalog() as session:
        while_retrying = runs.daily_outcomes(session, SINCE)
    work(catalog, settings, smtp_to(server.port), pending)
    start_run(catalog, ["1000001"])  # a new Procesar, not a retry: its own email
    work(catalog, settings, smtp_to(server.port))
    with catalog() as session:
        at_the_end = runs.daily_outcomes(session, SINCE)

    # The customer being retried keeps its last outcome until the retry decides it.
    assert [(r.status, r.count) for r in while_retrying] == [
        (ItemStatus.FAILED, 1),
        (ItemStatus.SENT, 1),
    ]
    assert [(r.status, r.count) for r in at_the_end] == [(ItemStatus.SENT, 3)]


def test_chart_colours_are_fixed_per_outcome_errors_red_sin_saldo_grey() -> None:
    shown = ["Sin saldo", "Enviado", "Con error", "Detenido", "Enviado"]

    assert dashboard.outcome_colors(shown) == {
        "Enviado": "#2e7d32",
        "Con error": "#d32f2f",
        "Sin saldo": "#9e9e9e",
        "Detenido": "#546e7a",
    }
    assert dashboard.outcome_colors(["Con error"]) == {"Con error": "#d32f2f"}


def test_the_retry_question_leaves_out_customers_gone_from_the_catalog_and_so_does_the_retry(
    catalog: sessionmaker[Session],
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273", "1000001"])
    with catalog() as session, session.begin():
        runs.stop(session, run_id, username="ana")
        session.execute(delete(Recipient).where(Recipient.customer_no == "1004273"))
    names = {"SM02": "SM02 · Bajío"}

    with catalog() as session:
        question = runs.retry_question(session, run_id, names)
    again = retry(catalog, run_id)

    assert question == (
        "Se enviarán 2 estados de cuenta de SM02 · Bajío con fecha de corte 28/11/2026 a "
        "2 clientes (3 correos). 1 cliente ya no está en el catálogo de envío y no se reintenta."
    )
    assert list(outcomes(catalog, again)) == ["1006210", "1000001"]
    assert set(outcomes(catalog, again).values()) == {(ItemStatus.PENDING, "")}


def test_a_retry_with_every_customer_gone_from_the_catalog_says_so_and_creates_nothing(
    catalog: sessionmaker[Session],
) -> None:
    run_id = start_run(catalog, ["1006210", "1004273"])
    with catalog() as session, session.begin():
        runs.stop(session, run_id, username="ana")
        session.execute(delete(Recipient))
    gone = f"no hay nada que reintentar en el envío {run_id}: 2 clientes ya no están en el"

    with catalog() as session, pytest.raises(InvalidValue, match=gone):
        runs.retry_question(session, run_id, {})
    with catalog() as session, pytest.raises(InvalidValue, match=gone):
        runs.retry(session, run_id, username="ana", notify_email="", run_date=RUN_DATE)
    with catalog() as session:
        assert session.query(SendRun).count() == 1


def stop_on_the_page(database: sessionmaker[Session]) -> None:
    """Procesar for the three customers, Detener envío, Sí, detener; the worker closes it."""
    at = buscar(start(ENVIO, user="ana"))
    procesar(at)
    button(at, "Detener envío").click()
    at.run()
    button(at, "Sí, detener").click()
    at.run()
    assert at.success[0].value == "Envío núm. 1 detenido: 3 clientes quedaron sin enviar."
    send_everything(database, config.load_settings())


def test_the_send_page_shows_a_stopped_run_as_detenido(customers, database) -> None:
    stop_on_the_page(database)

    at = start(ENVIO, user="ana")

    assert not at.exception
    assert at.subheader[0].value == "Envío núm. 1 · Detenido"
    figures = {m.label: m.value for m in at.metric}
    assert (figures["Detenidos"], figures["Con error"]) == ("3", "0")
    assert list(at.dataframe[0].value["Estado"]) == ["⏹️ Detenido"] * 3
    assert [b.label for b in at.button if b.label == "Detener envío"] == []


def test_historial_shows_a_stopped_run_and_reintentar_fallidos_sends_its_customers(
    customers, database
) -> None:
    stop_on_the_page(database)
    with database() as session, session.begin():
        session.execute(delete(Recipient).where(Recipient.customer_no == "1000001"))

    at = start(HISTORIAL, user="ana")
    table = at.dataframe[0].value
    assert (table.loc[0, "Estado"], table.loc[0, "Detenidos"], table.loc[0, "Con error"]) == (
        "Detenido",
        3,
        0,
    )
    button(at, "Reintentar fallidos (3)").click()
    at.run()
    (question,) = questions(at)
    assert question.endswith(
        "a 2 clientes (2 correos). 1 cliente ya no está en el catálogo de envío y no se reintenta."
    )
    button(at, "Enviar").click()
    at.run()

    assert not at.exception
    assert at.success[0].value.startswith("Se creó el envío núm. 2 con 2 clientes")
    assert runs_items(database)[2] == ["1004273", "1006210"]


def test_inicio_draws_each_outcome_in_its_own_colour(customers, database) -> None:
    stop_on_the_page(database)
    with database() as session, session.begin():
        item = session.query(SendItem).filter_by(customer_no="1004273").one()
        item.status = ItemStatus.FAILED

    at = start(user="ana")

    assert not at.exception
    (chart,) = at.get("vega_lite_chart")
    scale = json.loads(chart.proto.spec)["encoding"]["color"]["scale"]
    assert scale == {"domain": ["Con error", "Detenido"], "range": ["#d32f2f", "#546e7a"]}
    assert at.dataframe[-1].value.loc["SM02", "Detenido"] == 2
