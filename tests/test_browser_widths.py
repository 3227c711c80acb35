"""At 1366 px, the commonest laptop width, every column of the main tables is on screen: the
grid needs no sideways scrolling to show Saldo, Verificación/Mensaje or Estado, on the demo data.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support import AppServer
from tests.test_browser import paste, settle
from tests.test_browser_envio import (
    open_send_page,
    search,
    send_first_run,
    smtp,  # noqa: F401  (the fixture: demo data, SMTP, workers)
)

LAPTOP = {"width": 1366, "height": 768}


def overflow(page: Page) -> list[tuple[int, int]]:
    """(content width, visible width) of each grid on the page whose columns do not fit:
    the grid's scroller is as wide as its columns, its box as wide as the page lets it be."""
    settle(page)
    expect(page.locator('[data-testid="stDataFrame"] .dvn-scroller').first).to_be_attached()
    widths = page.locator('[data-testid="stDataFrame"] .dvn-scroller').evaluate_all(
        "els => els.map(e => [e.scrollWidth, e.clientWidth])"
    )
    assert widths, "no table on the page"
    return [(inner, outer) for inner, outer in widths if inner > outer + 1]


def visit(page: Page, link: str, heading: str) -> None:
    page.get_by_role("link", name=link).click()
    expect(page.get_by_role("heading", name=heading)).to_be_visible()


@pytest.fixture
def laptop(page: Page) -> Page:
    page.set_viewport_size(LAPTOP)
    return page


@pytest.mark.usefixtures("smtp")
def test_every_column_fits_at_1366_px_on_the_main_tables(
    people: dict[str, str], app_server: AppServer, laptop: Page
) -> None:
    page = laptop
    open_send_page(page, app_server, people)
    search(page, "SM02")
    assert overflow(page) == [], "Envío masivo's list"
    send_first_run(page)
    assert overflow(page) == [], "Envío masivo's run"

    visit(page, "Historial de envíos", "Historial de envíos")
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(2)
    assert overflow(page) == [], "Historial"

    visit(page, "Inicio", "Envío masivo de estados de cuenta")
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
    assert overflow(page) == [], "Inicio"

    visit(page, "Masiva", "Catálogo Envío Masivo › Masiva")
    paste(page, "SM02\t1000001\tpagos@cliente-con-un-dominio-bastante-largo.com.mx\n" * 3)
    page.get_by_role("button", name="Procesar").click()
    expect(page.get_by_text("Verificación")).to_have_count(0)  # a grid header, not in the DOM
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(2)
    assert overflow(page) == [], "Masiva"
