import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from lib import users
from lib.models import AuditEvent, User
from lib.normalize import InvalidValue

GOOD = {
    "username": "Ana.Lopez",
    "name": "Ana  López",
    "email": "Ana.Lopez@Empresa.EXAMPLE",
    "role": "analista",
    "password": "correcta-caballo-batería",
    "created_by": "cli:root",
}


def test_user_is_created_with_a_bcrypt_hash(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        users.create_user(session, **GOOD)
    with sessions() as session:
        user = session.scalars(sa.select(User)).one()
        audit = session.scalars(sa.select(AuditEvent)).one()
    assert (user.username, user.name, user.email) == (
        "ana.lopez",
        "Ana López",
        "Ana.Lopez@empresa.example",
    )
    assert (user.active, user.session_version, user.failed_attempts) == (True, 1, 0)
    assert user.password_hash.startswith("$2b$")
    assert GOOD["password"] not in user.password_hash
    assert users.verify_password(GOOD["password"], user.password_hash)
    assert not users.verify_password("otra-contraseña-mala", user.password_hash)
    assert (audit.username, audit.action, audit.entity_key) == ("cli:root", "create", "ana.lopez")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"username": "a"}, "usuario 'a' no válido"),
        ({"username": "ana lópez"}, "no válido"),
        ({"role": "jefe"}, "rol 'jefe' no válido"),
        ({"name": "  "}, "el nombre no puede estar vacío"),
        ({"email": "ana@"}, "correo no válido"),
        ({"password": "corta"}, "al menos 10 caracteres"),
        ({"password": "ñ" * 40}, "no puede pasar de 72 bytes"),
        ({"password": " espacio-al-inicio"}, "espacios"),
    ],
)
def test_invalid_users_are_refused(
    sessions: sessionmaker[Session], changes: dict, message: str
) -> None:
    with sessions() as session, pytest.raises(InvalidValue, match=message):
        users.create_user(session, **{**GOOD, **changes})


def test_usernames_are_unique_ignoring_case(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        users.create_user(session, **GOOD)
    with sessions() as session, pytest.raises(InvalidValue, match="ya existe"):
        users.create_user(session, **{**GOOD, "username": "ANA.LOPEZ"})
