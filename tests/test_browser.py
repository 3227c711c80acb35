"""The app in a real browser: Debian's chromium driven by Playwright, against `streamlit run`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from lib import tables
from tests.support import AppServer, browser_executable

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    executable = browser_executable()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="es-MX")
    opened = context.new_page()
    yield opened
    if getattr(request.node, "failed", False):
        ARTIFACTS.mkdir(exist_ok=True)
        opened.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
        (ARTIFACTS / f"{request.node.name}.html").write_text(opened.content(), encoding="utf-8")
    context.close()


def settle(page: Page) -> None:
    page.wait_for_selector(IDLE, timeout=30_000)


def sidebar_links(page: Page) -> list[str]:
    """Link labels without the icon's ligature text (`home\n\nInicio` → `Inicio`)."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    return [text.split()[-1] for text in links.all_inner_texts()]


def test_a_page_url_opened_first_after_start_runs_through_home(
    app_server: AppServer, page: Page
) -> None:
    page.goto(f"{app_server.url}/datos")
    expect(page.get_by_role("heading", name="Datos")).to_be_visible(timeout=30_000)
    settle(page)
    assert sidebar_links(page) == ["Inicio", "Datos"]
    expect(page.get_by_text("Page not found")).to_have_count(0)


def test_home_shows_the_demo_sociedades(
    with_demo_data: None, app_server: AppServer, page: Page
) -> None:
    page.goto(app_server.url)
    expect(page.get_by_text("Por sociedad")).to_be_visible(timeout=60_000)
    settle(page)
    metrics = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    assert metrics[:2] == ["3", "500"]
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()


def test_datos_upload_lists_row_errors(app_server: AppServer, page: Page, tmp_path: Path) -> None:
    bad = tmp_path / "sociedades.xlsx"
    bad.write_bytes(tables.write_xlsx(["Sociedad", "Nombre"], [["SM02", "Bajío"], ["SM 02", "X"]]))
    page.goto(f"{app_server.url}/datos")
    expect(page.get_by_role("heading", name="Datos")).to_be_visible(timeout=30_000)
    settle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(bad)
    expect(page.get_by_text("sociedades.xlsx")).to_be_visible()
    page.get_by_role("button", name="Importar").filter(visible=True).click()
    expect(page.get_by_text("Sociedades: 1 error(es) en 2 fila(s)")).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()
