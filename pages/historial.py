"""Historial de envíos: every run with who, when and how it went; its log; retries."""

from datetime import timedelta

import streamlit as st

from lib import catalog, formatting, ui, users
from lib.sending import log as runlog
from lib.sending import runs
from lib.sending.status import RETRIED_ITEM_STATES, ItemStatus, RunStatus
from lib.ui import history

ui.page_guard()

CONFIRM_UNCERTAIN = "historial-confirmar-inciertos"


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

history.runs_table(found, by_run)

zone = ui.settings().timezone
runs_by_id = {r.id: r for r in found}
chosen = st.selectbox(
    "Ver el detalle del envío",
    list(runs_by_id),
    format_func=lambda i: (
        f"Núm. {i} · {runs_by_id[i].started_by} · "
        + ("programado · " if runs_by_id[i].schedule_id else "")
        + formatting.moment(runs_by_id[i].created_at, zone)
    ),
)
run = runs_by_id[chosen]
if run.schedule_id:
    st.caption(f"Lo creó el programado núm. {run.schedule_id} (Programados).")
if run.note:
    st.info(formatting.sentence(run.note))
with ui.session() as session:
    rows = runs.items(session, run.id)
    log = runlog.text(session, run)
ui.show_items(rows)
if run.status == RunStatus.DONE:
    ui.log_notice(run)
left, middle, right = st.columns(3)
ui.log_download(run, log, left)
failed = sum(by_run.get(run.id, {}).get(status, 0) for status in RETRIED_ITEM_STATES)
uncertain = by_run.get(run.id, {}).get(ItemStatus.UNCERTAIN, 0)
if middle.button(f"Reintentar fallidos ({failed})", disabled=not failed):
    st.session_state[history.RETRY_ASKED] = (run.id, False)
if uncertain:
    st.warning(
        formatting.count(uncertain, "correo quedó **incierto**", "correos quedaron **inciertos**")
        + ": el envío se interrumpió durante la entrega y pudo haber llegado. "
        "Revisa con los clientes antes de reenviar."
    )
    confirmed = st.checkbox(
        "Revisé los inciertos y quiero reenviarlos junto con los fallidos", key=CONFIRM_UNCERTAIN
    )
    if right.button(
        f"Reintentar fallidos e inciertos ({failed + uncertain})", disabled=not confirmed
    ):
        st.session_state[history.RETRY_ASKED] = (run.id, True)
asked = st.session_state.get(history.RETRY_ASKED)
if asked is not None and asked[1] and not st.session_state.get(CONFIRM_UNCERTAIN):
    del st.session_state[history.RETRY_ASKED]  # the inciertos' box was unticked after asking
    asked = None
if asked is not None and asked[0] == run.id:
    history.ask_to_retry(*asked, companies)
