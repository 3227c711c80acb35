"""Usuarios (admin): list, add, deactivate/reactivate, reset password, change role, unlock."""

from functools import partial

import pandas as pd
import streamlit as st

from lib import formatting, ui, users
from lib.scheduling import schedules

ui.page_guard()

me = ui.current_user()
zone = ui.settings().timezone
st.title("Usuarios")

with ui.session() as session:
    people = users.all_users(session)
    scheduled = schedules.active_per_owner(session)


def when(moment) -> str:
    return formatting.moment(moment, zone) if moment else ""


st.dataframe(
    pd.DataFrame(
        {
            "Usuario": [u.username for u in people],
            "Nombre": [u.name for u in people],
            "Correo": [u.email for u in people],
            "Rol": [u.role for u in people],
            "Activo": [u.active for u in people],
            "Bloqueado hasta": [when(u.locked_until) for u in people],
            "Último ingreso": [when(u.last_login_at) for u in people],
        }
    ),
    hide_index=True,
    width="stretch",
)

with st.expander("Agregar usuario"), st.form("agregar-usuario", clear_on_submit=True):
    left, right = st.columns(2)
    username = left.text_input("Usuario")
    name = right.text_input("Nombre")
    email = left.text_input("Correo (ahí llega el log de cada envío)")
    role = right.selectbox("Rol", users.ROLES, index=1)
    password = left.text_input("Contraseña inicial", type="password")
    if st.form_submit_button("Agregar", type="primary"):
        ui.save(
            partial(
                users.create_user,
                username=username,
                name=name,
                email=email,
                role=role,
                password=password,
                created_by=me.username,
                must_change_password=True,
            ),
            f"Usuario {username.strip().lower()} agregado; cambiará su contraseña al ingresar.",
        )

st.subheader("Modificar usuario")
chosen = st.selectbox("Usuario", [u.username for u in people], key="usuario-elegido")
target = next(u for u in people if u.username == chosen)
role_col, state_col, lock_col = st.columns(3)
new_role = role_col.selectbox("Rol", users.ROLES, index=users.ROLES.index(target.role))
if role_col.button("Cambiar rol", disabled=new_role == target.role):
    ui.save(
        partial(users.set_role, username=chosen, role=new_role, by=me.username),
        f"{chosen} ahora es {new_role}.",
    )
if target.active and scheduled.get(chosen):
    state_col.caption(
        f"Es dueño de {formatting.count(scheduled[chosen], 'programado activo')}: si se "
        "desactiva, se detienen hasta que se reactive y se pulse Reanudar en Programados."
    )
if state_col.button("Desactivar" if target.active else "Reactivar"):
    ui.save(
        partial(users.set_active, username=chosen, active=not target.active, by=me.username),
        f"{chosen} {'desactivado' if target.active else 'reactivado'}.",
    )
if lock_col.button("Desbloquear", disabled=target.locked_until is None):
    ui.save(partial(users.unlock, username=chosen, by=me.username), f"{chosen} desbloqueado.")

with st.form("contacto"):
    left, right = st.columns(2)
    new_name = left.text_input("Nombre", value=target.name, key=f"nombre-{chosen}")
    new_email = right.text_input("Correo", value=target.email, key=f"correo-{chosen}")
    if st.form_submit_button("Guardar nombre y correo"):
        ui.save(
            partial(users.update_contact, username=chosen, name=new_name, email=new_email,
                    by=me.username),
            f"Datos de {chosen} guardados.",
        )  # fmt: skip

with st.form("restablecer", clear_on_submit=True):
    temporary = st.text_input(f"Nueva contraseña temporal para {chosen}", type="password")
    if st.form_submit_button("Restablecer contraseña"):
        ui.save(
            partial(users.reset_password, username=chosen, new=temporary, by=me.username),
            f"Contraseña de {chosen} restablecida; deberá cambiarla al ingresar.",
        )
