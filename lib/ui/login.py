"""streamlit-authenticator wired to our database: its form and remember-me cookie, our rules.

The library keeps users in a dict and its cookie only names the user, so on its own a lockout
forgets itself on rerun (its issue #237) and a logout leaves the cookie valid elsewhere (#91).
Here its password check is replaced by `lib.auth.login` (attempts and lock time in the
database) and its cookie also carries the user's session version, which every run checks
against the database: logout, deactivation and a password change end every other session.
Nothing here calls the library's `register_user`.

These hooks are written for the versions in HOOKED_VERSIONS (pinned in requirements.txt). On
any other the library could check passwords its own way, without lockout or session versions,
so nobody gets in: the login says access is unavailable, and the log says which version.

The library reads its cookie from `st.context.cookies` but also renders, on every run, a
component that reads all cookies in the browser and, once mounted, reruns the app to report
them. Nobody uses that report, and a login clicked just before it arrives was lost (the rerun
it causes interrupts the one carrying the click). Our cookie model therefore only renders the
component to write or delete the cookie.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import jwt
import streamlit as st
import streamlit_authenticator as stauth
from extra_streamlit_components.CookieManager import _component_func as cookie_component
from sqlalchemy.orm import Session, sessionmaker
from streamlit.delta_generator import DeltaGenerator
from streamlit_authenticator.controllers import cookie_controller
from streamlit_authenticator.models import AuthenticationModel, CookieModel
from streamlit_authenticator.utilities import LoginError

from lib import auth, config, formatting, pins, users
from lib.models import utcnow

log = logging.getLogger(__name__)

HOOKED_VERSIONS = {"streamlit-authenticator": "0.4.2", "extra-streamlit-components": "0.1.81"}
UNAVAILABLE = (
    "El acceso no está disponible: esta instalación tiene una versión de la biblioteca de "
    "acceso distinta de la probada. Avisa al administrador del sistema."
)
COOKIE_NAME = "envio_masivo_sesion"
FIELDS = {
    "Form name": "Ingresar",
    "Username": "Usuario",
    "Password": "Contraseña",
    "Login": "Ingresar",
}
SESSION_ENDED = (
    "Tu sesión terminó (cerraste sesión, cambió tu contraseña o tu acceso). Ingresa de nuevo."
)
_current: ContextVar[stauth.Authenticate | None] = ContextVar("authenticator", default=None)


@dataclass(frozen=True)
class SignedIn:
    """The logged-in user as this run sees it, re-read from the database every run."""

    username: str
    name: str
    email: str
    role: str
    must_change_password: bool


class _DatabaseChecks(AuthenticationModel):
    """The library's model with its password check replaced by ours (lockout, audit)."""

    sessions: sessionmaker[Session]
    zone: ZoneInfo

    def check_credentials(self, username: str, password: str) -> bool:
        with self.sessions() as session, session.begin():
            outcome = auth.login(session, username, password, now=utcnow())
            version = outcome.user.session_version if outcome.ok else None
        if outcome.ok:
            st.session_state["session_version"] = version
            return True
        st.session_state["login_error"] = outcome.message
        if outcome.locked_until is not None:
            until = formatting.moment(outcome.locked_until, self.zone)
            st.session_state["login_error"] = (
                f"Demasiados intentos fallidos: el usuario está bloqueado hasta el {until}."
            )
        return False


class _VersionedCookie(CookieModel):
    """The library's cookie plus the user's session version, checked when it is read.

    Reading comes from `st.context.cookies` only (no component, see the module's docstring).
    Writing is deferred to `write_pending()`: the cookie is set by a component in the browser,
    and the reruns right after a login would discard that component before it ran.
    """

    sessions: sessionmaker[Session]
    # Where the component goes: a container drawn on every run at the same place, so that the
    # component coming and going never moves the page's own elements (a moved data editor is
    # drawn anew and loses the rows the user had edited).
    slot: DeltaGenerator

    def __init__(
        self,
        cookie_name: str,
        cookie_key: str,
        cookie_expiry_days: float,
        path: str | None = None,
    ) -> None:
        """The library's arguments (`path` unused: settings come from lib.config); unlike the
        library's, it renders no component."""
        self.cookie_name = cookie_name
        self.cookie_key = cookie_key
        self.cookie_expiry_days = cookie_expiry_days
        self.token = None
        self.exp_date = None

    def set_cookie(self) -> None:
        expires = datetime.now(UTC) + timedelta(days=self.cookie_expiry_days)
        claims = {
            "username": st.session_state["username"],
            "exp_date": expires.timestamp(),
            "ver": st.session_state["session_version"],
        }
        st.session_state["cookie_pending"] = {
            "token": jwt.encode(claims, self.cookie_key, algorithm="HS256"),
            "expires": expires.isoformat(),
        }

    def write_pending(self) -> None:
        """Render the cookie writer until the browser reports that it wrote the cookie."""
        pending = st.session_state.get("cookie_pending")
        if not pending:
            return
        with self.slot:
            written = cookie_component(
                method="set",
                cookie=self.cookie_name,
                value=pending["token"],
                options={"path": "/", "expires": pending["expires"], "sameSite": "strict"},
                key="escribir_sesion",
                default=False,
            )
        if written:
            del st.session_state["cookie_pending"]

    def delete_cookie(self) -> None:
        with self.slot:
            cookie_component(
                method="delete", cookie=self.cookie_name, key="borrar_sesion", default=False
            )

    def get_cookie(self) -> dict | None:
        token = super().get_cookie()
        if not token or not isinstance(token.get("ver"), int):
            return None
        with self.sessions() as session:
            user = auth.session_user(session, token.get("username", ""), token["ver"])
        if user is None:
            return None
        st.session_state["session_version"] = token["ver"]
        return token


# The library's cookie controller builds its model by this name: it builds ours instead.
cookie_controller.CookieModel = _VersionedCookie


def start(settings: config.Settings, sessions: sessionmaker[Session]) -> None:
    """Build this run's authenticator from the active users; restore a session from a cookie."""
    if wrong := pins.differing(HOOKED_VERSIONS):
        log.error("login hooks are written for %s; installed: %s", HOOKED_VERSIONS, wrong)
        st.error(UNAVAILABLE)
        st.stop()
    with sessions() as session:
        credentials = {
            "usernames": {
                u.username: {"name": u.name, "email": u.email, "password": u.password_hash}
                for u in users.all_users(session)
                if u.active
            }
        }
    authenticator = stauth.Authenticate(
        credentials,
        COOKIE_NAME,
        settings.auth_cookie_key,
        settings.auth_cookie_expiry_days,
        auto_hash=False,
        login_sleep_time=0,
    )
    model = authenticator.authentication_controller.authentication_model
    model.__class__ = _DatabaseChecks
    model.sessions, model.zone = sessions, settings.timezone
    cookie = authenticator.cookie_controller.cookie_model
    cookie.sessions, cookie.slot = sessions, st.container()
    _current.set(authenticator)
    if not st.session_state.get("authentication_status"):
        try:
            authenticator.login(location="unrendered")
        except LoginError:
            _forget()


def signed_in(sessions: sessionmaker[Session]) -> SignedIn | None:
    """The user of this session if it is still valid; otherwise the session is ended."""
    if not st.session_state.get("authentication_status"):
        return None
    with sessions() as session:
        user = auth.session_user(
            session,
            st.session_state.get("username") or "",
            st.session_state.get("session_version", -1),
        )
    if user is None:
        _forget()
        st.session_state["login_error"] = SESSION_ENDED
        return None
    return SignedIn(user.username, user.name, user.email, user.role, user.must_change_password)


def login_form() -> None:
    """The library's form in Spanish; on success the app reruns to show the user's pages."""
    authenticator = _authenticator()
    try:
        authenticator.login(fields=FIELDS, key="ingresar")
    except LoginError as exc:
        st.session_state["login_error"] = str(exc)
    if st.session_state.get("authentication_status"):
        st.session_state.pop("login_error", None)
        st.rerun()
    if st.session_state.get("login_error"):
        st.error(st.session_state["login_error"])


def logout_button(sessions: sessionmaker[Session]) -> None:
    """**Cerrar sesión** in the sidebar: ends this and every other session of the user."""

    def end_everywhere(details: dict) -> None:
        with sessions() as session, session.begin():
            auth.end_sessions(session, details["username"])

    _authenticator().logout(
        "Cerrar sesión", location="sidebar", key="cerrar_sesion", callback=end_everywhere
    )
    if st.session_state.get("logout"):
        st.session_state["logout"] = False
        st.rerun()


def refresh_cookie(new_version: int) -> None:
    """After the user changed their own password: keep this session, with a new cookie."""
    st.session_state["session_version"] = new_version
    _authenticator().cookie_controller.set_cookie()


def write_pending_cookie() -> None:
    _authenticator().cookie_controller.cookie_model.write_pending()


def _forget() -> None:
    for key in ("authentication_status", "username", "name", "email", "roles", "session_version"):
        st.session_state[key] = None
    _authenticator().cookie_controller.delete_cookie()


def _authenticator() -> stauth.Authenticate:
    authenticator = _current.get()
    if authenticator is None:
        raise RuntimeError("login.start() must run before the page")
    return authenticator
