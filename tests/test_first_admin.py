"""First start and Mi cuenta: the first password printed before any visit, the first admin's
own email, the notice after a change and the way on to Inicio after a forced one."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from lib import auth, cli, users
from lib.models import AuditEvent, User
from tests.test_login import login, titles
from tests.test_pages import HOME, start

INICIO = "Envío masivo de estados de cuenta"
NEW_PASSWORD = "una-clave-nueva-1"


def first_password(app_env: dict[str, str]) -> str:
    text = auth.first_admin_password_file(Path(app_env["DATA_DIR"])).read_text(encoding="utf-8")
    return text.split("contraseña: ")[1].strip()


def change_password(at: AppTest, current: str, *, email: str | None = None) -> AppTest:
    fields = {t.label: t for t in at.text_input}
    if email is not None:
        fields["Correo"].input(email)
    fields["Contraseña actual"].input(current)
    fields["Nueva contraseña"].input(NEW_PASSWORD)
    fields["Repite la nueva contraseña"].input(NEW_PASSWORD)
    next(b for b in at.button if b.label == "Cambiar contraseña").click()
    return at.run()


def test_first_admin_command_creates_admin_and_prints_the_password_once(
    app_env: dict[str, str], database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["first-admin"]) == 0
    printed = capsys.readouterr().out
    password = first_password(app_env)
    assert f"usuario 'admin', contraseña '{password}'" in printed
    with database() as session:
        admin = users.find(session, "admin")
        assert (admin.role, admin.must_change_password) == ("admin", True)
        assert admin.email == users.PLACEHOLDER_EMAIL

    assert cli.main(["first-admin"]) == 0
    assert capsys.readouterr().out == ""
    assert first_password(app_env) == password


def test_first_admin_command_does_nothing_when_users_exist(
    app_env: dict[str, str], people, database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["first-admin"]) == 0
    assert capsys.readouterr().out == ""
    assert not auth.first_admin_password_file(Path(app_env["DATA_DIR"])).exists()
    with database() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 2


def test_the_scripts_run_step_comes_before_the_app_starts() -> None:
    script = (Path(__file__).resolve().parent.parent / "scripts" / "run").read_text()
    step = script.index("-m lib.cli first-admin")
    assert step < script.index("-m streamlit run")


def test_first_admin_gives_their_email_with_the_new_password(app_env, database) -> None:
    assert cli.main(["first-admin"]) == 0
    password = first_password(app_env)
    at = login(AppTest.from_file(HOME, default_timeout=60).run(), "admin", password)
    assert titles(at) == ["Mi cuenta"]
    assert at.text_input[0].label == "Correo"

    at = change_password(at, password, email="  Finanzas.Admin@Empresa.MX ")

    assert not at.exception
    assert titles(at) == [INICIO]
    assert [s.value for s in at.success] == ["Contraseña y correo guardados."]
    with database() as session:
        admin = users.find(session, "admin")
        assert (admin.email, admin.must_change_password) == ("Finanzas.Admin@empresa.mx", False)
        actions = list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.entity == "user", AuditEvent.entity_key == "admin")
                .order_by(AuditEvent.id)
            )
        )
    assert actions == ["create", "contact", "password"]
    assert not auth.first_admin_password_file(Path(app_env["DATA_DIR"])).exists()


@pytest.mark.parametrize(
    ("email", "error"),
    [
        ("admin@", "No se cambió: correo no válido: 'admin@'."),
        ("", "No se cambió: escribe tu correo: ahí llega el log de cada envío."),
        (
            users.PLACEHOLDER_EMAIL,
            f"No se cambió: escribe tu propio correo, no {users.PLACEHOLDER_EMAIL}.",
        ),
    ],
)
def test_first_admin_without_a_good_email_keeps_the_old_password(
    app_env, database, email: str, error: str
) -> None:
    assert cli.main(["first-admin"]) == 0
    password = first_password(app_env)
    at = login(AppTest.from_file(HOME, default_timeout=60).run(), "admin", password)

    at = change_password(at, password, email=email)

    assert [e.value for e in at.error] == [error]
    assert titles(at) == ["Mi cuenta"]
    with database() as session:
        admin = users.find(session, "admin")
        assert admin.must_change_password
        assert admin.email == users.PLACEHOLDER_EMAIL
        assert users.verify_password(password, admin.password_hash)


def test_after_a_forced_change_the_app_goes_to_inicio_with_the_notice(people, database) -> None:
    with database() as session, session.begin():
        users.reset_password(session, "ana", "temporal-de-ana-1", by="root")
    at = login(start(user=None), "ana", "temporal-de-ana-1")
    assert titles(at) == ["Mi cuenta"]
    assert "Correo" not in [t.label for t in at.text_input]

    at = change_password(at, "temporal-de-ana-1")

    assert not at.exception
    assert titles(at) == [INICIO]
    assert [s.value for s in at.success] == ["Contraseña cambiada."]
    assert not at.warning
    at.run()
    assert not at.success


def test_an_own_password_change_says_so_and_stays_on_mi_cuenta(people, database) -> None:
    at = start("pages/cuenta.py", user="ana")
    assert "ana@e.example" in at.caption[0].value
    assert "Correo" not in [t.label for t in at.text_input]

    at = change_password(at, people["ana"])

    assert not at.exception
    assert [s.value for s in at.success] == ["Contraseña cambiada."]
    assert titles(at) == ["Mi cuenta"]
    with database() as session:
        assert users.verify_password(NEW_PASSWORD, users.find(session, "ana").password_hash)
