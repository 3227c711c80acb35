"""Login, roles and sessions through AppTest: the real Home.py, a real SQLite file."""

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest
from streamlit_authenticator.controllers import cookie_controller

from lib import pins, users
from lib.models import AuditEvent, User, utcnow
from lib.ui import login as login_hooks
from tests.support import requirement_pins
from tests.test_pages import HOME, start

WRONG = "Usuario o contraseña incorrectos"


def login(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    next(b for b in at.button if b.label == "Ingresar").click()
    return at.run()


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


@pytest.mark.parametrize(
    "page", ["pages/inicio.py", "pages/datos.py", "pages/usuarios.py", "pages/cuenta.py"]
)
def test_logged_out_there_is_only_the_login_form(people, page: str) -> None:
    at = start(user=None)
    assert titles(at) == ["Envío masivo de estados de cuenta"]
    assert [t.label for t in at.text_input] == ["Usuario", "Contraseña"]
    assert next(b for b in at.button if b.label == "Ingresar")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page)


@pytest.mark.parametrize(("username", "password"), [("ana", "no-es-la-clave"), ("nadie", "x")])
def test_wrong_password_and_unknown_user_get_the_same_message(people, username, password) -> None:
    at = login(start(user=None), username, password)
    assert [e.value for e in at.error] == [WRONG]
    assert not at.session_state["authentication_status"]


def test_right_password_shows_the_role_pages(people, database) -> None:
    at = login(start(user=None), "ana", "clave-de-ana-1")
    assert not at.exception
    assert at.session_state["authentication_status"] is True
    assert titles(at) == ["Envío masivo de estados de cuenta"]
    assert "Rol: analista" in at.sidebar.markdown[0].value
    with database() as session:
        actions = list(
            session.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity == "session"))
        )
    assert actions == ["login"]


def test_five_failures_lock_the_user_and_say_until_when(people, database) -> None:
    at = start(user=None)
    for _ in range(5):
        at = login(at, "ana", "equivocada")
    assert at.error[0].value.startswith(
        "Demasiados intentos fallidos: el usuario está bloqueado hasta el "
    )
    at = login(at, "ana", "clave-de-ana-1")
    assert at.error[0].value.startswith("Demasiados intentos fallidos")
    with database() as session, session.begin():
        session.scalar(sa.select(User).where(User.username == "ana")).locked_until = (
            utcnow() - timedelta(seconds=1)
        )
    at = login(at, "ana", "clave-de-ana-1")
    assert at.session_state["authentication_status"] is True


@pytest.mark.parametrize(
    ("user", "page", "title"),
    [
        ("ana", "pages/inicio.py", "Envío masivo de estados de cuenta"),
        ("ana", "pages/cuenta.py", "Mi cuenta"),
        ("root", "pages/datos.py", "Datos"),
        ("root", "pages/usuarios.py", "Usuarios"),
    ],
)
def test_each_role_reaches_its_pages(people, user, page, title) -> None:
    at = start(page, user=user)
    assert not at.exception
    assert titles(at) == [title]


@pytest.mark.parametrize("page", ["pages/datos.py", "pages/usuarios.py"])
def test_an_analista_cannot_reach_admin_pages(people, page) -> None:
    at = start(user="ana")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: users.set_active(s, "ana", False, by="root"),
        lambda s: users.reset_password(s, "ana", "temporal-nueva-1", by="root"),
        lambda s: users.change_own_password(s, "ana", "clave-de-ana-1", "otra-clave-9876"),
    ],
    ids=["deactivated", "password reset", "password changed elsewhere"],
)
def test_a_session_ends_when_its_user_changes(people, database, change) -> None:
    at = start(user="ana")
    assert at.session_state["authentication_status"] is True
    with database() as session, session.begin():
        change(session)
    at.run()
    assert not at.session_state["authentication_status"]
    assert at.error[0].value.startswith("Tu sesión terminó")
    assert [t.label for t in at.text_input] == ["Usuario", "Contraseña"]


def test_first_start_creates_admin_and_forces_a_password_change(app_env) -> None:
    at = AppTest.from_file(HOME, default_timeout=60).run()
    hint = at.info[0].value
    assert hint.startswith("Primer inicio: ingresa con el usuario **admin**")
    path = hint.split("`")[1]
    password = Path(path).read_text(encoding="utf-8").split("contraseña: ")[1].strip()
    at = login(at, "admin", password)
    assert titles(at) == ["Mi cuenta"]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/datos.py")
    at.text_input[0].input("admin@empresa.mx")
    at.text_input[1].input(password)
    at.text_input[2].input("una-clave-nueva-1")
    at.text_input[3].input("una-clave-nueva-1")
    next(b for b in at.button if b.label == "Cambiar contraseña").click()
    at.run()
    assert not at.exception
    assert at.success[0].value == "Contraseña y correo guardados."
    assert titles(at) == ["Envío masivo de estados de cuenta"]
    assert not at.warning
    assert not Path(path).exists()
    at.switch_page("pages/datos.py")
    assert titles(at.run()) == ["Datos"]


def test_own_password_change_with_a_wrong_current_password(people) -> None:
    at = start("pages/cuenta.py", user="ana")
    at.text_input[0].input("no-es")
    at.text_input[1].input("una-clave-nueva-1")
    at.text_input[2].input("una-clave-nueva-1")
    next(b for b in at.button if b.label == "Cambiar contraseña").click()
    at.run()
    assert at.error[0].value == "No se cambió: la contraseña actual no es correcta."


def test_logout_ends_the_session_everywhere(people, database) -> None:
    at = start(user="ana")
    next(b for b in at.sidebar.button if b.label == "Cerrar sesión").click()
    at.run()
    assert not at.session_state["authentication_status"]
    assert [t.label for t in at.text_input] == ["Usuario", "Contraseña"]
    with database() as session:
        assert users.find(session, "ana").session_version == 2


def test_the_cookie_writer_never_moves_the_pages_own_elements(people) -> None:
    """The writer comes and goes; had it shifted the page, a data editor below would be drawn
    anew and drop the rows the user had just unticked (seen once in the Envío masivo test)."""

    def layout(at: AppTest) -> list[str]:
        return [type(node).__name__ for node in at.main.children.values()]

    at = start("pages/envio_masivo.py", user="ana")
    before = layout(at)
    at.session_state["cookie_pending"] = {"token": "x", "expires": "2030-01-01T00:00:00+00:00"}
    at.run()

    assert not at.exception
    assert layout(at) == before
    assert [type(node).__name__ for node in at.main.children[0].children.values()] == [
        "UnknownElement"
    ]


def test_a_notice_after_a_change_never_moves_the_pages_own_elements(people) -> None:
    def layout(at: AppTest) -> list[str]:
        return [type(node).__name__ for node in at.main.children.values()]

    at = start("pages/envio_masivo.py", user="ana")
    before = layout(at)
    at.session_state["flash"] = "Se creó el envío núm. 1 para 3 clientes."
    at.run()

    assert at.success[0].value == "Se creó el envío núm. 1 para 3 clientes."
    assert layout(at) == before


def test_the_login_hooks_are_installed_on_the_pinned_versions() -> None:
    pinned = requirement_pins()
    assert {name: pinned[name] for name in login_hooks.HOOKED_VERSIONS} == (
        login_hooks.HOOKED_VERSIONS
    )
    assert pins.differing(login_hooks.HOOKED_VERSIONS) == {}
    assert cookie_controller.CookieModel is login_hooks._VersionedCookie


@pytest.mark.parametrize("user", [None, "root"])
def test_another_version_of_the_login_library_lets_nobody_in(people, monkeypatch, user) -> None:
    monkeypatch.setitem(login_hooks.HOOKED_VERSIONS, "streamlit-authenticator", "0.0.1")
    at = start(user=user)
    assert not at.exception
    assert [e.value for e in at.error] == [login_hooks.UNAVAILABLE]
    assert not at.text_input
    assert not at.sidebar.markdown


def test_differing_names_the_installed_version_or_none() -> None:
    installed = requirement_pins()["streamlit"]
    assert pins.differing({"streamlit": installed}) == {}
    assert pins.differing({"streamlit": "0.0.1"}) == {"streamlit": installed}
    assert pins.differing({"no-such-library-here": "1.0"}) == {
        "no-such-library-here": pins.NOT_INSTALLED
    }
