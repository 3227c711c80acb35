"""Envío masivo › Programados through AppTest: the form, the table, Pausar / Reanudar / Borrar,
who may change what, and the occurrences the workers record, on a real SQLite file."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from lib import config, formatting, users
from lib.models import Recipient, Schedule, SendRun, utcnow
from lib.scheduling import due, schedules
from lib.scheduling.recurrence import CutoffRule, Frequency, Recurrence
from lib.scheduling.schedules import Actor, Plan
from tests.support import seed_catalog
from tests.test_pages import start
from tests.test_usuarios_page import click, widget

PROGRAMADOS = "pages/programados.py"
SKIP_ZERO = "No enviar a clientes sin saldo (quedan en el log como «sin saldo»)"
NOT_YOURS = "El programado núm. 1 es de root; solo su dueño o un administrador lo cambian."


@pytest.fixture
def catalog(people: dict[str, str], database: sessionmaker[Session]) -> None:
    """SM02 with 1006210 and 1004273 in the catalog of envío; SM05 with nobody in it."""
    seed_catalog(database)
    with database() as session, session.begin():
        session.add(Recipient(company_code="SM02", customer_no="1006210", emails="pena@x.mx",
                              created_by="seed", updated_by="seed"))  # fmt: skip


def yesterday() -> date:
    """In the app's TIMEZONE: any hour of it has passed."""
    return config.load_settings().today() - timedelta(days=1)


def zone():
    return config.load_settings().timezone


def open_page(user: str = "ana") -> AppTest:
    at = start(PROGRAMADOS, user=user)
    assert not at.exception
    assert at.title[0].value == "Programados"
    return at


def pick(at: AppTest, number: int) -> AppTest:
    """Choose schedule `number` in the "Programado" picker (0: Nuevo programado)."""
    widget(at.selectbox, "Programado").select(number)
    return at.run()


def ids_listed(at: AppTest) -> list[int]:
    return sorted(int(n) for n in at.dataframe[0].value["Núm."]) if at.dataframe else []


def listed(at: AppTest) -> list[dict]:
    return at.dataframe[0].value.to_dict("records")


def plan(**changes) -> Plan:
    values = {
        "company": "SM02",
        "customers": "",
        "cutoff_rule": CutoffRule.PREVIOUS_MONTH_END,
        "cutoff_day": None,
        "skip_zero_balance": False,
        "recurrence": Recurrence(Frequency.MONTHLY, time(7, 0), day_of_month=31),
    }
    return Plan(**{**values, **changes})


def stored_schedule(database: sessionmaker[Session], owner: str = "ana", **changes) -> Schedule:
    """A schedule written through lib, as another session of the app would."""
    with database() as session, session.begin():
        saved = schedules.create(
            session, plan(**changes), by=Actor(owner, owner == "root"), now=utcnow(), zone=zone()
        )
    return saved


def reread(database: sessionmaker[Session], number: int = 1) -> Schedule:
    with database() as session:
        return session.get(Schedule, number)


def count_schedules(database: sessionmaker[Session]) -> int:
    with database() as session:
        return session.query(Schedule).count()


def test_grabar_creates_a_monthly_schedule_listed_with_its_next_send(catalog, database) -> None:
    at = open_page()
    assert at.info[0].value.startswith("Aún no hay envíos programados")
    widget(at.number_input, "Día del mes").set_value(31)
    widget(at.time_input, "Hora").set_value(time(7, 0))
    widget(at.radio, "Fecha de corte").set_value(CutoffRule.PREVIOUS_MONTH_END)
    at.run()
    click(at, "Grabar")

    assert not at.exception
    following = Recurrence(Frequency.MONTHLY, time(7, 0), day_of_month=31).next_after(
        utcnow(), zone()
    )
    shown = formatting.moment(following, zone())
    assert at.success[0].value == f"Programado núm. 1 grabado. Próximo envío: {shown}."
    assert listed(at) == [
        {
            "Núm.": 1,
            "Sociedad": "SM02",
            "Clientes": "Todos",
            "Frecuencia": "Mensual, día 31, 07:00",
            "Fecha de corte": "Último día del mes anterior",
            "Próximo envío": shown,
            "Estado": "▶️ Activo",
            "Dueño": "ana",
        }
    ]
    # The picker now shows what was saved, ready for Pausar or Borrar.
    assert widget(at.selectbox, "Programado").value == 1
    assert [b.label for b in at.button][:3] == ["Grabar", "Pausar", "Borrar"]
    saved = reread(database)
    assert (saved.owner, saved.frequency, saved.day_of_month, saved.at_time) == (
        "ana", "monthly", 31, time(7, 0)
    )  # fmt: skip
    assert saved.next_run_at == following


def test_the_form_shows_only_the_fields_the_frequency_and_the_cutoff_need(catalog) -> None:
    at = open_page()
    assert [n.label for n in at.number_input] == ["Día del mes"]
    widget(at.radio, "Frecuencia").set_value(Frequency.WEEKLY)
    widget(at.radio, "Fecha de corte").set_value(CutoffRule.DAY_OF_MONTH)
    at.run()
    assert [n.label for n in at.number_input] == ["Día de corte"]
    assert widget(at.selectbox, "Día de la semana").options[:2] == ["Lunes", "Martes"]
    widget(at.radio, "Frecuencia").set_value(Frequency.ONCE)
    at.run()
    assert [d.label for d in at.date_input] == ["Fecha"]
    assert not [s for s in at.selectbox if s.label == "Día de la semana"]


def test_grabar_saves_the_listed_customers_and_a_fixed_cutoff_day(catalog, database) -> None:
    at = open_page()
    at.text_area[0].input("0001006210\n1004273; 1006210")
    widget(at.radio, "Fecha de corte").set_value(CutoffRule.DAY_OF_MONTH)
    at.run()
    widget(at.number_input, "Día de corte").set_value(15)
    widget(
        at.checkbox, "No enviar a clientes sin saldo (quedan en el log como «sin saldo»)"
    ).check()
    at.run()
    click(at, "Grabar")

    assert not at.exception
    row = listed(at)[0]
    assert (row["Clientes"], row["Fecha de corte"]) == ("1006210, 1004273", "Día 15 del mes")
    saved = reread(database)
    assert (saved.customers, saved.cutoff_rule, saved.cutoff_day, saved.skip_zero_balance) == (
        "1006210;1004273", "day_of_month", 15, True
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fill", "error"),
    [
        (
            lambda at: at.text_area[0].input("1006210; 9999999"),
            "1 cliente no está en el catálogo de envío de SM02: 9999999.",
        ),
        (
            lambda at: at.text_area[0].input("abc/12"),
            "No. Cliente 'ABC/12' no válido.",
        ),
        (
            lambda at: (
                widget(at.radio, "Frecuencia").set_value(Frequency.ONCE).run(),
                widget(at.date_input, "Fecha").set_value(yesterday()),
            ),
            "La fecha y hora del envío único ya pasaron; elige una futura.",
        ),
    ],
    ids=["unknown customer", "bad customer number", "once in the past"],
)
def test_a_bad_input_says_why_in_spanish_and_saves_nothing(catalog, database, fill, error) -> None:
    at = open_page()
    fill(at)
    at.run()
    click(at, "Grabar")

    assert not at.exception
    assert [e.value for e in at.error] == [error]
    assert not at.success
    assert count_schedules(database) == 0
    assert at.info[0].value.startswith("Aún no hay envíos programados")


def test_a_once_in_the_past_is_flagged_before_grabar(catalog) -> None:
    at = open_page()
    widget(at.radio, "Frecuencia").set_value(Frequency.ONCE).run()
    widget(at.date_input, "Fecha").set_value(yesterday()).run()
    assert any(c.value.startswith("⚠️ Esa fecha y hora ya pasaron") for c in at.caption)


def test_choosing_a_schedule_loads_it_and_grabar_changes_it(catalog, database) -> None:
    stored_schedule(database, customers="1006210")
    at = pick(open_page(), 1)

    assert at.text_area[0].value == "1006210"
    assert widget(at.number_input, "Día del mes").value == 31
    assert widget(at.radio, "Fecha de corte").value is CutoffRule.PREVIOUS_MONTH_END
    widget(at.radio, "Frecuencia").set_value(Frequency.WEEKLY).run()
    widget(at.selectbox, "Día de la semana").select(4)
    widget(at.time_input, "Hora").set_value(time(18, 30))
    at.text_area[0].input("")
    at.run()
    click(at, "Grabar")

    assert not at.exception
    assert at.success[0].value.startswith("Programado núm. 1 grabado. Próximo envío: ")
    row = listed(at)[0]
    assert (row["Frecuencia"], row["Clientes"]) == ("Cada viernes, 18:30", "Todos")
    saved = reread(database)
    assert (saved.frequency, saved.weekday, saved.day_of_month, saved.customers) == (
        "weekly", 4, None, ""
    )  # fmt: skip
    assert saved.next_run_at.astimezone(zone()).weekday() == 4
    assert count_schedules(database) == 1
    # The form shows the stored values again, not a new form.
    assert widget(at.selectbox, "Día de la semana").value == 4


def test_nuevo_programado_after_choosing_one_starts_an_empty_form(catalog, database) -> None:
    stored_schedule(database, customers="1006210")
    at = pick(pick(open_page(), 1), 0)
    assert at.text_area[0].value == ""
    assert [b.label for b in at.button][:2] == ["Grabar", "Cerrar sesión"]
    click(at, "Grabar")
    assert ids_listed(at) == [1, 2]


def test_pausar_then_reanudar(catalog, database) -> None:
    stored_schedule(database)
    at = pick(open_page(), 1)
    click(at, "Pausar")

    assert at.success[0].value == ("Programado núm. 1 pausado: no se envía hasta que lo reanudes.")
    assert listed(at)[0]["Estado"] == "⏸️ Pausado"
    assert reread(database).status == "paused"
    labels = [b.label for b in at.button]
    assert "Reanudar" in labels
    assert "Pausar" not in labels

    click(at, "Reanudar")
    assert at.success[0].value.startswith("Programado núm. 1 reanudado. Próximo envío: ")
    assert listed(at)[0]["Estado"] == "▶️ Activo"
    assert reread(database).status == "active"


def test_borrar_asks_first_then_removes_it_from_the_list(catalog, database) -> None:
    stored_schedule(database)
    at = pick(open_page(), 1)
    click(at, "Borrar")
    assert [w.value for w in at.warning] == [
        "¿Borrar el programado núm. 1 (SM02 · Mensual, día 31, 07:00)? Ya no se enviará; los "
        "envíos que hizo siguen en Historial de envíos."
    ]
    click(at, "Cancelar")
    assert not at.warning
    assert ids_listed(at) == [1]
    assert reread(database).status == "active"

    click(at, "Borrar")
    click(at, "Sí, borrar")
    assert not at.exception
    assert at.success[0].value == "Programado núm. 1 borrado."
    assert not at.dataframe
    assert at.info[0].value.startswith("Aún no hay envíos programados")
    assert widget(at.selectbox, "Programado").options == ["Nuevo programado"]
    assert reread(database).status == "deleted"


@pytest.mark.parametrize("action", ["Pausar", "Borrar", "Grabar"])
def test_an_analista_cannot_change_someone_elses_schedule(catalog, database, action) -> None:
    stored_schedule(database, owner="root")
    at = pick(open_page("ana"), 1)
    click(at, action)
    if action == "Borrar":
        click(at, "Sí, borrar")

    assert not at.exception
    assert [e.value for e in at.error] == [NOT_YOURS]
    assert not at.success
    saved = reread(database)
    assert (saved.status, saved.updated_by) == ("active", "root")


def test_an_admin_changes_an_analistas_schedule_which_stays_theirs(catalog, database) -> None:
    stored_schedule(database, owner="ana")
    at = pick(open_page("root"), 1)
    click(at, "Pausar")
    assert at.success[0].value.startswith("Programado núm. 1 pausado")
    saved = reread(database)
    assert (saved.status, saved.owner, saved.updated_by) == ("paused", "ana", "root")
    assert listed(at)[0]["Dueño"] == "ana"


def test_a_deactivated_owner_shows_why_the_schedule_does_not_run(catalog, database) -> None:
    stored_schedule(database, owner="ana")
    with database() as session, session.begin():
        users.find(session, "ana").active = False
    at = open_page("root")
    assert listed(at)[0]["Estado"] == (
        "⏹️ Detenido: su dueño (ana) está desactivado; actívalo y pulsa Reanudar"
    )


def test_an_occurrence_run_by_the_workers_shows_in_ultimas_ejecuciones(catalog, database):
    schedule = stored_schedule(database, cutoff_rule=CutoffRule.RUN_DAY)
    empty = stored_schedule(database, company="SM05")  # nobody of SM05 is in the catalog
    due_at = schedule.next_run_at
    done = due.run_due(database, config.load_settings(), now=due_at, worker="prueba")
    assert [(d.schedule_id, d.outcome) for d in done] == [(1, "started"), (2, "empty")]
    with database() as session:
        run = session.query(SendRun).filter_by(schedule_id=1).one()

    at = pick(open_page(), 1)
    assert not at.exception
    assert at.subheader[0].value == "Últimas ejecuciones"
    occurred = at.dataframe[1].value.to_dict("records")
    assert occurred == [
        {
            "Programado para": formatting.moment(due_at, zone()),
            "Resultado": "✅ Envío creado",
            "Envío núm.": run.id,
            "Motivo": "",
        }
    ]
    row = next(r for r in listed(at) if r["Núm."] == 1)
    following = reread(database).next_run_at
    assert following > due_at
    assert row["Próximo envío"] == formatting.moment(following, zone())

    at = pick(at, empty.id)
    (nobody,) = at.dataframe[1].value.to_dict("records")
    assert (nobody["Resultado"], nobody["Motivo"]) == (
        "⚠️ Sin clientes",
        "la Sociedad SM05 no tiene clientes en el catálogo de envío",
    )
    assert nobody["Envío núm."] > run.id
