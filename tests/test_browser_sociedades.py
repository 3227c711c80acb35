"""Administración › Sociedades in a real browser at 1366 px, on the demo data: the admin changes
SM02's Spanish Asunto, Vista previa shows the new subject over the email and the PDF's first
page drawn as an image, and Grabar saves it. Screenshots (of what is in view: the page scrolls
inside its own frame) go to the test's
`tmp_path`; what it shows is checked through the DOM.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from lib.models import AuditEvent, CompanyTemplate
from tests.support import AppServer
from tests.test_browser import log_in, settle

SCREEN = {"width": 1366, "height": 900}
SUBJECT = "Su estado de cuenta {{ no_cliente }} — prueba"


def preview(page: Page) -> None:
    page.get_by_role("button", name="Vista previa").click()
    # One set of headers: an earlier preview's, moved down by the notice above it, is gone.
    expect(page.get_by_text("De:", exact=True)).to_have_count(1, timeout=30_000)
    expect(page.get_by_text("Cambiaste el formulario")).to_have_count(0)
    settle(page)


def test_the_admin_changes_the_subject_previews_it_and_saves_it(
    with_demo_data: None,
    people: dict[str, str],
    app_server: AppServer,
    page: Page,
    database: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    page.set_viewport_size(SCREEN)
    page.goto(f"{app_server.url}/sociedades")
    log_in(page, "root", people["root"])
    expect(page.get_by_role("heading", name="Sociedades")).to_be_visible()
    expect(page.get_by_role("combobox", name="Sociedad")).to_have_value(re.compile("^SM02"))
    page.screenshot(path=tmp_path / "sociedades_datos.png")

    preview(page)
    headers = page.locator('[data-testid="stMarkdownContainer"]', has_text="Asunto:").last
    expect(headers).to_contain_text("Estado de cuenta al")
    customer = re.search(r"Para: (\S+)", headers.inner_text())
    assert customer, "the sample customer is in the catalog"

    page.get_by_role("tab", name="Plantillas").click()
    subject = page.get_by_role("textbox", name="Asunto").locator("visible=true")
    subject.fill(SUBJECT)
    subject.press("Enter")
    settle(page)
    page.screenshot(path=tmp_path / "sociedades_plantillas.png")
    expect(page.get_by_text("Cambiaste el formulario después de esta vista previa")).to_be_visible()

    preview(page)
    number = page.get_by_role("combobox", name="No. Cliente").input_value().split(" · ")[0]
    expect(headers).to_contain_text(f"Asunto: Su estado de cuenta {number} — prueba")
    expect(headers).to_contain_text(f"Adjuntos: {number}_")
    shown = page.locator('iframe[src^="data:text/html"]')
    expect(shown).to_have_count(1)  # the first preview's is gone
    email = shown.content_frame
    expect(email.get_by_text("Estimado cliente")).to_be_visible()
    drawn = page.locator('[data-testid="stImage"] img').last
    expect(drawn).to_be_visible()
    width, height = drawn.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width > 800, "drawn at 1.5 px per point"
    assert height > width, "a portrait page"
    assert drawn.bounding_box()["width"] > 400, "the page is shown large enough to read"
    expect(
        page.get_by_role("button", name=re.compile(r"^Descargar \d+_\d{8}\.pdf$"))
    ).to_be_visible()
    page.screenshot(path=tmp_path / "sociedades_vista_previa.png")

    page.get_by_role("button", name="Grabar").click()
    saved = page.get_by_text("Sociedad SM02 grabada. Cambió: Plantillas › Español › Asunto.")
    expect(saved).to_be_visible(timeout=30_000)
    settle(page)
    expect(saved).to_be_in_viewport()  # under Grabar, not on top of the long page
    with database() as session:
        assert session.get(CompanyTemplate, ("SM02", "es")).subject == SUBJECT
        audited = session.scalars(sa.select(AuditEvent).where(AuditEvent.entity == "company"))
        assert [(e.username, e.entity_key) for e in audited] == [("root", "SM02")]
    page.screenshot(path=tmp_path / "sociedades_grabada.png")
