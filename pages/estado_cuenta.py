"""Estado de cuenta: preview one customer's email and PDF exactly as the send would build them."""

import streamlit as st

from lib import catalog, formatting, ui
from lib.normalize import InvalidValue
from lib.sending import trial
from lib.statements import message
from lib.ui import email_preview

ui.page_guard()

st.title("Estado de cuenta › Vista previa")
st.caption(
    "Muestra el correo y el PDF tal como se enviarían a un cliente; no le envía nada. "
    "**Enviarme una prueba** te manda ese mismo correo solo a ti."
)
with ui.session() as session:
    companies = catalog.company_choices(session)

with st.form("vista-previa"):
    left, middle, right = st.columns([2, 1, 1])
    company = left.selectbox("Sociedad", list(companies), format_func=companies.get)
    customer = middle.text_input("No. Cliente")
    cutoff = right.date_input("Fecha de corte", value=ui.settings().today(), format="DD/MM/YYYY")
    if st.form_submit_button("Ver estado de cuenta", type="primary"):
        try:
            with ui.session() as session, st.spinner("Generando el PDF…"):
                st.session_state["estado-mostrado"] = message.preview(
                    session,
                    company or "",
                    customer,
                    cutoff,
                    options=message.Options.of(ui.settings()),
                    today=ui.settings().today(),
                )
        except InvalidValue as exc:
            st.session_state.pop("estado-mostrado", None)
            ui.refuse(exc)

if (shown := st.session_state.get("estado-mostrado")) is not None:
    statement = shown.statement
    st.subheader(f"{statement.customer.code} · {statement.customer.name}")
    if not shown.recipients:
        st.warning("Este cliente no está en el catálogo de envío: no tiene correos a dónde enviar.")
    elif shown.bounces:
        st.warning(ui.literal(shown.bounce_warning), icon="⚠️")
    balance = formatting.balances(statement.totals) if statement.has_balance else "sin saldo"
    st.write(f"**Saldo al {formatting.day(statement.cutoff_date)}:** {ui.literal(balance)}")
    email_preview.show(shown, email_preview.drawn_pages(shown), key="vista-previa-pagina")
    with st.expander("Texto del correo (para quien no ve HTML)"):
        st.text(shown.body)
    if shown.recipients and st.button("Enviarme una prueba", icon=":material/forward_to_inbox:"):
        try:
            with st.spinner("Enviando la prueba…"):
                sent_to = trial.send(
                    ui.sessions(),
                    ui.settings(),
                    username=ui.actor(),
                    company=statement.company.code,
                    customer_no=statement.customer.code,
                    cutoff=statement.cutoff_date,
                )
        except InvalidValue as exc:
            ui.refuse(exc)
        else:
            st.success(ui.literal(f"Prueba enviada a {sent_to}."))
