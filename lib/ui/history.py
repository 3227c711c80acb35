"""Historial de envíos' pieces: the table of runs and Reintentar fallidos with its last look."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from lib import formatting
from lib.formatting import count
from lib.models import SendRun
from lib.normalize import InvalidValue
from lib.sending import runs
from lib.sending.status import ItemStatus, RunStatus
from lib.ui import OUTCOME_FIGURES, confirm_send, current_user, refuse, report, session, settings
from lib.ui.send_view import SHOWN_RUN

RETRY_ASKED = "historial-reintentar"
ALWAYS_SHOWN = ("Enviados", "Con error")
OPTIONAL = {"No. Cliente", "Reintento de", "Programado", *(name for name, _ in OUTCOME_FIGURES)}
# About 900 px beside the sidebar at 1366 px: Estado comes right after the number, and the
# outcome columns that are zero in every listed run are left out.
RUN_COLUMNS = {
    "Núm.": st.column_config.NumberColumn("Núm.", width=50, format="%d"),
    "Estado": st.column_config.TextColumn("Estado", width=95),
    "Creado": st.column_config.TextColumn("Creado", width=125),
    "Iniciado por": st.column_config.TextColumn("Iniciado por", width=90),
    "Sociedad": st.column_config.TextColumn("Sociedad", width=70),
    "No. Cliente": st.column_config.TextColumn("No. Cliente", width=85),
    "Fecha de corte": st.column_config.TextColumn("Fecha de corte", width=95),
    "Clientes": st.column_config.NumberColumn("Clientes", width=65),
    **{name: st.column_config.NumberColumn(name, width=75) for name, _ in OUTCOME_FIGURES},
    "Reintento de": st.column_config.NumberColumn("Reintento de", width=60, format="%d"),
    "Programado": st.column_config.NumberColumn(
        "Programado", width=85, format="%d", help="Núm. del programado que creó el envío"
    ),
}


def runs_table(found: list[SendRun], by_run: Mapping[int, Mapping[str, int]]) -> None:
    zone = settings().timezone
    counts = {
        name: [by_run.get(r.id, {}).get(status, 0) for r in found]
        for name, status in OUTCOME_FIGURES
    }
    columns = {
        "Núm.": [r.id for r in found],
        "Estado": [
            RunStatus(r.status).shown(by_run.get(r.id, {}).get(ItemStatus.STOPPED, 0))
            for r in found
        ],
        "Creado": [formatting.moment(r.created_at, zone) for r in found],
        "Iniciado por": [r.started_by for r in found],
        "Sociedad": [r.company_code or "Todas" for r in found],
        "No. Cliente": [r.customer_filter or "" for r in found],
        "Fecha de corte": [formatting.day(r.cutoff_date) for r in found],
        "Clientes": [r.total for r in found],
        **counts,
        "Reintento de": [r.retry_of for r in found],
        "Programado": [r.schedule_id for r in found],
    }
    # At 1366 px the outcomes need the room: a column that is empty (or zero) in every listed
    # run is left out, as most runs filter no customer, retry none and come from no schedule.
    shown = {n: c for n, c in columns.items() if n in ALWAYS_SHOWN or n not in OPTIONAL or any(c)}
    table = pd.DataFrame(shown)
    st.dataframe(table, hide_index=True, width="stretch", column_config=RUN_COLUMNS)


def retry(run_id: int, include_uncertain: bool) -> None:
    user = current_user()
    try:
        with session() as current, current.begin():
            again = runs.retry(
                current,
                run_id,
                username=user.username,
                notify_email=user.email,
                run_date=settings().today(),
                include_uncertain=include_uncertain,
            )
    except InvalidValue as exc:
        refuse(exc)
        return
    st.session_state[SHOWN_RUN] = again.id
    report(
        True,
        f"Se creó el envío núm. {again.id} con {count(again.total, 'cliente')}; "
        "su avance está en Envío masivo estado de cuenta.",
    )


def ask_to_retry(run_id: int, include_uncertain: bool, companies: Mapping[str, str]) -> None:
    """Reintentar's last look: what goes out, to whom; the run is created only on Enviar."""
    try:
        with session() as current:
            question = runs.retry_question(
                current, run_id, companies, include_uncertain=include_uncertain
            )
    except InvalidValue as exc:
        st.session_state.pop(RETRY_ASKED, None)
        refuse(exc)
        return
    if confirm_send(question, RETRY_ASKED):
        retry(run_id, include_uncertain)
