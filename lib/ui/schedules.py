"""Programados' pieces: the schedule picker, the form that writes a schedule, the table of
schedules, and the chosen one's Pausar / Reanudar / Borrar and its last occurrences.

The form is made of plain widgets, not an `st.form`, so that each frequency and fecha de
corte rule shows only the field it needs. Its keys hold the visit, a save counter and the
schedule's number: choosing another schedule, coming back to the page or saving loads the
stored values afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session
from streamlit.delta_generator import DeltaGenerator

from lib import formatting, ui
from lib.models import Schedule, ScheduleOccurrence, utcnow
from lib.normalize import InvalidValue
from lib.scheduling import recurrence, schedules
from lib.scheduling.recurrence import CutoffRule, Frequency, Recurrence
from lib.scheduling.schedules import OccurrenceOutcome, ScheduleStatus

NEW = 0  # the picker's "Nuevo programado"
PICKED, PICK_NEXT, SAVES, DELETE_ASKED = (
    "programados-elegido",
    "programados-elegir",
    "programados-grabados",
    "programados-borrar",
)
DEFAULT_TIME = time(7, 0)
CUSTOMERS_LISTED = 2  # more than this many No. Cliente show as a count in the table
# About 900 px beside the sidebar at 1366 px; a long Estado (why it stopped) is cut, whole
# on hover.
SCHEDULE_COLUMNS = {
    "Núm.": st.column_config.NumberColumn("Núm.", width=50, format="%d"),
    "Sociedad": st.column_config.TextColumn("Sociedad", width=70),
    "Clientes": st.column_config.TextColumn("Clientes", width=95),
    "Frecuencia": st.column_config.TextColumn("Frecuencia", width=165),
    "Fecha de corte": st.column_config.TextColumn("Fecha de corte", width=185),
    "Próximo envío": st.column_config.TextColumn("Próximo envío", width=120),
    "Estado": st.column_config.TextColumn("Estado", width=130),
    "Dueño": st.column_config.TextColumn("Dueño", width=80),
}
OCCURRENCE_COLUMNS = {
    "Programado para": st.column_config.TextColumn("Programado para", width=125),
    "Resultado": st.column_config.TextColumn("Resultado", width=130),
    "Envío núm.": st.column_config.NumberColumn("Envío núm.", width=80, format="%d"),
    "Motivo": st.column_config.TextColumn("Motivo", width=520),
}


def title(schedule: Schedule) -> str:
    """How the picker names it: `Núm. 3 · SM02 · Mensual, día 31, 07:00`."""
    return f"Núm. {schedule.id} · {schedule.company_code} · {schedules.describe(schedule)}"


def picker(found: list[Schedule]) -> Schedule | None:
    """The "Programado" selectbox: None for Nuevo programado, else the chosen schedule."""
    key = f"{PICKED}-{ui.visit()}"
    by_id = {s.id: s for s in found}
    if PICK_NEXT in st.session_state:  # set by Grabar: show what was just saved
        st.session_state[key] = st.session_state.pop(PICK_NEXT)
    if st.session_state.get(key, NEW) not in (NEW, *by_id):  # deleted, here or elsewhere
        st.session_state[key] = NEW
    chosen = st.selectbox(
        "Programado",
        [NEW, *by_id],
        format_func=lambda i: title(by_id[i]) if i in by_id else "Nuevo programado",
        key=key,
    )
    return by_id.get(chosen)


def form(schedule: Schedule | None, companies: dict[str, str]) -> schedules.Plan:
    """The fields of a schedule, loaded with `schedule`'s values (defaults for a new one);
    returns what they say now, for Grabar."""
    zone = ui.settings().timezone
    which = schedule.id if schedule else "nuevo"
    key = f"programado-{ui.visit()}-{st.session_state.get(SAVES, 0)}-{which}"
    left, right = st.columns(2)
    codes = list(companies)
    company = left.selectbox(
        "Sociedad",
        codes,
        index=codes.index(schedule.company_code) if schedule else 0,
        format_func=companies.get,
        key=f"{key}-sociedad",
    )
    customers = right.text_area(
        "No. Cliente (opcional)",
        value="; ".join(schedules.customer_list(schedule)) if schedule else "",
        height=68,
        placeholder="Vacío: todos los clientes de la Sociedad en el catálogo de envío",
        help="Varios No. Cliente separados por ;, coma o un renglón cada uno. Vacío: todos "
        "los clientes de la Sociedad que estén en el catálogo de envío el día del envío.",
        key=f"{key}-clientes",
    )
    when = _when(schedule, key, zone)
    rule = st.radio(
        "Fecha de corte",
        list(CutoffRule),
        index=list(CutoffRule).index(CutoffRule(schedule.cutoff_rule)) if schedule else 0,
        format_func=lambda r: r.label,
        horizontal=True,
        key=f"{key}-corte",
    )
    cutoff_day = None
    if rule is CutoffRule.DAY_OF_MONTH:
        cutoff_day = st.columns(4)[0].number_input(
            "Día de corte",
            min_value=1,
            max_value=31,
            value=(schedule.cutoff_day if schedule else None) or 1,
            step=1,
            help="Si ese día aún no llega en el mes del envío, se usa el del mes anterior; "
            "31 es el último día en los meses más cortos.",
            key=f"{key}-dia-corte",
        )
    skip = st.checkbox(
        "No enviar a clientes sin saldo (quedan en el log como «sin saldo»)",
        value=schedule.skip_zero_balance if schedule else False,
        key=f"{key}-sin-saldo",
    )
    st.caption(_preview(when, rule, cutoff_day, zone))
    return schedules.Plan(company or "", customers, rule, cutoff_day, skip, when)


def _when(schedule: Schedule | None, key: str, zone: ZoneInfo) -> Recurrence:
    """Frecuencia, the day it needs (Día del mes, Día de la semana or Fecha) and Hora."""
    stored = schedules.recurrence_of(schedule) if schedule else None
    kinds = list(Frequency)
    kind = st.radio(
        "Frecuencia",
        kinds,
        index=kinds.index(stored.frequency) if stored else 0,
        format_func=lambda f: f.label,
        horizontal=True,
        key=f"{key}-frecuencia",
    )
    day_field, time_field, _ = st.columns([1, 1, 2])
    day_of_month = weekday = once_on = None
    if kind is Frequency.MONTHLY:
        day_of_month = day_field.number_input(
            "Día del mes",
            min_value=1,
            max_value=31,
            value=(stored.day_of_month if stored else None) or 1,
            step=1,
            help="31 (o 29, 30) es el último día en los meses más cortos.",
            key=f"{key}-dia-mes",
        )
    elif kind is Frequency.WEEKLY:
        weekday = day_field.selectbox(
            "Día de la semana",
            range(7),
            index=(stored.weekday if stored else None) or 0,
            format_func=lambda d: recurrence.WEEKDAYS[d].capitalize(),
            key=f"{key}-dia-semana",
        )
    else:
        once_on = day_field.date_input(
            "Fecha",
            value=(stored.once_on if stored else None) or ui.settings().today() + timedelta(1),
            format="DD/MM/YYYY",
            key=f"{key}-fecha",
        )
    at = time_field.time_input(
        "Hora",
        value=stored.at if stored else DEFAULT_TIME,
        step=timedelta(minutes=5),
        help=f"Hora local de {zone.key}.",
        key=f"{key}-hora",
    )
    return Recurrence(kind, at, day_of_month=day_of_month, weekday=weekday, once_on=once_on)


def _preview(when: Recurrence, rule: CutoffRule, cutoff_day: int | None, zone: ZoneInfo) -> str:
    """What the fields mean, before Grabar: the next send and its fecha de corte."""
    following = when.next_after(utcnow(), zone)
    if following is None:
        return f"⚠️ Esa fecha y hora ya pasaron (hora de {zone.key}); elige una futura."
    run_day = following.astimezone(zone).date()
    cut = recurrence.cutoff(rule, run_day, cutoff_day)
    return (
        f"Con estos datos, el próximo envío sale el {formatting.moment(following, zone)} "
        f"(hora de {zone.key}) con fecha de corte {formatting.day(cut)}."
    )


def actor() -> schedules.Actor:
    user = ui.current_user()
    return schedules.Actor(user.username, user.role == "admin")


def grabar(schedule: Schedule | None, plan: schedules.Plan) -> None:
    """Create (Nuevo programado) or update the chosen schedule; the picker then shows it."""
    zone, by = ui.settings().timezone, actor()

    def write(session: Session) -> Schedule:
        if schedule is None:
            return schedules.create(session, plan, by=by, now=utcnow(), zone=zone)
        return schedules.update(session, schedule.id, plan, by=by, now=utcnow(), zone=zone)

    _change(write, lambda saved: f"Programado núm. {saved.id} grabado. {_next_text(saved)}")


def _change(action: Callable[[Session], Schedule], done: Callable[[Schedule], str]) -> None:
    """`ui.save` for a change whose notice names what it did (its number, its next send)."""
    try:
        with ui.session() as current, current.begin():
            changed = action(current)
            number, notice = changed.id, done(changed)
    except InvalidValue as exc:
        ui.refuse(exc)
        return
    st.session_state[PICK_NEXT] = number
    st.session_state[SAVES] = st.session_state.get(SAVES, 0) + 1
    ui.report(True, notice)


def _next_text(schedule: Schedule) -> str:
    if schedule.next_run_at is None:
        return "No tiene próximo envío."
    return f"Próximo envío: {formatting.moment(schedule.next_run_at, ui.settings().timezone)}."


def details(schedule: Schedule) -> None:
    """Whose it is and its last change, under the picker."""
    zone = ui.settings().timezone
    text = (
        f"Dueño: {schedule.owner} (los envíos salen a su nombre y el log llega a su correo) · "
        f"último cambio: {schedule.updated_by}, {formatting.moment(schedule.updated_at, zone)}"
    )
    if schedule.status == ScheduleStatus.FINISHED:
        text += " · ya se envió; para programarlo otra vez, cambia la Fecha y pulsa Grabar"
    st.caption(ui.literal(text))


def actions(schedule: Schedule, row: DeltaGenerator) -> None:
    """Pausar or Reanudar (whichever applies) and Borrar, in `row` beside Grabar; Borrar asks
    first."""
    number, by, status = schedule.id, actor(), ScheduleStatus(schedule.status)
    if status is ScheduleStatus.ACTIVE and row.button("Pausar", icon=":material/pause:"):
        ui.save(
            lambda s: schedules.pause(s, number, by=by, now=utcnow()),
            f"Programado núm. {number} pausado: no se envía hasta que lo reanudes.",
        )
    paused = status in (ScheduleStatus.PAUSED, ScheduleStatus.STOPPED)
    if paused and row.button("Reanudar", icon=":material/play_arrow:"):
        zone = ui.settings().timezone
        _change(
            lambda s: schedules.resume(s, number, by=by, now=utcnow(), zone=zone),
            lambda resumed: f"Programado núm. {number} reanudado. {_next_text(resumed)}",
        )
    asked = (ui.visit(), number)
    if row.button("Borrar", icon=":material/delete:"):
        st.session_state[DELETE_ASKED] = asked
    if st.session_state.get(DELETE_ASKED) not in (None, asked):
        del st.session_state[DELETE_ASKED]  # asked about another one, or on an earlier visit
    if st.session_state.get(DELETE_ASKED) == asked:
        question = (
            f"¿Borrar el programado núm. {number} ({schedule.company_code} · "
            f"{schedules.describe(schedule)})? Ya no se enviará; los envíos que hizo siguen en "
            "Historial de envíos."
        )
        if ui.ask(question, DELETE_ASKED, "Sí, borrar"):
            ui.save(
                lambda s: schedules.delete(s, number, by=by, now=utcnow()),
                f"Programado núm. {number} borrado.",
            )


def table(found: list[Schedule], owners: dict[str, bool]) -> None:
    zone = ui.settings().timezone
    st.dataframe(
        pd.DataFrame(
            {
                "Núm.": [s.id for s in found],
                "Sociedad": [s.company_code for s in found],
                "Clientes": [_customers_cell(s) for s in found],
                "Frecuencia": [schedules.describe(s) for s in found],
                "Fecha de corte": [schedules.cutoff_text(s) for s in found],
                "Próximo envío": [
                    formatting.moment(s.next_run_at, zone) if s.next_run_at else "—" for s in found
                ],
                "Estado": [_status(s, owners) for s in found],
                "Dueño": [s.owner for s in found],
            }
        ),
        hide_index=True,
        width="stretch",
        column_config=SCHEDULE_COLUMNS,
    )


def _customers_cell(schedule: Schedule) -> str:
    numbers = schedules.customer_list(schedule)
    if not numbers:
        return "Todos"
    if len(numbers) <= CUSTOMERS_LISTED:
        return ", ".join(numbers)
    return formatting.count(len(numbers), "cliente")


def _status(schedule: Schedule, owners: dict[str, bool]) -> str:
    if reason := schedules.stopped_reason(schedule, owners):
        return f"{ScheduleStatus.STOPPED.label}: {reason}"
    return ScheduleStatus(schedule.status).label


def occurrences_table(rows: list[ScheduleOccurrence]) -> None:
    """Últimas ejecuciones: each due moment, what became of it and the run it created."""
    if not rows:
        st.caption("Aún no ha llegado ninguna de sus fechas.")
        return
    zone = ui.settings().timezone
    st.dataframe(
        pd.DataFrame(
            {
                "Programado para": [formatting.moment(o.due_at, zone) for o in rows],
                "Resultado": [OccurrenceOutcome(o.outcome).label for o in rows],
                "Envío núm.": pd.array([o.run_id for o in rows], dtype="Int64"),
                "Motivo": [o.reason for o in rows],
            }
        ),
        hide_index=True,
        width="stretch",
        column_config=OCCURRENCE_COLUMNS,
    )
