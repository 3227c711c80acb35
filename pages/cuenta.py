"""Mi cuenta: change one's own password (forced after a reset or the first admin login); the
first admin also gives their email here, where their send logs will arrive."""

import streamlit as st

from lib import ui, users
from lib.normalize import InvalidValue

ui.page_guard()

me = ui.current_user()
asks_email = users.has_placeholder_email(me.email)
st.title("Mi cuenta")
st.write(f"**{ui.literal(me.name)}** ({ui.literal(me.username)}) · {me.role}")
if me.must_change_password:
    st.warning("Antes de continuar, cambia la contraseña temporal por una tuya.")
if asks_email:
    st.info("Escribe también tu correo: ahí te llegará el log de cada envío.")
else:
    st.caption(
        ui.literal(f"El log de cada envío te llega a {me.email}.")
        + " Para cambiar el correo, pídelo a un administrador (Usuarios)."
    )

with st.form("cambiar-contrasena", clear_on_submit=True):
    email = st.text_input("Correo") if asks_email else None
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
            version = users.change_own_password(session, me.username, current, new, email=email)
    except InvalidValue as exc:
        st.error(ui.literal(f"No se cambió: {exc}."))
    else:
        notice = "Contraseña cambiada." if email is None else "Contraseña y correo guardados."
        ui.password_changed(version, notice, was_forced=me.must_change_password)
