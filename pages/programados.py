"""Envío masivo › Programados: sends the app's workers start by themselves, each a normal send
run whose log goes to the schedule's owner.

The table lists every schedule; the "Programado" picker loads one into the form (or starts a
new one), Grabar writes it, and the chosen one can be paused, resumed or deleted.
"""

import streamlit as st

from lib import catalog, ui
from lib.scheduling import schedules
from lib.ui import schedules as programados

ui.page_guard()

st.title("Programados")
st.caption(
    "Envíos que la aplicación inicia sola en la fecha y hora elegidas. Cada uno es un envío "
    "normal: se sigue en Historial de envíos y su log llega por correo a quien lo programó."
)
with ui.session() as session:
    companies = catalog.company_choices(session)
    found = schedules.listed(session)
    owners = schedules.active_owners(session)
if not companies:
    st.info("Aún no hay sociedades cargadas. Un administrador puede importarlas en **Datos**.")
    st.stop()

if found:
    programados.table(found, owners)
else:
    st.info("Aún no hay envíos programados; crea el primero aquí abajo y pulsa Grabar.")

chosen = programados.picker(found)
if chosen is not None:
    programados.details(chosen)
with st.container(border=True):
    plan = programados.form(chosen, companies)
    buttons = st.container(horizontal=True)
    if buttons.button("Grabar", type="primary", icon=":material/save:"):
        programados.grabar(chosen, plan)
    if chosen is not None:
        programados.actions(chosen, buttons)

if chosen is not None:
    st.subheader("Últimas ejecuciones")
    with ui.session() as session:
        done = schedules.occurrences(session, chosen.id)
    programados.occurrences_table(done)
