"""Sociedades (admin): a sociedad's data, sender, payment details, email templates and
attachments, edited and audited, with a preview of one customer's email and PDF before Grabar."""

import streamlit as st

from lib import catalog, companies, ui
from lib.normalize import InvalidValue
from lib.statements import message
from lib.ui import companies as form
from lib.ui import email_preview

ui.page_guard()

st.title("Sociedades")
st.caption(
    "Las sociedades se dan de alta y se borran con la importación de **Datos**; aquí se "
    "cambia lo demás. Cada cambio queda registrado."
)
st.html(form.uploader_limits_style())
with ui.session() as session:
    choices = catalog.company_choices(session)
if not choices:
    st.info("Aún no hay sociedades: impórtalas en Administración › Datos.")
    st.stop()
code = st.selectbox("Sociedad", list(choices), format_func=choices.get, key="sociedad")
settings = ui.settings()
with ui.session() as session:
    stored = companies.draft_of(session, code)
    customers = companies.customer_choices(session, code)
    sample = companies.sample_customer(session, code)

draft, slots = form.form(
    code, stored, current_logo=form.stored_logo(code), invoices=form.invoice_count(code)
)
checked = companies.check(code, draft)
form.problems(checked, slots)

form.save_button(code, draft, checked)

st.subheader("Vista previa")
st.caption("El correo y el PDF de un cliente con lo que dice el formulario, grabado o no.")
if not customers:
    st.info("Esta sociedad aún no tiene clientes.")
    st.stop()
left, right = st.columns(2)
customer = left.selectbox(
    "No. Cliente",
    list(customers),
    index=list(customers).index(sample) if sample in customers else 0,
    format_func=customers.get,
    key=f"sociedad-cliente-{code}",
)
cutoff = right.date_input(
    "Fecha de corte", value=settings.today(), format="DD/MM/YYYY", key="sociedad-corte"
)
kept = f"sociedad-vista-{code}"
if st.button("Vista previa", icon=":material/visibility:"):
    st.session_state.pop(kept, None)
    if not checked.ok:
        form.problem_list(checked, "No hay vista previa hasta corregir esto:")
    else:
        try:
            with ui.session() as session, st.spinner("Generando el correo y el PDF…"):
                shown = companies.preview(
                    session, checked, customer, cutoff,
                    options=message.Options.of(settings), today=settings.today(),
                )  # fmt: skip
            pages = email_preview.drawn_pages(shown)
            st.session_state[kept] = ((draft, customer, cutoff), shown, pages)
        except InvalidValue as exc:
            ui.refuse(exc)
if kept in st.session_state:
    previewed, shown, pages = st.session_state[kept]
    if previewed != (draft, customer, cutoff):
        st.info("Cambiaste el formulario después de esta vista previa; pulsa **Vista previa**.")
    email_preview.show(shown, pages, key="sociedad-pagina")
