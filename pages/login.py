"""Login (manual section 1): Usuario, Contraseña, Ingresar. The only page before logging in."""

import streamlit as st

from lib import ui
from lib.ui import login

ui.page_guard()

st.title("Envío masivo de estados de cuenta")
if hint := ui.first_admin_hint():
    st.info(hint)
login.login_form()
