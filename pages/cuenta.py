"""Mi cuenta: change one's own password (forced after a reset or the first admin login)."""

import streamlit as st

from lib import ui, users
from lib.normalize import InvalidValue

ui.page_guard()

me = ui.current_user()
st.title("Mi cuenta")
st.write(f"**{me.name}** ({me.username}) · {me.role} · {me.email}")
if me.must_change_password:
    st.warning("Antes de continuar, cambia la contraseña temporal por una tuya.")

with st.form("cambiar-contrasena", clear_on_submit=True):
    current = st.text_input("Contraseña actual", type="password")
    new = st.text_input(
        "Nueva contraseña",
        type="password",
        help=f"Al menos {users.MIN_PASSWORD_LENGTH} caracteres.",
    )
    repeated = st.text_input("Repite la nueva contraseña", type="password")
    submitted = st.form_submit_button("Cambiar contraseña", type="primary")

if submitted and new != repeated:
    st.error("Las contraseñas nuevas no coinciden.")
elif submitted:
    try:
        with ui.session() as session, session.begin():
            version = users.change_own_password(session, me.username, current, new)
    except InvalidValue as exc:
        st.error(ui.literal(f"No se cambió: {exc}."))
    else:
        ui.password_changed(version)
