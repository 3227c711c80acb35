"""The app in a real browser: Debian's chromium driven by Playwright, against `streamlit run`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from lib import tables, users
from lib.models import Recipient
from tests.support import AppServer, seed_catalog

COOKIE = "envio_masivo_sesion"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def settle(page: Page) -> None:
    page.wait_for_selector(IDLE, timeout=30_000)


def sidebar_links(page: Page) -> list[str]:
    """Link labels without the icon's ligature text (`home\n\nInicio` → `Inicio`)."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    return [text.split("\n")[-1].strip() for text in links.all_inner_texts()]


def session_cookie(page: Page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == COOKIE), None)


def log_in(page: Page, username: str, password: str, *, expect_success: bool = True) -> None:
    """Fill and send the login form; on success, wait until the remember-me cookie is set
    (its component reruns the app once more) and the app is idle.
    """
    expect(page.get_by_role("textbox", name="Usuario", exact=True)).to_be_visible(timeout=30_000)
    page.get_by_role("textbox", name="Usuario", exact=True).fill(username)
    page.get_by_role("textbox", name="Contraseña", exact=True).fill(password)
    page.get_by_role("button", name="Ingresar").click()
    if expect_success:
        expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible(timeout=30_000)
        deadline = time.monotonic() + 15
        while session_cookie(page) is None and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert session_cookie(page) is not None, "the remember-me cookie was not set"
        page.wait_for_timeout(300)
    settle(page)


def paste(page: Page, rows: str) -> None:
    """Paste tab-separated rows into the first data editor as a user does: the text on the
    clipboard, one click on the first cell, Control+V (the page needs clipboard permissions)."""
    page.evaluate("text => navigator.clipboard.writeText(text)", rows)
    grid = page.locator('[data-testid="stDataFrameResizable"]').first.bounding_box()
    page.mouse.click(grid["x"] + 60, grid["y"] + 52)
    page.keyboard.press("Control+V")
    page.wait_for_timeout(1_500)  # the editor sends a paste to the app a moment later


def test_a_page_url_opened_before_login_shows_the_login_then_the_page(
    people: dict[str, str], app_server: AppServer, page: Page
) -> None:
    page.goto(f"{app_server.url}/datos")
    expect(page.get_by_role("textbox", name="Usuario", exact=True)).to_be_visible(timeout=30_000)
    settle(page)
    assert sidebar_links(page) == []
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_role("heading", name="Datos")).to_have_count(0)
    log_in(page, "root", people["root"])
    expect(page.get_by_role("heading", name="Datos")).to_be_visible()
    assert sidebar_links(page) == [
        "Inicio",
        "Individual",
        "Masiva",
        "Envío masivo estado de cuenta",
        "Historial de envíos",
        "Programados",
        "Vista previa",
        "Datos",
        "Sociedades",
        "Usuarios",
        "Mi cuenta",
    ]


def test_the_login_page_has_no_component_that_reruns_the_app_on_load(
    people: dict[str, str], app_server: AppServer, page: Page
) -> None:
    """A component's report when it mounts reruns the app, and a login clicked just before
    that rerun was lost (the library's cookie reader did this on every first run).
    """
    page.goto(app_server.url)
    expect(page.get_by_role("button", name="Ingresar")).to_be_visible(timeout=30_000)
    settle(page)
    page.wait_for_timeout(1_000)
    settle(page)
    assert page.locator("iframe").count() == 0


def test_wrong_password_is_refused_in_spanish(
    people: dict[str, str], app_server: AppServer, page: Page
) -> None:
    page.goto(app_server.url)
    log_in(page, "ana", "no-es-su-clave", expect_success=False)
    expect(page.get_by_text("Usuario o contraseña incorrectos")).to_be_visible()
    assert sidebar_links(page) == []


def test_an_analista_sees_no_admin_pages_even_by_url(
    people: dict[str, str], app_server: AppServer, page: Page
) -> None:
    page.goto(app_server.url)
    log_in(page, "ana", people["ana"])
    assert sidebar_links(page) == [
        "Inicio",
        "Individual",
        "Masiva",
        "Envío masivo estado de cuenta",
        "Historial de envíos",
        "Programados",
        "Vista previa",
        "Mi cuenta",
    ]
    page.goto(f"{app_server.url}/usuarios")
    expect(page.get_by_text("No tienes acceso a esta página")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name="Usuarios")).to_have_count(0)


def test_remember_me_cookie_then_logout_ends_it(
    people: dict[str, str], app_server: AppServer, page: Page
) -> None:
    page.goto(app_server.url)
    log_in(page, "ana", people["ana"])
    cookie = session_cookie(page)
    second = page.context.new_page()
    second.goto(f"{app_server.url}/cuenta")
    expect(second.get_by_role("heading", name="Mi cuenta")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Cerrar sesión").click()
    settle(page)
    expect(page.get_by_role("textbox", name="Usuario", exact=True)).to_be_visible()
    assert_cookie_refused(page, app_server, cookie)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: users.set_active(s, "ana", False, by="root"),
        lambda s: users.reset_password(s, "ana", "temporal-nueva-1", by="root"),
    ],
    ids=["deactivated", "password reset"],
)
def test_a_valid_cookie_is_refused_after_the_user_changes(
    people: dict[str, str], app_server: AppServer, page: Page, database, change
) -> None:
    page.goto(app_server.url)
    log_in(page, "ana", people["ana"])
    cookie = session_cookie(page)
    with database() as session, session.begin():
        change(session)
    assert_cookie_refused(page, app_server, cookie)


def assert_cookie_refused(page: Page, app_server: AppServer, cookie: dict) -> None:
    """A fresh tab carrying `cookie` gets the login form, not the page it asked for."""
    fresh = page.context.browser.new_context()
    fresh.add_cookies([cookie])
    tab = fresh.new_page()
    tab.goto(f"{app_server.url}/cuenta")
    expect(tab.get_by_role("textbox", name="Usuario", exact=True)).to_be_visible(timeout=30_000)
    settle(tab)
    expect(tab.get_by_role("heading", name="Mi cuenta")).to_have_count(0)
    fresh.close()


def test_home_shows_the_demo_sociedades(
    with_demo_data: None, people: dict[str, str], app_server: AppServer, page: Page
) -> None:
    page.goto(app_server.url)
    log_in(page, "ana", people["ana"])
    expect(page.get_by_text("Por sociedad")).to_be_visible(timeout=60_000)
    settle(page)
    metrics = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    assert metrics[:2] == ["3", "500"]
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()


def test_datos_upload_lists_row_errors(
    people: dict[str, str], app_server: AppServer, page: Page, tmp_path: Path
) -> None:
    bad = tmp_path / "sociedades.xlsx"
    bad.write_bytes(tables.write_xlsx(["Sociedad", "Nombre"], [["SM02", "Bajío"], ["SM 02", "X"]]))
    page.goto(f"{app_server.url}/datos")
    log_in(page, "root", people["root"])
    expect(page.get_by_role("heading", name="Datos")).to_be_visible(timeout=30_000)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(bad)
    expect(page.get_by_text("sociedades.xlsx")).to_be_visible()
    page.get_by_role("button", name="Importar").filter(visible=True).click()
    expect(page.get_by_text("Sociedades: 1 error en 2 filas")).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()


def test_masiva_paste_from_excel_procesar_grabar(
    people: dict[str, str], app_server: AppServer, page: Page, database
) -> None:
    seed_catalog(database)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{app_server.url}/catalogo_masiva")
    log_in(page, "ana", people["ana"])
    expect(page.get_by_role("heading", name="Catálogo Envío Masivo › Masiva")).to_be_visible()
    paste(
        page,
        "Sociedad\tNo. Cliente\tCorreo\nsm02\t0001006210\tCobranza@Pena.MX; x@pena.mx\n"
        "SM02\t9999999\ta@b.mx\n",
    )
    settle(page)
    page.get_by_role("button", name="Procesar").click()
    expect(page.get_by_text("La fila 1 parece un encabezado y se ignoró.")).to_be_visible()
    page.get_by_role("button", name="Grabar").click()
    expect(page.get_by_text("Se grabó 1 de 2 filas; 1 fila con error no se grabó.")).to_be_visible()
    with database() as session:
        stored = dict(session.execute(sa.select(Recipient.customer_no, Recipient.emails)).all())
    assert stored == {"1004273": "old@y.mx", "1006210": "Cobranza@pena.mx;x@pena.mx"}
