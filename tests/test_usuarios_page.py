"""Usuarios page (admin) through AppTest: every action, and what the database then holds."""

from datetime import time
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from lib import auth, users
from lib.models import AuditEvent, utcnow
from lib.scheduling import schedules
from lib.scheduling.recurrence import CutoffRule, Frequency, Recurrence
from tests.support import seed_catalog
from tests.test_pages import start


def widget(elements, label: str):
    return next(e for e in elements if e.label == label)


def click(at: AppTest, label: str) -> AppTest:
    widget(at.button, label).click()
    return at.run()


@pytest.fixture
def page(people) -> AppTest:
    at = start("pages/usuarios.py", user="root")
    assert not at.exception
    assert list(at.dataframe[0].value["Usuario"]) == ["ana", "root"]
    return at


def stored(database, username: str):
    with database() as session:
        return users.find(session, username)


def test_admin_adds_a_user_who_must_change_the_password(page: AppTest, database) -> None:
    widget(page.text_input, "Usuario").input("Beto")
    widget(page.text_input, "Nombre").input("Beto Peña")
    widget(page.text_input, "Correo (ahí llega el log de cada envío)").input("beto@e.example")
    widget(page.text_input, "Contraseña inicial").input("temporal-beto-1")
    click(page, "Agregar")
    assert page.success[0].value.startswith("Usuario beto agregado")
    assert list(page.dataframe[0].value["Usuario"]) == ["ana", "beto", "root"]
    beto = stored(database, "beto")
    assert (beto.role, beto.must_change_password) == ("analista", True)


def test_adding_an_invalid_user_says_why(page: AppTest) -> None:
    widget(page.text_input, "Usuario").input("ana")
    widget(page.text_input, "Nombre").input("Otra Ana")
    widget(page.text_input, "Correo (ahí llega el log de cada envío)").input("otra@e.example")
    widget(page.text_input, "Contraseña inicial").input("temporal-ana-1")
    click(page, "Agregar")
    assert page.error[0].value == "El usuario 'ana' ya existe."


def test_deactivate_and_reactivate(page: AppTest, database) -> None:
    page.selectbox(key="usuario-elegido").select("ana")
    page.run()
    click(page, "Desactivar")
    assert page.success[0].value == "ana desactivado."
    assert not stored(database, "ana").active
    page.selectbox(key="usuario-elegido").select("ana")
    page.run()
    click(page, "Reactivar")
    assert stored(database, "ana").active


def test_deactivating_the_owner_of_schedules_says_they_stop(page: AppTest, database) -> None:
    seed_catalog(database)
    plan = schedules.Plan("SM02", "", CutoffRule.RUN_DAY, None, False,
                          Recurrence(Frequency.WEEKLY, time(7, 0), weekday=0))  # fmt: skip
    with database() as session, session.begin():
        schedules.create(session, plan, by=schedules.Actor("ana", admin=False), now=utcnow(),
                         zone=ZoneInfo("America/Mexico_City"))  # fmt: skip

    page.selectbox(key="usuario-elegido").select("ana")
    page.run()

    assert [c.value for c in page.caption if "programado" in c.value] == [
        "Es dueño de 1 programado activo: si se desactiva, se detienen hasta que se reactive y "
        "se pulse Reanudar en Programados."
    ]
    page.selectbox(key="usuario-elegido").select("root")
    page.run()
    assert not [c.value for c in page.caption if "programado" in c.value]


def test_change_role(page: AppTest, database) -> None:
    page.selectbox(key="usuario-elegido").select("ana")
    page.run()
    [role for role in page.selectbox if role.label == "Rol"][-1].select("admin")
    page.run()
    click(page, "Cambiar rol")
    assert page.success[0].value == "ana ahora es admin."
    assert stored(database, "ana").role == "admin"


def test_reset_password(page: AppTest, database) -> None:
    page.selectbox(key="usuario-elegido").select("ana")
    page.run()
    widget(page.text_input, "Nueva contraseña temporal para ana").input("temporal-nueva-1")
    click(page, "Restablecer contraseña")
    ana = stored(database, "ana")
    assert ana.must_change_password
    assert users.verify_password("temporal-nueva-1", ana.password_hash)


def test_unlock(page: AppTest, database) -> None:
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        with database() as session, session.begin():
            auth.login(session, "ana", "mala", now=utcnow())
    page.run()
    page.selectbox(key="usuario-elegido").select("ana")
    page.run()
    assert page.dataframe[0].value.loc[0, "Bloqueado hasta"] != ""
    click(page, "Desbloquear")
    assert stored(database, "ana").locked_until is None
    with database() as session:
        assert "unlock" in session.scalars(sa.select(AuditEvent.action)).all()


def test_an_admin_cannot_deactivate_themselves(page: AppTest) -> None:
    page.selectbox(key="usuario-elegido").select("root")
    page.run()
    click(page, "Desactivar")
    assert page.error[0].value == "No puedes desactivar tu propio usuario."


def test_edit_name_and_email(page: AppTest, database) -> None:
    page.selectbox(key="usuario-elegido").select("ana")
    page.run()
    page.text_input(key="correo-ana").input("Ana.Lopez@Empresa.EXAMPLE")
    page.text_input(key="nombre-ana").input("Ana López")
    click(page, "Guardar nombre y correo")
    assert page.success[0].value == "Datos de ana guardados."
    ana = stored(database, "ana")
    assert (ana.name, ana.email) == ("Ana López", "Ana.Lopez@empresa.example")


def test_a_bad_email_is_refused(page: AppTest) -> None:
    page.text_input(key="correo-ana").input("ana@")
    click(page, "Guardar nombre y correo")
    assert page.error[0].value == "Correo no válido: 'ana@'."
