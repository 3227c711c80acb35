"""Users of the app: who may log in, with which role, and where their send logs go.

Passwords are stored only as bcrypt hashes; there is no default user and no default password.
"""

from __future__ import annotations

import re

import bcrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import emails
from lib.models import AuditEvent, User
from lib.normalize import InvalidValue

ROLES = ("admin", "analista")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
MIN_PASSWORD_LENGTH = 10
# bcrypt only reads the first 72 bytes; longer passwords would silently match their prefix.
MAX_PASSWORD_BYTES = 72
BCRYPT_ROUNDS = 12
# The first admin's address until they give their own at the first login: no log reaches it.
PLACEHOLDER_EMAIL = "admin@localhost.localdomain"


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        return False
    return bcrypt.checkpw(encoded, password_hash.encode("ascii"))


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValue(f"la contraseña debe tener al menos {MIN_PASSWORD_LENGTH} caracteres")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise InvalidValue(f"la contraseña no puede pasar de {MAX_PASSWORD_BYTES} bytes")
    if password.strip() != password or not password.strip():
        raise InvalidValue("la contraseña no puede empezar ni terminar con espacios")


def find(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise InvalidValue(f"el usuario '{username}' no existe")
    return user


def all_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def create_user(
    session: Session,
    *,
    username: str,
    name: str,
    email: str,
    role: str,
    password: str,
    created_by: str,
    must_change_password: bool = False,
) -> User:
    """Validate and add a user; the caller commits."""
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise InvalidValue(
            f"usuario '{username}' no válido: minúsculas, números, punto, guion o guion bajo"
        )
    if role not in ROLES:
        raise InvalidValue(f"rol '{role}' no válido; usa {' o '.join(ROLES)}")
    if not name.strip():
        raise InvalidValue("el nombre no puede estar vacío")
    check_password_policy(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InvalidValue(f"el usuario '{username}' ya existe")
    user = User(
        username=username,
        name=" ".join(name.split()),
        email=emails.address(email),
        role=role,
        password_hash=hash_password(password),
        active=True,
        must_change_password=must_change_password,
        failed_attempts=0,
        session_version=1,
    )
    session.add(user)
    _audit(session, created_by, "create", username, role)
    return user


def change_own_password(
    session: Session, username: str, current: str, new: str, *, email: str | None = None
) -> int:
    """The user's own change: the current password is required; other sessions end.

    `email`, when given, is saved in the same transaction: the first admin gives theirs here,
    since their send logs would otherwise go to the placeholder. Returns the new session
    version, for the session that made the change to carry on.
    """
    user = find(session, username)
    if not verify_password(current, user.password_hash):
        raise InvalidValue("la contraseña actual no es correcta")
    if new == current:
        raise InvalidValue("la nueva contraseña debe ser distinta de la actual")
    if email is not None:
        _set_own_email(session, user, email)
    _set_password(session, user, new, by=user.username, must_change=False)
    return user.session_version


def has_placeholder_email(email: str) -> bool:
    return email.strip().lower() == PLACEHOLDER_EMAIL


def _set_own_email(session: Session, user: User, email: str) -> None:
    if not email.strip():
        raise InvalidValue("escribe tu correo: ahí llega el log de cada envío")
    address = emails.address(email)
    if has_placeholder_email(address):
        raise InvalidValue(f"escribe tu propio correo, no {PLACEHOLDER_EMAIL}")
    user.email = address
    _audit(session, user.username, "contact", user.username, address)


def reset_password(session: Session, username: str, new: str, *, by: str) -> None:
    """An admin sets a temporary password; the user must change it at the next login."""
    _set_password(session, find(session, username), new, by=by, must_change=True)


def _set_password(session: Session, user: User, new: str, *, by: str, must_change: bool) -> None:
    check_password_policy(new)
    user.password_hash = hash_password(new)
    user.must_change_password = must_change
    user.session_version += 1
    _audit(session, by, "password", user.username, "restablecida" if must_change else "cambiada")


def set_active(session: Session, username: str, active: bool, *, by: str) -> None:
    user = find(session, username)
    if not active and user.username == by:
        raise InvalidValue("no puedes desactivar tu propio usuario")
    if not active and user.role == "admin":
        _keep_an_admin(session, user)
    user.active = active
    if not active:
        user.session_version += 1
    _audit(session, by, "activate" if active else "deactivate", user.username, "")


def set_role(session: Session, username: str, role: str, *, by: str) -> None:
    if role not in ROLES:
        raise InvalidValue(f"rol '{role}' no válido; usa {' o '.join(ROLES)}")
    user = find(session, username)
    if user.role == "admin" and role != "admin":
        _keep_an_admin(session, user)
    user.role = role
    _audit(session, by, "role", user.username, role)


def update_contact(session: Session, username: str, name: str, email: str, *, by: str) -> None:
    """Name and email; the email is where this user's send logs arrive."""
    if not name.strip():
        raise InvalidValue("el nombre no puede estar vacío")
    user = find(session, username)
    user.name = " ".join(name.split())
    user.email = emails.address(email)
    _audit(session, by, "contact", user.username, user.email)


def unlock(session: Session, username: str, *, by: str) -> None:
    user = find(session, username)
    user.locked_until = None
    user.failed_attempts = 0
    _audit(session, by, "unlock", user.username, "")


def _keep_an_admin(session: Session, leaving: User) -> None:
    others = session.scalar(
        select(User.id).where(User.role == "admin", User.active, User.id != leaving.id).limit(1)
    )
    if others is None:
        raise InvalidValue("debe quedar al menos un administrador activo")


def _audit(session: Session, by: str, action: str, username: str, details: str) -> None:
    session.add(
        AuditEvent(username=by, action=action, entity="user", entity_key=username, details=details)
    )
