"""Who may get in: password checks, lockout, server-side session validity, the first admin.

Everything here is checked against the database on every call, so a lockout survives reruns
and restarts, expires by itself, and a logout, deactivation or password change ends the user's
other sessions and remember-me cookies (their session version no longer matches).
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lib import users
from lib.models import AuditEvent, User

MAX_FAILED_ATTEMPTS = 5
LOCK_DURATION = timedelta(minutes=15)
WRONG_CREDENTIALS = "Usuario o contraseña incorrectos"
FIRST_ADMIN = "admin"
FIRST_ADMIN_PASSWORD_FILE = "admin_password.txt"


@cache
def _dummy_hash() -> str:
    """Checked for an unknown user, so it costs as much time as a known one."""
    return users.hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class LoginOutcome:
    user: User | None
    message: str = ""
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None


def login(session: Session, username: str, password: str, *, now: datetime) -> LoginOutcome:
    """Check a password, counting failures; the caller commits."""
    name = username.strip().lower()
    user = session.scalar(select(User).where(User.username == name))
    if user is None or not user.active:
        users.verify_password(password, user.password_hash if user else _dummy_hash())
        _audit(session, name or "?", "login_failed", "usuario desconocido o inactivo")
        return LoginOutcome(None, WRONG_CREDENTIALS)
    if user.locked_until is not None and user.locked_until > now:
        _audit(session, name, "login_failed", "usuario bloqueado")
        return LoginOutcome(None, "", user.locked_until)
    if not users.verify_password(password, user.password_hash):
        return _failed(session, user, now)
    user.failed_attempts = 0
    user.locked_until = None
    user.last_login_at = now
    _audit(session, name, "login", "")
    return LoginOutcome(user)


def _failed(session: Session, user: User, now: datetime) -> LoginOutcome:
    user.failed_attempts += 1
    if user.failed_attempts < MAX_FAILED_ATTEMPTS:
        _audit(session, user.username, "login_failed", f"intento {user.failed_attempts}")
        return LoginOutcome(None, WRONG_CREDENTIALS)
    user.failed_attempts = 0
    user.locked_until = now + LOCK_DURATION
    _audit(session, user.username, "lockout", f"hasta {user.locked_until.isoformat()}")
    return LoginOutcome(None, WRONG_CREDENTIALS, user.locked_until)


def session_user(session: Session, username: str, session_version: int) -> User | None:
    """The user behind a session or cookie, if that session is still valid."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or user.session_version != session_version:
        return None
    return user


def end_sessions(session: Session, username: str) -> None:
    """Logout: every session and remember-me cookie of this user stops being valid."""
    user = session.scalar(select(User).where(User.username == username))
    if user is not None:
        user.session_version += 1
        _audit(session, username, "logout", "")


def create_first_admin(session: Session, data_dir: Path) -> str | None:
    """With no users at all, create `admin` with a random password that must be changed.

    The password is written to a file only its owner can read and returned so the caller can
    print it once; nothing is created when any user exists.
    """
    if session.scalar(select(User.id).limit(1)) is not None:
        return None
    password = secrets.token_urlsafe(12)
    users.create_user(
        session,
        username=FIRST_ADMIN,
        name="Administrador",
        email=users.PLACEHOLDER_EMAIL,
        role="admin",
        password=password,
        created_by="sistema",
        must_change_password=True,
    )
    path = first_admin_password_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"usuario: {FIRST_ADMIN}\ncontraseña: {password}\n")
    return password


def sso_login(
    session: Session,
    email: str,
    *,
    verified: bool,
    now: datetime,
    auto_create_domain: str = "",
) -> User | None:
    """The active user whose email the identity provider vouched for; None refuses the login.

    Matching is by email, case-insensitive, and only when exactly one user has it. With
    `auto_create_domain`, an unknown address of that domain becomes a new analista (no usable
    password: a random one nobody sees). Every outcome is audited.
    """
    address = email.strip().lower()
    if not address or not verified:
        _audit(session, address or "?", "sso_refused", "correo no verificado por el proveedor")
        return None
    found = list(session.scalars(select(User).where(func.lower(User.email) == address)))
    if not found and _in_domain(address, auto_create_domain):
        found = [_create_sso_user(session, address)]
    if len(found) != 1 or not found[0].active:
        reason = "sin usuario" if not found else ("desactivado" if len(found) == 1 else "ambiguo")
        _audit(session, address, "sso_refused", reason)
        return None
    user = found[0]
    user.last_login_at = now
    _audit(session, user.username, "sso_login", address)
    return user


def _in_domain(address: str, domain: str) -> bool:
    return bool(domain.strip()) and address.rpartition("@")[2] == domain.strip().lower()


def _create_sso_user(session: Session, address: str) -> User:
    local = re.sub(r"[^a-z0-9._-]", "", address.partition("@")[0]).lstrip("._-")
    base = (local or "usuario")[:70].ljust(2, "0")
    username, number = base, 1
    while session.scalar(select(User.id).where(User.username == username)) is not None:
        number += 1
        username = f"{base}{number}"
    return users.create_user(
        session,
        username=username,
        name=address,
        email=address,
        role="analista",
        password=secrets.token_urlsafe(32),
        created_by="sso",
    )


def first_admin_password_file(data_dir: Path) -> Path:
    return data_dir / FIRST_ADMIN_PASSWORD_FILE


def _audit(session: Session, username: str, action: str, details: str) -> None:
    session.add(
        AuditEvent(
            username=username, action=action, entity="session", entity_key=username, details=details
        )
    )
