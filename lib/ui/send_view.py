"""Envío masivo's run: Procesar's Enviar creates it; then the page follows it every second
(progress, counts, each customer's outcome, the log) with Detener envío between the live parts.
"""

from __future__ import annotations

import streamlit as st

from lib import formatting
from lib.formatting import count
from lib.normalize import InvalidValue
from lib.sending import log as runlog
from lib.sending import runs
from lib.sending.status import ItemStatus, RunStatus
from lib.ui import (
    OUTCOME_FIGURES,
    actor,
    ask,
    current_user,
    live,
    log_download,
    log_notice,
    refuse,
    report,
    session,
    settings,
    show_items,
)

LISTING = "envio-lista"
SHOWN_RUN = "envio-mostrado"
STOP_ASKED = "envio-detener"


def procesar(listing: dict, chosen: list[runs.Candidate]) -> None:
    """Procesar's Enviar: write the run and its items; a worker process sends them."""
    user = current_user()
    try:
        with session() as current, current.begin():
            run = runs.create_run(
                current,
                username=user.username,
                notify_email=user.email,
                keys=[c.key for c in chosen],
                cutoff=listing["cutoff"],
                run_date=settings().today(),
                skip_zero_balance=listing["skip"],
                company_filter=listing["company"] or None,
                customer_filter=listing["customer"] or None,
            )
    except InvalidValue as exc:
        refuse(exc)
        return
    st.session_state[SHOWN_RUN] = run.id
    del st.session_state[LISTING]
    report(True, f"Se creó el envío núm. {run.id} para {count(run.total, 'cliente')}.")


def stop_control(run_id: int) -> None:
    """Detener envío, after a confirmation that says what happens to the customers left.

    Drawn between the live parts, not in them, so its buttons stay still while the progress
    is redrawn every second; their clicks rerun the whole page, login checks included.
    """
    if st.session_state.get(STOP_ASKED) != run_id:
        if st.button("Detener envío", icon=":material/stop_circle:"):
            st.session_state[STOP_ASKED] = run_id
            st.rerun()
        return
    question = (
        "Los clientes que aún no se envían quedarán como detenidos («envío detenido»); "
        "podrás enviarlos después con Reintentar fallidos, en Historial de envíos. "
        "Los que se están enviando en este momento terminan."
    )
    if ask(question, STOP_ASKED, "Sí, detener", no="No, seguir enviando"):
        stop(run_id)


def stop(run_id: int) -> None:
    try:
        with session() as current, current.begin():
            stopped = runs.stop(current, run_id, username=actor())
    except InvalidValue as exc:
        refuse(exc)
        return
    left = count(stopped, "cliente quedó", "clientes quedaron")
    report(True, f"Envío núm. {run_id} detenido: {left} sin enviar.")


def can_stop(run_id: int) -> bool:
    """Customers still waiting for a worker, and no Detener yet."""
    with session() as current:
        counts = runs.progress(current, run_id).counts
    return bool(counts.get(ItemStatus.PENDING)) and not counts.get(ItemStatus.STOPPED)


def follow(run_id: int) -> bool:
    """Draw where the run stands; True once it has finished."""
    with session() as current:
        shown = runs.progress(current, run_id)
    run = shown.run
    label = RunStatus(run.status).shown(shown.counts.get(ItemStatus.STOPPED, 0))
    st.subheader(f"Envío núm. {run.id} · {label}")
    st.caption(
        f"Fecha de corte {formatting.day(run.cutoff_date)} · iniciado por {run.started_by} "
        f"el {formatting.moment(run.created_at, settings().timezone)}"
    )
    st.progress(
        shown.fraction,
        text=f"{shown.done:,} de {count(run.total, 'cliente procesado', 'clientes procesados')}",
    )
    figures = st.columns(len(OUTCOME_FIGURES))
    for column, (name, status) in zip(figures, OUTCOME_FIGURES, strict=True):
        column.metric(name, f"{shown.counts.get(status, 0):,}")
    if shown.waiting:
        st.warning(
            f"Envío en pausa, {shown.waiting}. Sigue solo en cuanto el servidor responda "
            "(se vuelve a intentar cada pocos minutos); nadie queda sin enviar ni recibe dos "
            "veces. Si no quieres esperar, usa Detener envío."
        )
    elif run.status == RunStatus.PENDING:
        st.info("El envío empieza en cuanto el proceso de envío lo toma (unos segundos).")
    return shown.finished


def follow_items(run_id: int) -> None:
    """The run's customers with their outcome, and the log once the run has finished."""
    with session() as current:
        run = runs.progress(current, run_id).run
        rows = runs.items(current, run_id)
        log = runlog.text(current, run) if run.status == RunStatus.DONE else ""
    show_items(rows)
    if run.status == RunStatus.DONE:
        log_notice(run)
        log_download(run, log)


def show_run(wanted: int | None) -> None:
    """The run this page started (or the user's running one), live until it ends."""
    with session() as current:
        shown_run = runs.run_to_show(current, wanted, current_user().username)
    if shown_run is None:
        return
    st.divider()
    if shown_run.status == RunStatus.DONE:
        st.session_state.pop(STOP_ASKED, None)
        follow(shown_run.id)
        follow_items(shown_run.id)
    else:
        live(follow, shown_run.id)
        if can_stop(shown_run.id):
            stop_control(shown_run.id)
        live(follow_items, shown_run.id)
