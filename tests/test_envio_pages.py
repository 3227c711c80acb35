"""Envío masivo, Historial de envíos and the Home chart through AppTest, on a real SQLite file."""

import threading
import zlib
from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from lib import config, formatting
from lib.mail import outbox
from lib.models import Recipient, SendItem, utcnow
from lib.scheduling import schedules
from lib.scheduling.recurrence import CutoffRule, Frequency, Recurrence
from lib.sending import runs, worker
from lib.sending.status import ItemStatus
from tests.support import seed_catalog
from tests.test_catalogo_pages import button
from tests.test_pages import start

ENVIO = "pages/envio_masivo.py"
HISTORIAL = "pages/historial.py"


@pytest.fixture
def customers(people: dict[str, str], database: sessionmaker[Session]) -> None:
    """SM02 catalog: 1000001, 1004273 and 1006210."""
    seed_catalog(database)
    with database() as session, session.begin():
        for number, address in (("1006210", "pena@x.mx"), ("1000001", "nandu@x.mx")):
            session.add(Recipient(company_code="SM02", customer_no=number, emails=address,
                                  created_by="seed", updated_by="seed"))  # fmt: skip


def buscar(at: AppTest, company: str = "SM02") -> AppTest:
    at.selectbox[0].select(company)
    button(at, "Buscar").click()
    return at.run()


def tick(at: AppTest, keys: list[str], edits: dict[int, bool]) -> AppTest:
    """What the data editor reports after the user (un)ticks rows."""
    rows = zlib.crc32("|".join(keys).encode())
    version = at.session_state["envio-version-editor"]
    at.session_state[f"envio-editor-{version}-{rows}"] = {
        "edited_rows": {row: {"Enviar": value} for row, value in edits.items()},
        "added_rows": [],
        "deleted_rows": [],
    }
    return at.run()


def procesar(at: AppTest) -> AppTest:
    """Procesar, then Enviar at its question: the run is created."""
    button(at, "Procesar").click()
    at.run()
    button(at, "Enviar").click()
    return at.run()


def questions(at: AppTest) -> list[str]:
    """The send question(s) shown (Procesar's or Reintentar fallidos')."""
    return [w.value for w in at.warning if w.value.startswith("Se enviarán")]


def caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if "clientes seleccionados" in c.value)


def runs_items(database: sessionmaker[Session]) -> dict[int, list[str]]:
    with database() as session:
        found: dict[int, list[str]] = {}
        for item in session.query(SendItem).order_by(SendItem.id):
            found.setdefault(item.run_id, []).append(item.customer_no)
        return found


KEYS = ["SM02/1000001", "SM02/1004273", "SM02/1006210"]


def test_buscar_lists_the_catalog_customers_all_selected(customers) -> None:
    at = buscar(start(ENVIO, user="ana"))

    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["No. Cliente"]) == ["1000001", "1004273", "1006210"]
    assert list(table["Enviar"]) == [True, True, True]
    assert list(table["Saldo"]) == ["sin saldo"] * 3
    assert caption(at).startswith("3 de 3 clientes seleccionados")


def test_buscar_without_sociedad_or_customer_says_what_is_missing(customers) -> None:
    at = start(ENVIO, user="ana")
    button(at, "Buscar").click()
    at.run()
    assert at.error[0].value == "Indica la Sociedad y/o el No. Cliente."


def test_a_deselected_customer_stays_deselected_while_filtering(customers) -> None:
    at = tick(buscar(start(ENVIO, user="ana")), KEYS, {1: False})
    assert caption(at).startswith("2 de 3")

    at.text_input[1].input("6210").run()
    assert list(at.dataframe[0].value["No. Cliente"]) == ["1006210"]
    at.text_input[1].input("").run()

    assert list(at.dataframe[0].value["Enviar"]) == [True, False, True]
    assert caption(at).startswith("2 de 3")


def test_a_new_buscar_starts_with_everyone_selected(customers) -> None:
    at = tick(buscar(start(ENVIO, user="ana")), KEYS, {1: False})
    assert caption(at).startswith("2 de 3")

    at = buscar(at)

    assert list(at.dataframe[0].value["Enviar"]) == [True, True, True]
    assert caption(at).startswith("3 de 3")


def test_quitar_todos_and_seleccionar_todos_act_on_the_rows_shown(customers) -> None:
    at = buscar(start(ENVIO, user="ana"))
    button(at, "Quitar todos").click()
    at.run()
    assert caption(at).startswith("0 de 3")
    assert button(at, "Procesar").disabled

    at.text_input[1].input("1004273").run()
    button(at, "Seleccionar todos").click()
    at.run()
    at.text_input[1].input("").run()

    assert list(at.dataframe[0].value["Enviar"]) == [False, True, False]


def test_procesar_asks_first_and_nothing_is_created_until_enviar(customers, database) -> None:
    at = tick(buscar(start(ENVIO, user="ana")), KEYS, {0: False})
    at.text_input[1].input("6210").run()  # the filter hides 1004273, still selected
    button(at, "Procesar").click()
    at.run()

    assert not at.exception
    (question,) = [w.value for w in at.warning if w.value.startswith("Se enviarán")]
    assert question == (
        "Se enviarán 2 estados de cuenta de SM02 · Bajío con fecha de corte "
        f"{formatting.day(config.load_settings().today())} a 2 clientes (2 correos); incluye 1 "
        "que el filtro oculta."
    )
    assert runs_items(database) == {}

    button(at, "Cancelar").click()
    at.run()
    assert not [w for w in at.warning if w.value.startswith("Se enviarán")]
    assert runs_items(database) == {}

    button(at, "Procesar").click()
    at.run()
    button(at, "Enviar").click()
    at.run()
    assert runs_items(database) == {1: ["1004273", "1006210"]}


def test_procesar_creates_a_run_for_the_selected_customers_and_shows_its_progress(
    customers, database
) -> None:
    at = tick(buscar(start(ENVIO, user="ana")), KEYS, {0: False})
    procesar(at)

    assert not at.exception
    assert at.success[0].value == "Se creó el envío núm. 1 para 2 clientes."
    assert runs_items(database) == {1: ["1004273", "1006210"]}
    assert at.subheader[0].value == "Envío núm. 1 · En espera"
    items = at.dataframe[0].value
    assert list(items["Estado"]) == ["⏳ Pendiente", "⏳ Pendiente"]
    assert [m.label for m in at.metric][:2] == ["Enviados", "Con error"]


def test_a_second_procesar_for_the_same_customers_is_refused(customers, database) -> None:
    at = buscar(start(ENVIO, user="ana"))
    procesar(at)
    at = buscar(at)
    procesar(at)

    assert at.error[0].value.startswith(
        "3 de estos clientes ya están en un envío en curso (núm. 1)"
    )
    assert list(runs_items(database)) == [1]


def test_detener_asks_first_then_leaves_the_customers_not_sent(customers, database) -> None:
    at = buscar(start(ENVIO, user="ana"))
    procesar(at)
    button(at, "Detener envío").click()
    at.run()

    assert at.warning[0].value.startswith("Los clientes que aún no se envían quedarán")
    assert runs_items(database) == {1: ["1000001", "1004273", "1006210"]}
    button(at, "No, seguir enviando").click()
    at.run()
    assert not at.warning
    button(at, "Detener envío").click()
    at.run()
    button(at, "Sí, detener").click()
    at.run()

    assert not at.exception
    assert at.success[0].value == "Envío núm. 1 detenido: 3 clientes quedaron sin enviar."
    with database() as session:
        reasons = {item.error for item in session.query(SendItem)}
    assert reasons == {"envío detenido por ana"}


def test_a_run_waiting_for_the_mail_server_says_why_and_can_still_be_stopped(
    customers, database, tmp_path
) -> None:
    at = buscar(start(ENVIO, user="ana"))
    procesar(at)
    (tmp_path / "archivo").write_text("no es una carpeta")
    unwritable = outbox.Outbox(tmp_path / "archivo" / "outbox")
    waited = worker.Worker(database, config.load_settings(), transport=unwritable).step()
    assert waited is not None

    again = start(ENVIO, user="ana")

    assert not again.exception
    assert again.subheader[0].value == "Envío núm. 1 · Enviando"
    assert again.warning[0].value.startswith(
        "Envío en pausa, en espera del servidor de correo: no se pudo escribir en la bandeja "
    )
    items = again.dataframe[0].value
    assert list(items["Estado"]) == ["⏳ Pendiente"] * 3
    assert list(items["Mensaje"]) == [waited.reason, "", ""]
    assert button(again, "Detener envío") is not None


def send_everything(database: sessionmaker[Session], tmp_settings: config.Settings) -> None:
    runner = worker.Worker(database, tmp_settings, transport=outbox.Outbox(tmp_settings.outbox_dir))
    runner.run(threading.Event(), until_idle=True, poll=0.01)


def test_coming_back_shows_the_finished_run_with_its_outcomes_and_log(customers, database) -> None:
    at = buscar(start(ENVIO, user="ana"))
    procesar(at)
    with database() as session, session.begin():
        item = session.query(SendItem).filter_by(customer_no="1004273").one()
        item.status, item.error = ItemStatus.FAILED, "550 5.1.1 No existe"
    send_everything(database, config.load_settings())

    again = start(ENVIO, user="ana")

    assert again.subheader[0].value == "Envío núm. 1 · Terminado"
    items = again.dataframe[0].value
    assert list(items["Estado"]) == ["✅ Enviado", "❌ Error", "✅ Enviado"]
    assert items.loc[1, "Mensaje"] == "550 5.1.1 No existe"
    assert again.success[0].value == "El log se envió a ana@e.example."
    today = config.load_settings().today()
    label = again.get("download_button")[0].proto.label
    assert label == f"Descargar LogEnvioMasivo_{today:%Y%m%d}.txt"


def test_historial_lists_runs_and_retries_only_the_failed(customers, database) -> None:
    at = buscar(start(ENVIO, user="ana"))
    procesar(at)
    with database() as session, session.begin():
        items = session.query(SendItem).order_by(SendItem.id).all()
        items[0].status, items[0].error = ItemStatus.FAILED, "550 no"
        items[1].status, items[1].error = ItemStatus.UNCERTAIN, runs.UNCERTAIN_REASON
    send_everything(database, config.load_settings())

    at = start(HISTORIAL, user="root")
    table = at.dataframe[0].value
    assert list(table["Núm."]) == [1]
    assert (table.loc[0, "Enviados"], table.loc[0, "Con error"], table.loc[0, "Inciertos"]) == (
        1,
        1,
        1,
    )
    assert table.loc[0, "Estado"] == "Terminado"
    assert button(at, "Reintentar fallidos e inciertos (2)").disabled
    button(at, "Reintentar fallidos (1)").click()
    at.run()
    (question,) = [w.value for w in at.warning if w.value.startswith("Se enviarán")]
    assert question.startswith("Se enviarán 1 estado de cuenta de SM02 · Bajío con fecha de")
    assert question.endswith("a 1 cliente (1 correo).")
    assert 2 not in runs_items(database)
    button(at, "Cancelar").click()
    at.run()
    assert 2 not in runs_items(database)
    button(at, "Reintentar fallidos (1)").click()
    at.run()
    button(at, "Enviar").click()
    at.run()

    assert not at.exception
    assert at.success[0].value.startswith("Se creó el envío núm. 2 con 1 cliente;")
    assert runs_items(database)[2] == ["1000001"]


def test_historial_resends_the_uncertain_only_after_confirmation(customers, database) -> None:
    at = buscar(start(ENVIO, user="ana"))
    procesar(at)
    with database() as session, session.begin():
        item = session.query(SendItem).filter_by(customer_no="1006210").one()
        item.status, item.error = ItemStatus.UNCERTAIN, runs.UNCERTAIN_REASON
    send_everything(database, config.load_settings())

    at = start(HISTORIAL, user="ana")
    assert "1 correo quedó **incierto**" in at.warning[0].value
    at.checkbox[0].check().run()
    button(at, "Reintentar fallidos e inciertos (1)").click()
    at.run()
    today = formatting.day(config.load_settings().today())
    assert questions(at) == [
        f"Se enviarán 1 estado de cuenta de SM02 · Bajío con fecha de corte {today} a 1 cliente "
        "(1 correo)."
    ]
    assert 2 not in runs_items(database)

    at.checkbox[0].uncheck().run()  # changed their mind: the question goes with the tick
    assert questions(at) == []
    at.checkbox[0].check().run()
    assert questions(at) == [], "ticking again does not bring the question back by itself"
    assert 2 not in runs_items(database)

    button(at, "Reintentar fallidos e inciertos (1)").click()
    at.run()
    button(at, "Enviar").click()
    at.run()

    assert not at.exception
    assert runs_items(database)[2] == ["1006210"]


def test_historial_names_the_schedule_that_made_a_run_and_says_why_it_is_empty(
    customers, database
) -> None:
    with database() as session, session.begin():
        plan = schedules.Plan("SM02", "", CutoffRule.RUN_DAY, None, False,
                              Recurrence(Frequency.WEEKLY, time(7, 0), weekday=0))  # fmt: skip
        schedule = schedules.create(session, plan, by=schedules.Actor("ana", admin=False),
                                    now=utcnow(), zone=ZoneInfo("UTC"))  # fmt: skip
        today = config.load_settings().today()
        runs.create_run(session, username="ana", notify_email="ana@e.example", keys=[],
                        cutoff=today, run_date=today, schedule_id=schedule.id,
                        note="la Sociedad SM02 no tiene clientes")  # fmt: skip
        runs.create_run(session, username="ana", notify_email="ana@e.example",
                        keys=[("SM02", "1006210")], cutoff=today, run_date=today)  # fmt: skip

    at = start(HISTORIAL, user="ana")

    table = at.dataframe[0].value
    assert list(table["Núm."]) == [2, 1]
    assert table["Programado"].tolist()[1] == 1
    assert table["Programado"].isna().tolist() == [True, False]
    at.selectbox[-1].select(1).run()
    assert at.info[0].value == "La Sociedad SM02 no tiene clientes."
    assert "Lo creó el programado núm. 1" in at.caption[-1].value


def test_historial_without_runs_says_so(customers) -> None:
    at = start(HISTORIAL, user="ana")
    assert at.info[0].value == "No hay envíos con esos datos."


def test_home_charts_the_last_30_days_of_sends(customers, database) -> None:
    at = buscar(start(ENVIO, user="ana"))
    procesar(at)
    send_everything(database, config.load_settings())

    at = start(user="ana")

    assert "Envíos de los últimos 30 días" in [s.value for s in at.subheader]
    totals = at.dataframe[-1].value
    assert totals.loc["SM02", "Enviado"] == 3


def candidate(company: str, number: str, emails: str) -> runs.Candidate:
    return runs.Candidate(company, number, f"CLIENTE {number}", emails, {})


def test_the_question_counts_statements_customers_and_addresses_in_good_spanish() -> None:
    one = [candidate("SM02", "1", "a@x.mx")]
    several = [candidate("SM02", "1", "a@x.mx;b@x.mx"), candidate("SU01", "2", "c@x.mx")]
    names = {"SM02": "SM02 · Bajío", "SU01": "SU01 · Aqua"}
    cutoff = date(2026, 11, 28)

    assert runs.send_question(one, names, cutoff) == (
        "Se enviarán 1 estado de cuenta de SM02 · Bajío con fecha de corte 28/11/2026 a "
        "1 cliente (1 correo)."
    )
    assert runs.send_question(several, names, cutoff, skip_zero_balance=True) == (
        "Se enviarán 2 estados de cuenta de las sociedades SM02, SU01 con fecha de corte "
        "28/11/2026 a 2 clientes (3 correos); los que no tienen saldo quedan en el log como "
        "«sin saldo»."
    )


def test_the_retry_question_counts_what_the_retry_would_send_and_creates_nothing(
    sessions: sessionmaker[Session],
) -> None:
    seed_catalog(sessions)
    with sessions() as session, session.begin():
        for number, address in (("1006210", "a@x.mx"), ("1000001", "c@x.mx")):
            session.add(Recipient(company_code="SM02", customer_no=number, emails=address,
                                  created_by="seed", updated_by="seed"))  # fmt: skip
        run_id = runs.create_run(
            session,
            username="ana",
            notify_email="ana@e.example",
            keys=[("SM02", n) for n in ("1004273", "1006210", "1000001")],
            cutoff=date(2026, 11, 28),
            run_date=date(2026, 12, 1),
            skip_zero_balance=True,
        ).id
    with sessions() as session, session.begin():
        states = {"1004273": ItemStatus.SENT, "1006210": ItemStatus.BOUNCED,
                  "1000001": ItemStatus.UNCERTAIN}  # fmt: skip
        for item in session.query(SendItem).filter_by(run_id=run_id):
            item.status = states[item.customer_no]
        # The retry takes the catalog's addresses as they are now, and so does the question.
        session.query(Recipient).filter_by(customer_no="1006210").one().emails = "a@x.mx;b@x.mx"
    names = {"SM02": "SM02 · Bajío"}

    with sessions() as session:
        failed = runs.retry_question(session, run_id, names)
        both = runs.retry_question(session, run_id, names, include_uncertain=True)
        created = session.query(SendItem.run_id).distinct().all()

    assert failed == (
        "Se enviarán 1 estado de cuenta de SM02 · Bajío con fecha de corte 28/11/2026 a 1 cliente "
        "(2 correos); los que no tienen saldo quedan en el log como «sin saldo»."
    )
    assert both.startswith("Se enviarán 2 estados de cuenta de SM02 · Bajío con fecha de corte")
    assert "a 2 clientes (3 correos);" in both
    assert created == [(run_id,)]
