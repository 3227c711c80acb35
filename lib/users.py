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


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")


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
    session.add(
        AuditEvent(
            username=created_by, action="create", entity="user", entity_key=username, details=role
        )
    )
    return user
