"""Envío masivo estado de cuenta (manual section 3): pick the customers, Procesar, follow the run.

Procesar asks first (what goes out, to whom); its Enviar only writes the run and a worker
sends it, so leaving the page does not stop anything.
The selection is a `{customer: bool}` dict in session state, never the editor's own output.
"""

import streamlit as st

from lib import catalog, formatting, ui
from lib.normalize import InvalidValue
from lib.sending import runs
from lib.ui import send_list, send_view
from lib.ui.send_list import SELECTION, SEND_ASKED
from lib.ui.send_view import LISTING, SHOWN_RUN

ui.page_guard()

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
            # A new listing starts with everyone selected (manual 3.2); unticks made in an
            # earlier listing do not carry over.
            send_list.start(found)

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
        left, right = ui.button_pair()
        left.button("Seleccionar todos", on_click=send_list.select, args=(keys, True))
        right.button("Quitar todos", on_click=send_list.select, args=(keys, False))
        send_list.editor(visible)
        chosen = [c for c in everyone if selection.get(c.key_text, True)]
        st.caption(
            f"{len(chosen):,} de "
            + formatting.count(len(everyone), "cliente seleccionado", "clientes seleccionados")
            + f" (fecha de corte {formatting.day(listing['cutoff'])})."
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
                send_view.procesar(listing, chosen)

send_view.show_run(st.session_state.get(SHOWN_RUN))
