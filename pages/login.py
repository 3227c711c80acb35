"""Login (manual section 1): Usuario, Contraseña, Ingresar, and "Ingresar con <proveedor>" when
single sign-on is configured. The only page before logging in."""

import streamlit as st

from lib import ui

ui.page_guard()

st.title("Envío masivo de estados de cuenta")
ui.login_options()
