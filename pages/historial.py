"""Historial de envíos: every run with who, when and how it went; its log; retries."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from lib import catalog, formatting, ui, users
from lib.normalize import InvalidValue
from lib.sending import log as runlog
from lib.sending import runs
from lib.sending.status import RETRIED_ITEM_STATES, ItemStatus, RunStatus

ui.page_guard()

CONFIRM_UNCERTAIN = "historial-confirmar-inciertos"
RETRY_ASKED = "historial-reintentar"


def retry(run_id: int, include_uncertain: bool) -> None:
    user = ui.current_user()
    try:
        with ui.session() as session, session.begin():
            again = runs.retry(
                session,
                run_id,
                username=user.username,
                notify_email=user.email,
                run_date=ui.settings().today(),
                include_uncertain=include_uncertain,
            )
    except InvalidValue as exc:
        ui.refuse(exc)
        return
    st.session_state["envio-mostrado"] = again.id
    ui.report(
        True,
        f"Se creó el envío núm. {again.id} con {again.total:,} clientes; "
        "su avance está en Envío masivo estado de cuenta.",
    )


def ask_to_retry(run_id: int, include_uncertain: bool) -> None:
    """Reintentar's last look: what goes out, to whom; the run is created only on Enviar."""
    try:
        with ui.session() as session:
            question = runs.retry_question(session, run_id, companies,
                                           include_uncertain=include_uncertain)  # fmt: skip
    except InvalidValue as exc:
        st.session_state.pop(RETRY_ASKED, None)
        ui.refuse(exc)
        return
    if ui.confirm_send(question, RETRY_ASKED):
        retry(run_id, include_uncertain)


st.title("Historial de envíos")
with ui.session() as session:
    companies = catalog.company_choices(session)
    usernames = [u.username for u in users.all_users(session)]

left, middle, right = st.columns(3)
company = left.selectbox(
    "Sociedad", ["", *companies], format_func=lambda c: companies.get(c, "Todas")
)
username = middle.selectbox("Iniciado por", ["", *usernames], format_func=lambda u: u or "Todos")
since = right.date_input(
    "Desde", value=ui.settings().today() - timedelta(days=30), format="DD/MM/YYYY"
)

with ui.session() as session:
    found = runs.runs(session, company=company, username=username, since=since)
    by_run = runs.counts(session, [r.id for r in found])
if not found:
    st.info("No hay envíos con esos datos.")
    st.stop()

zone = ui.settings().timezone
st.dataframe(
    pd.DataFrame(
        {
            "Núm.": [r.id for r in found],
            "Creado": [formatting.moment(r.created_at, zone) for r in found],
            "Iniciado por": [r.started_by for r in found],
            "Sociedad": [r.company_code or "Todas" for r in found],
            "No. Cliente": [r.customer_filter or "" for r in found],
            "Fecha de corte": [formatting.day(r.cutoff_date) for r in found],
            "Clientes": [r.total for r in found],
            **{
                label: [by_run.get(r.id, {}).get(status, 0) for r in found]
                for label, status in ui.OUTCOME_FIGURES
            },
            "Estado": [
                RunStatus(r.status).shown(by_run.get(r.id, {}).get(ItemStatus.STOPPED, 0))
                for r in found
            ],
            "Reintento de": [r.retry_of or "" for r in found],
        }
    ),
    hide_index=True,
    width="stretch",
)

runs_by_id = {r.id: r for r in found}
chosen = st.selectbox(
    "Ver el detalle del envío",
    list(runs_by_id),
    format_func=lambda i: (
        f"Núm. {i} · {runs_by_id[i].started_by} · "
        f"{formatting.moment(runs_by_id[i].created_at, zone)}"
    ),
)
run = runs_by_id[chosen]
with ui.session() as session:
    rows = runs.items(session, run.id)
    log = runlog.text(session, run)
st.dataframe(ui.items_table(rows), hide_index=True, width="stretch")
if run.status == RunStatus.DONE:
    ui.log_notice(run)
left, middle, right = st.columns(3)
ui.log_download(run, log, left)
failed = sum(by_run.get(run.id, {}).get(status, 0) for status in RETRIED_ITEM_STATES)
uncertain = by_run.get(run.id, {}).get(ItemStatus.UNCERTAIN, 0)
if middle.button(f"Reintentar fallidos ({failed})", disabled=not failed):
    st.session_state[RETRY_ASKED] = (run.id, False)
if uncertain:
    st.warning(
        f"{uncertain} correos quedaron **inciertos**: el envío se interrumpió mientras se "
        "entregaban y pudieron haber llegado. Revisa con los clientes antes de reenviarlos."
    )
    confirmed = st.checkbox(
        "Revisé los inciertos y quiero reenviarlos junto con los fallidos", key=CONFIRM_UNCERTAIN
    )
    if right.button(
        f"Reintentar fallidos e inciertos ({failed + uncertain})", disabled=not confirmed
    ):
        st.session_state[RETRY_ASKED] = (run.id, True)
asked = st.session_state.get(RETRY_ASKED)
if asked is not None and asked[1] and not st.session_state.get(CONFIRM_UNCERTAIN):
    del st.session_state[RETRY_ASKED]  # the inciertos' box was unticked after asking
    asked = None
if asked is not None and asked[0] == run.id:
    ask_to_retry(*asked)
