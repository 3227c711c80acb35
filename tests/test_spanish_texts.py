"""Spanish everywhere: numbers in agreement with their nouns, and Streamlit's own English on the
file uploader replaced, checked in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from lib import catalog, formatting
from lib.catalog import ERROR, NEW, SKIPPED, UNCHANGED, UPDATE, Verdict
from tests.support import AppServer
from tests.test_browser import log_in, settle


@pytest.mark.parametrize(
    ("n", "singular", "many", "expected"),
    [
        (0, "nuevo", "", "0 nuevos"),
        (1, "nuevo", "", "1 nuevo"),
        (2, "nuevo", "", "2 nuevos"),
        (1, "fila", "", "1 fila"),
        (3, "fila", "", "3 filas"),
        (1, "error", "", "1 error"),
        (2, "error", "", "2 errores"),
        (1, "fila con error", "", "1 fila con error"),
        (3, "fila con error", "", "3 filas con error"),
        (2, "partida abierta", "partidas abiertas", "2 partidas abiertas"),
        (1_500, "cliente", "", "1,500 clientes"),
    ],
)
def test_count_agrees_with_its_noun(n: int, singular: str, many: str, expected: str) -> None:
    assert formatting.count(n, singular, many) == expected


@pytest.mark.parametrize(
    ("n", "expected"), [(0, "no se grabaron"), (1, "no se grabó"), (2, "no se grabaron")]
)
def test_plural_takes_the_given_form(n: int, expected: str) -> None:
    assert formatting.plural(n, "no se grabó", "no se grabaron") == expected


def verdicts(*statuses: str) -> list[Verdict]:
    return [Verdict(i, "SM02", str(i), "", "a@b.mx", s) for i, s in enumerate(statuses, 1)]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((NEW,), "Se grabó 1 de 1 fila."),
        ((NEW, UPDATE), "Se grabaron 2 de 2 filas."),
        ((NEW, UNCHANGED, ERROR), "Se grabó 1 de 3 filas; 1 fila con error no se grabó."),
        (
            (UPDATE, NEW, ERROR, ERROR),
            "Se grabaron 2 de 4 filas; 2 filas con error no se grabaron.",
        ),
        ((ERROR, ERROR, ERROR), "Se grabaron 0 de 3 filas; 3 filas con error no se grabaron."),
        ((UNCHANGED, SKIPPED), "Se grabaron 0 de 2 filas."),
    ],
)
def test_the_summary_after_grabar_agrees_with_its_numbers(
    statuses: tuple[str, ...], expected: str
) -> None:
    assert catalog.saved_summary(verdicts(*statuses)) == expected


def after(locator: Locator) -> str:
    return locator.evaluate("e => getComputedStyle(e, '::after').content")


def test_the_file_uploader_speaks_spanish(
    people: dict[str, str], app_server: AppServer, page: Page
) -> None:
    page.goto(f"{app_server.url}/catalogo_masiva")
    log_in(page, "ana", people["ana"])
    page.get_by_text("Subir archivo").click()
    zone = page.locator('[data-testid="stFileUploaderDropzone"]')
    expect(zone).to_be_visible(timeout=30_000)
    settle(page)

    expect(zone.get_by_role("button", name="Buscar archivo", exact=True)).to_be_visible()
    instructions = zone.locator('[data-testid="stFileUploaderDropzoneInstructions"] > div')
    assert after(instructions) == '"Límite 200 MB por archivo · XLSX, CSV"'
    expect(instructions.locator("span")).to_be_hidden()
    expect(zone.get_by_text("Upload", exact=True)).to_be_hidden()

    dragged = page.evaluate_handle(
        "() => { const d = new DataTransfer();"
        " d.items.add(new File(['a'], 'c.csv', {type: 'text/csv'})); return d; }"
    )
    zone.dispatch_event("dragenter", {"dataTransfer": dragged})
    hint = zone.locator("> div:not([data-testid]) > span:only-child")
    expect(hint).to_have_text("Drag and drop a file here")  # in the page, drawn at size 0
    assert hint.evaluate("e => getComputedStyle(e).fontSize") == "0px"
    assert after(hint) == '"Suelta el archivo aquí"'
    zone.dispatch_event("dragleave", {"dataTransfer": dragged})
    expect(hint).to_have_count(0)
