"""Envío masivo estado de cuenta (manual section 3): pick the customers, Procesar, follow the run.

Procesar asks first (what goes out, to whom); its Enviar only writes the run and a worker
sends it, so leaving the page does not stop anything.
The selection is a `{customer: bool}` dict in session state, never the editor's own output.
"""

import zlib

import pandas as pd
import streamlit as st

from lib import catalog, formatting, ui
from lib.normalize import InvalidValue
from lib.sending import log as runlog
from lib.sending import runs
from lib.sending.status import ItemStatus, RunStatus

ui.page_guard()

LISTING, SELECTION, EDITOR_VERSION, EDITOR_INPUTS, EDITOR_SHOWN, SHOWN_RUN = (
    "envio-lista",
    "envio-seleccion",
    "envio-version-editor",
    "envio-entradas-editor",
    "envio-editor-mostrado",
    "envio-mostrado",
)
STOP_ASKED = "envio-detener"
SEND_ASKED = "envio-confirmar"


def select(keys: list[str], value: bool) -> None:
    st.session_state[SELECTION].update(dict.fromkeys(keys, value))
    st.session_state[EDITOR_VERSION] = st.session_state.get(EDITOR_VERSION, 0) + 1


def editor_input(keys: list[str]) -> tuple[str, list[bool]]:
    """The editor's key and the ticks it starts from.

    The same rows keep the same editor, fed the same input on every rerun, so its own edits
    accumulate (ticking a row twice works). The input is taken from the selection only when
    that editor starts: new rows shown (filter, search), a button changed the selection, or
    the editor was not on the page in the previous run (Streamlit then dropped its edits).
    """
    rows = zlib.crc32("|".join(keys).encode())
    name = f"envio-editor-{st.session_state.get(EDITOR_VERSION, 0)}-{rows}"
    inputs = st.session_state.setdefault(EDITOR_INPUTS, {})
    if name not in inputs or st.session_state.get(EDITOR_SHOWN) != (name, ui.run_number() - 1):
        inputs[name] = [st.session_state[SELECTION].get(k, True) for k in keys]
    st.session_state[EDITOR_SHOWN] = (name, ui.run_number())
    return name, inputs[name]


def procesar(listing: dict, chosen: list[runs.Candidate]) -> None:
    user = ui.current_user()
    settings = ui.settings()
    try:
        with ui.session() as session, session.begin():
            run = runs.create_run(
                session,
                username=user.username,
                notify_email=user.email,
                keys=[c.key for c in chosen],
                cutoff=listing["cutoff"],
                run_date=settings.today(),
                skip_zero_balance=listing["skip"],
                company_filter=listing["company"] or None,
                customer_filter=listing["customer"] or None,
            )
    except InvalidValue as exc:
        ui.refuse(exc)
        return
    st.session_state[SHOWN_RUN] = run.id
    del st.session_state[LISTING]
    ui.report(True, f"Se creó el envío núm. {run.id} para {run.total:,} clientes.")


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
    st.warning(
        "Los clientes que aún no se envían quedarán como detenidos («envío detenido»); "
        "podrás enviarlos después con Reintentar fallidos, en Historial de envíos. "
        "Los que se están enviando en este momento terminan."
    )
    yes, no, _ = st.columns([1, 1, 3])
    if no.button("No, seguir enviando"):
        del st.session_state[STOP_ASKED]
        st.rerun()
    if yes.button("Sí, detener", type="primary"):
        del st.session_state[STOP_ASKED]
        stop(run_id)


def stop(run_id: int) -> None:
    try:
        with ui.session() as session, session.begin():
            stopped = runs.stop(session, run_id, username=ui.actor())
    except InvalidValue as exc:
        ui.refuse(exc)
        return
    ui.report(True, f"Envío núm. {run_id} detenido: {stopped:,} clientes quedaron sin enviar.")


def can_stop(run_id: int) -> bool:
    """Customers still waiting for a worker, and no Detener yet."""
    with ui.session() as session:
        counts = runs.progress(session, run_id).counts
    return bool(counts.get(ItemStatus.PENDING)) and not counts.get(ItemStatus.STOPPED)


def follow(run_id: int) -> bool:
    """Draw where the run stands; True once it has finished."""
    with ui.session() as session:
        shown = runs.progress(session, run_id)
    run = shown.run
    label = RunStatus(run.status).shown(shown.counts.get(ItemStatus.STOPPED, 0))
    st.subheader(f"Envío núm. {run.id} · {label}")
    st.caption(
        f"Fecha de corte {formatting.day(run.cutoff_date)} · iniciado por {run.started_by} "
        f"el {formatting.moment(run.created_at, ui.settings().timezone)}"
    )
    st.progress(shown.fraction, text=f"{shown.done:,} de {run.total:,} clientes procesados")
    figures = st.columns(len(ui.OUTCOME_FIGURES))
    for column, (name, status) in zip(figures, ui.OUTCOME_FIGURES, strict=True):
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
    with ui.session() as session:
        run = runs.progress(session, run_id).run
        rows = runs.items(session, run_id)
        log = runlog.text(session, run) if run.status == RunStatus.DONE else ""
    st.dataframe(ui.items_table(rows), hide_index=True, width="stretch")
    if run.status == RunStatus.DONE:
        ui.log_notice(run)
        ui.log_download(run, log)


st.title("Envío masivo estado de cuenta")
st.caption("Elige la Sociedad y/o el No. Cliente; por omisión se envía a todos los de la lista.")
with ui.session() as session:
    companies = catalog.company_choices(session)

with st.form("envio-busqueda"):
    left, middle, right = st.columns([2, 1, 1])
    company = left.selectbox(
        "Sociedad", ["", *companies], format_func=lambda c: companies.get(c, "Todas")
    )
    customer = middle.text_input("No. Cliente")
    cutoff = right.date_input("Fecha de corte", value=ui.settings().today(), format="DD/MM/YYYY")
    skip = st.checkbox("No enviar a clientes sin saldo (quedan en el log como «sin saldo»)")
    if st.form_submit_button("Buscar"):
        try:
            with ui.session() as session:
                found = runs.candidates(session, company, customer, cutoff)
        except InvalidValue as exc:
            ui.refuse(exc)
        else:
            st.session_state[LISTING] = {
                "candidates": found,
                "cutoff": cutoff,
                "skip": skip,
                "company": company,
                "customer": customer.strip(),
            }
            st.session_state.pop(EDITOR_INPUTS, None)
            st.session_state.pop(SEND_ASKED, None)
            selection = st.session_state.setdefault(SELECTION, {})
            for candidate in found:
                selection.setdefault(candidate.key_text, True)

st.page_link(
    "pages/estado_cuenta.py",
    label="Ver antes el correo y el PDF de un cliente",
    icon=":material/visibility:",
)

listing = st.session_state.get(LISTING)
if listing is not None:
    everyone: list[runs.Candidate] = listing["candidates"]
    selection: dict[str, bool] = st.session_state.setdefault(SELECTION, {})
    if not everyone:
        st.info("No hay clientes en el catálogo de envío con esos datos.")
    else:
        text = st.text_input("Filtrar la lista", placeholder="No. Cliente, nombre o correo")
        visible = runs.matching(everyone, text)
        keys = [c.key_text for c in visible]
        left, right, _ = st.columns([1, 1, 2])
        left.button("Seleccionar todos", on_click=select, args=(keys, True))
        right.button("Quitar todos", on_click=select, args=(keys, False))
        name, ticks = editor_input(keys)
        shown = st.data_editor(
            pd.DataFrame(
                {
                    "Enviar": ticks,
                    "Sociedad": [c.company_code for c in visible],
                    "No. Cliente": [c.customer_no for c in visible],
                    "Nombre": [c.name for c in visible],
                    "Correos": [c.emails for c in visible],
                    "Saldo": [formatting.balances(c.balance) or "sin saldo" for c in visible],
                    "Rebotes": [ui.flagged(c.bounce_text) for c in visible],
                }
            ),
            key=name,
            disabled=["Sociedad", "No. Cliente", "Nombre", "Correos", "Saldo", "Rebotes"],
            hide_index=True,
            width="stretch",
        )
        selection.update(zip(keys, (bool(v) for v in shown["Enviar"]), strict=True))
        chosen = [c for c in everyone if selection.get(c.key_text, True)]
        st.caption(
            f"{len(chosen):,} de {len(everyone):,} clientes seleccionados "
            f"(fecha de corte {formatting.day(listing['cutoff'])})."
        )
        if warning := runs.bounce_warning(chosen):
            st.warning(ui.literal(warning), icon="⚠️")
        if st.button("Procesar", type="primary", disabled=not chosen):
            st.session_state[SEND_ASKED] = True
        if chosen and st.session_state.get(SEND_ASKED):
            hidden = len({c.key for c in chosen} - {c.key for c in visible})
            question = runs.send_question(chosen, companies, listing["cutoff"], hidden=hidden,
                                          skip_zero_balance=listing["skip"])  # fmt: skip
            if ui.confirm_send(question, SEND_ASKED):
                procesar(listing, chosen)

with ui.session() as session:
    shown_run = runs.run_to_show(
        session, st.session_state.get(SHOWN_RUN), ui.current_user().username
    )
if shown_run is not None:
    st.divider()
    if shown_run.status == RunStatus.DONE:
        st.session_state.pop(STOP_ASKED, None)
        follow(shown_run.id)
        follow_items(shown_run.id)
    else:
        ui.live(follow, shown_run.id)
        if can_stop(shown_run.id):
            stop_control(shown_run.id)
        ui.live(follow_items, shown_run.id)
