"""Single sign-on with the company's identity provider: Streamlit's own `st.login` (OIDC).

Enabled only when `.streamlit/secrets.toml` has the `[auth]` section Streamlit documents. The
provider proves the email; our database decides: the one active user with that email gets in,
with their role, and the same per-run checks as a password session apply (deactivation, role
change, logout everywhere through the session version).
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from lib import auth, config
from lib.models import utcnow
from lib.ui.login import SignedIn

SESSION = "sso_sesion"
REFUSED = "sso_rechazado"
NO_ACCESS = "Tu cuenta no tiene acceso; pide acceso a un administrador."


def configured() -> bool:
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


def signed_in(sessions: sessionmaker[Session], settings: config.Settings) -> SignedIn | None:
    """The user behind the provider's login, checked against the database on every run."""
    if not configured() or not st.user.is_logged_in:
        st.session_state.pop(SESSION, None)
        return None
    email = str(st.user.get("email") or "")
    if st.session_state.get(REFUSED) == email:
        return None
    with sessions() as session, session.begin():
        known = st.session_state.get(SESSION)
        user = auth.session_user(session, *known) if known else None
        if user is None or user.email.lower() != email.lower():
            user = auth.sso_login(
                session,
                email,
                verified=st.user.get("email_verified") is not False,
                now=utcnow(),
                auto_create_domain=settings.sso_auto_create_domain,
            )
        if user is None:
            st.session_state.pop(SESSION, None)
            st.session_state[REFUSED] = email
            return None
        st.session_state[SESSION] = (user.username, user.session_version)
        return SignedIn(user.username, user.name, user.email, user.role, False)


def active() -> bool:
    return st.session_state.get(SESSION) is not None


def login_button(settings: config.Settings) -> None:
    """The button "Ingresar con <provider>"; a refused account is told why instead."""
    if st.user.is_logged_in and st.session_state.get(REFUSED):
        st.error(NO_ACCESS)
        if st.button("Salir"):
            st.session_state.pop(REFUSED, None)
            st.logout()
        return
    if st.button(f"Ingresar con {settings.sso_provider_name}", type="primary"):
        st.login()


def logout_button(sessions: sessionmaker[Session]) -> None:
    """Cerrar sesión: ends every session of the user here, then the provider's cookie."""
    if st.sidebar.button("Cerrar sesión", key="cerrar_sesion_sso"):
        username = st.session_state[SESSION][0]
        with sessions() as session, session.begin():
            auth.end_sessions(session, username)
        st.session_state.pop(SESSION, None)
        st.logout()
