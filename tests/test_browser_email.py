"""The customer's HTML email as a browser draws it: Debian's chromium through Playwright, the
HTML part of a real `message.ready(...)` email (the test ledger of test_statements, with its
payment details and a PNG logo in DATA_DIR/logos/) loaded into a page 800 px wide.

What it shows is checked through the DOM: the logo loaded, one row per currency with Saldo and
Vencido, the Datos para pago block with the CLABE, and text with no template syntax left and no
double escaping (the ledger's names carry `&` and `<`). The screenshot goes to `tmp_path`; with
`MANUAL_SCREENSHOTS=1` also to docs/manual/33_correo_html.png, reduced like the tour's.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from lib import formatting, statements
from lib.statements import message
from tests.test_manual_screens import MANUAL_DIR, REGENERATE, small
from tests.test_statements import CLABE, build, ledger, paying  # noqa: F401 (ledger: fixture)

WIDTH = 800
SENT_ON = date(2026, 11, 28)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the email is the same whatever database the statement came from."""
    return f"sqlite:///{tmp_path / 'envio.db'}"


def write_logo(data_dir: Path) -> Path:
    """A 240×80 PNG in DATA_DIR/logos/SM02.png, where the send looks for the sociedad's logo."""
    folder = data_dir / "logos"
    folder.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (240, 80), "white")
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((2, 2, 78, 78), radius=14, fill="#0b5cab")
    draw.ellipse((22, 18, 58, 62), fill="#7cc4fa")
    draw.text((92, 22), "SOLUCIONES", fill="#0b5cab", font_size=20)
    draw.text((92, 46), "& TUBOS", fill="#52606d", font_size=18)
    path = folder / "SM02.png"
    image.save(path)
    return path


@pytest.mark.usefixtures("ledger")
def test_the_html_email_in_a_browser_shows_logo_balances_and_payment_details(
    sessions, page: Page, tmp_path: Path
) -> None:
    paying(sessions)
    write_logo(tmp_path)
    statement = build(sessions)
    ready = message.ready(
        statement,
        ("cobranza@pena.mx",),
        options=message.Options(tmp_path, "Cobranza <cobranza@empresa.example>"),
        sent_on=SENT_ON,
    )
    assert ready.content.logo is not None, "the logo in DATA_DIR/logos/ was found"

    page.set_viewport_size({"width": WIDTH, "height": 900})
    page.set_content(ready.html_preview, wait_until="load")

    logo = page.locator("img")
    expect(logo).to_have_count(1)
    assert logo.evaluate("img => img.complete && img.naturalWidth") == 240, "the logo loaded"
    assert logo.bounding_box()["height"] <= 60, "drawn at the template's max-height"

    headers = [text.strip() for text in page.locator("table th").all_inner_texts()]
    assert headers[:3] == ["Moneda", "Saldo", "Vencido"]
    rows = [
        [cell.strip() for cell in row.locator("td").all_inner_texts()]
        for row in page.locator("table tbody tr").all()
    ]
    overdue = statement.overdue
    assert [row[:3] for row in rows] == [
        [
            currency,
            formatting.money(total),
            formatting.money(overdue.get(currency, statements.ZERO)),
        ]
        for currency, total in statement.totals.items()
    ]
    assert [row[0] for row in rows] == ["MXN", "USD"], "one row per currency"
    assert all(len(row) == len(headers) for row in rows), "every column filled"
    assert all(row[2] != formatting.money(statements.ZERO) for row in rows), "overdue charges"

    block = page.locator("p", has_text="Datos para pago")
    expect(block).to_be_visible()
    expect(block).to_contain_text("Banco: BBVA México")
    expect(block).to_contain_text("Cuenta: 0118359012")
    expect(block).to_contain_text(f"CLABE: {CLABE}")
    expect(block).to_contain_text("Referencia: 1006210")
    expect(page.get_by_text(f"CLABE: {CLABE}")).to_be_in_viewport()

    text = page.locator("body").inner_text()
    assert "Estimado cliente PEÑA & HIJOS <SA>:" in text
    assert "Soluciones & Tubos <Bajío>" in text
    for leftover in ("{{", "}}", "{%", "%}", "&amp;", "&lt;", "&gt;"):
        assert leftover not in text, leftover
    assert "&amp;lt;" not in page.content()

    fits = page.evaluate("document.documentElement.scrollWidth")
    assert fits <= WIDTH, "no sideways scrolling at 800 px"

    # The email itself: as tall as its text, as wide as its body (max-width 640 px) and margin.
    body = page.locator("body").bounding_box()
    margin = body["x"]
    clip = {"x": 0, "y": 0, "width": 2 * margin + body["width"],
            "height": body["y"] + body["height"] + margin}  # fmt: skip
    page.screenshot(path=tmp_path / "correo_html.png", full_page=True, clip=clip)
    if REGENERATE:
        MANUAL_DIR.mkdir(parents=True, exist_ok=True)
        manual = MANUAL_DIR / "33_correo_html.png"
        page.screenshot(path=manual, full_page=True, clip=clip)
        small(manual)
