import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from lib import auth, users
from lib.models import AuditEvent, User
from lib.normalize import InvalidValue

T0 = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
PASSWORD = "clave-de-ana-2026"


@pytest.fixture
def ana(sessions: sessionmaker[Session]) -> str:
    with sessions() as session, session.begin():
        for username, role in (("ana", "analista"), ("root", "admin")):
            users.create_user(
                session,
                username=username,
                name=username.title(),
                email=f"{username}@e.example",
                role=role,
                password=PASSWORD,
                created_by="test",
            )
    return "ana"


def attempt(
    sessions: sessionmaker[Session], password: str, *, at: datetime, username: str = "ana"
) -> auth.LoginOutcome:
    with sessions() as session, session.begin():
        return auth.login(session, username, password, now=at)


def audit_actions(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.entity == "session")
                .order_by(AuditEvent.id)
            )
        )


def test_right_password_logs_in_and_is_audited(sessions, ana) -> None:
    outcome = attempt(sessions, PASSWORD, at=T0)
    assert outcome.ok
    assert outcome.user.last_login_at == T0
    assert audit_actions(sessions) == ["login"]


@pytest.mark.parametrize("username", ["ana", "nadie", ""])
def test_wrong_password_and_unknown_user_get_the_same_message(sessions, ana, username) -> None:
    outcome = attempt(sessions, "otra-clave-cualquiera", at=T0, username=username)
    assert not outcome.ok
    assert outcome.message == "Usuario o contraseña incorrectos"
    assert outcome.locked_until is None


def test_five_failures_lock_for_fifteen_minutes_then_it_expires(sessions, ana) -> None:
    for minute in range(4):
        assert attempt(sessions, "mala", at=T0 + timedelta(minutes=minute)).locked_until is None
    fifth = attempt(sessions, "mala", at=T0 + timedelta(minutes=4))
    assert fifth.locked_until == T0 + timedelta(minutes=19)
    during = attempt(sessions, PASSWORD, at=T0 + timedelta(minutes=18, seconds=59))
    assert not during.ok
    assert during.locked_until == T0 + timedelta(minutes=19)
    assert attempt(sessions, PASSWORD, at=T0 + timedelta(minutes=19, seconds=1)).ok
    assert audit_actions(sessions)[-3:] == ["lockout", "login_failed", "login"]


def test_a_success_resets_the_failure_count(sessions, ana) -> None:
    for _ in range(4):
        attempt(sessions, "mala", at=T0)
    assert attempt(sessions, PASSWORD, at=T0).ok
    for _ in range(4):
        assert attempt(sessions, "mala", at=T0).locked_until is None


def test_an_admin_can_unlock(sessions, ana) -> None:
    for _ in range(5):
        attempt(sessions, "mala", at=T0)
    with sessions() as session, session.begin():
        users.unlock(session, "ana", by="root")
    assert attempt(sessions, PASSWORD, at=T0 + timedelta(minutes=1)).ok


def test_inactive_user_cannot_log_in(sessions, ana) -> None:
    with sessions() as session, session.begin():
        users.set_active(session, "ana", False, by="root")
    assert attempt(sessions, PASSWORD, at=T0).message == "Usuario o contraseña incorrectos"


def version_of(sessions, username: str = "ana") -> int:
    with sessions() as session:
        return users.find(session, username).session_version


@pytest.mark.parametrize(
    "change",
    [
        lambda s: auth.end_sessions(s, "ana"),
        lambda s: users.set_active(s, "ana", False, by="root"),
        lambda s: users.reset_password(s, "ana", "temporal-nueva-1", by="root"),
        lambda s: users.change_own_password(s, "ana", PASSWORD, "otra-clave-9876"),
    ],
    ids=["logout", "deactivation", "reset", "own change"],
)
def test_session_ends_when_the_user_logs_out_or_changes(sessions, ana, change) -> None:
    version = version_of(sessions)
    with sessions() as session:
        assert auth.session_user(session, "ana", version) is not None
    with sessions() as session, session.begin():
        change(session)
    with sessions() as session:
        assert auth.session_user(session, "ana", version) is None


def test_role_change_keeps_the_session_and_takes_effect(sessions, ana) -> None:
    version = version_of(sessions)
    with sessions() as session, session.begin():
        users.set_role(session, "ana", "admin", by="root")
    with sessions() as session:
        assert auth.session_user(session, "ana", version).role == "admin"


def test_own_password_change_needs_the_current_one(sessions, ana) -> None:
    with sessions() as session, pytest.raises(InvalidValue, match="actual no es correcta"):
        users.change_own_password(session, "ana", "mala", "otra-clave-9876")


def test_reset_password_forces_a_change(sessions, ana) -> None:
    with sessions() as session, session.begin():
        users.reset_password(session, "ana", "temporal-nueva-1", by="root")
    outcome = attempt(sessions, "temporal-nueva-1", at=T0)
    assert outcome.user.must_change_password


def test_the_last_admin_cannot_be_removed(sessions, ana) -> None:
    with sessions() as session, pytest.raises(InvalidValue, match="al menos un administrador"):
        users.set_role(session, "root", "analista", by="ana")
    with sessions() as session, pytest.raises(InvalidValue, match="tu propio usuario"):
        users.set_active(session, "root", False, by="root")


def test_first_admin_is_created_once_with_a_private_password_file(sessions, tmp_path: Path) -> None:
    with sessions() as session, session.begin():
        password = auth.create_first_admin(session, tmp_path)
    path = auth.first_admin_password_file(tmp_path)
    assert path.read_text(encoding="utf-8") == f"usuario: admin\ncontraseña: {password}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    outcome = attempt(sessions, password, at=T0, username="admin")
    assert outcome.user.role == "admin"
    assert outcome.user.must_change_password
    with sessions() as session, session.begin():
        assert auth.create_first_admin(session, tmp_path) is None
        assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_two_installations_get_different_first_passwords(sessions, tmp_path: Path) -> None:
    with sessions() as session:
        first = auth.create_first_admin(session, tmp_path / "a")
        session.rollback()
        second = auth.create_first_admin(session, tmp_path / "b")
    assert first != second
