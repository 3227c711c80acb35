"""Names in any script print in the statement PDF and can be copied from it as written (#15)."""

import io
import os
import unicodedata
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader
from reportlab.pdfbase import pdfmetrics
from sqlalchemy.orm import Session, sessionmaker

from lib import statements
from lib.models import Company, Customer, OpenItem
from lib.statements import fonts, pdf

CUTOFF = date(2026, 3, 2)

# (name, the embedded faces that draw what Helvetica lacks: the bold one for the party cell)
LIBERATION = {"LiberationSans", "LiberationSans-Bold"}
DEJAVU = {"DejaVuSans", "DejaVuSans-Bold"}
CJK = {"WenQuanYiMicroHei-0"}  # the collection's first face; no bold face: drawn regular
NAMES = [
    ("Peña Ñandú", set()),
    ("Łódź Kowalczyk", LIBERATION),
    ("Ελληνικά", LIBERATION),
    ("Русский", LIBERATION),
    ("עברית", DEJAVU),
    ("العربية", DEJAVU),
    ("عبدالله", DEJAVU),
    ("中文名字", CJK),
    ("日本語", CJK),
    ("한국어", CJK),
    ("😀", DEJAVU),
    ("🚚 👍", {"Symbola"}),
]


@pytest.fixture(scope="module", autouse=True)
def every_face_installed() -> None:
    """scripts/test installs the faces under CI=true; elsewhere a missing one skips."""
    missing = [face.package for face in fonts.FACES if not face.regular.is_file()]
    if missing and os.environ.get("CI") != "true":
        pytest.skip(f"fonts not installed: apt-get install {' '.join(missing)}")


def statement_for(sessions: sessionmaker[Session], name: str) -> statements.Statement:
    """A real statement from the database: the customer's name, a reference in it too."""
    with sessions() as session, session.begin():
        session.add(Company(code="SM02", name="Soluciones Hidráulicas", tax_id="SHB950612AB3"))
        session.flush()
        session.add(Customer(company_code="SM02", customer_no="1006210", name=name))
        session.flush()
        session.add(
            OpenItem(
                company_code="SM02",
                customer_no="1006210",
                doc_no="9000000001",
                doc_type="Factura",
                doc_date=date(2026, 1, 5),
                due_date=date(2026, 2, 4),
                reference=name,
                amount=Decimal("1000.00"),
                open_amount=Decimal("1000.00"),
                currency="MXN",
            )
        )
    with sessions() as session:
        return statements.build(session, "SM02", "1006210", CUTOFF)


def font_names(reader: PdfReader) -> set[str]:
    """The base names of the page's fonts, without the subset prefix (`AAAAAA+`)."""
    resources = reader.pages[0]["/Resources"]["/Font"]
    return {
        str(font.get_object()["/BaseFont"]).split("+")[-1].lstrip("/")
        for font in resources.values()
    }


def party_name(lines: list[str]) -> str:
    """The customer's name in the party cell: the line after the number, after the labels."""
    return lines[lines.index("Dirección") + 2]


@pytest.mark.parametrize(("name", "faces"), NAMES)
def test_a_name_in_any_script_is_extractable_as_written(sessions, name: str, faces) -> None:
    reader = PdfReader(io.BytesIO(pdf.render(statement_for(sessions, name))))
    lines = reader.pages[0].extract_text().splitlines()
    assert party_name(lines) == name
    assert lines[lines.index("04/02/2026") + 1] == name  # the reference, after the due date
    # The footer: pypdf puts the space after a right-to-left name on its other side.
    footer = lines[0].replace(f" {name}·", f" {name} ·").replace("·  ", "· ")
    assert footer == f"1006210 · {name} · Página 1 de 1"


@pytest.mark.parametrize(("name", "faces"), NAMES)
def test_the_face_that_draws_a_name_is_embedded_and_has_every_glyph(
    sessions, name: str, faces: set[str], caplog
) -> None:
    content = pdf.render(statement_for(sessions, name))
    reader = PdfReader(io.BytesIO(content))
    assert font_names(reader) == {"Helvetica", "Helvetica-Bold", *faces}
    for font in reader.pages[0]["/Resources"]["/Font"].values():
        font = font.get_object()
        if not font["/BaseFont"].startswith("/Helvetica"):
            assert "/FontFile2" in font["/FontDescriptor"], font["/BaseFont"]  # TrueType, embedded
    # xhtml2pdf's word when no family has a character, which then is .notdef (glyph 0, a box).
    assert "can draw" not in caplog.text
    for char in set(fonts.shape(name)) - {" "}:
        assert _helvetica_has(char) or any(
            pdfmetrics.getFont(drawn_by.removesuffix("-0")).face.charToGlyph.get(ord(char), 0)
            for drawn_by in faces
        ), (char, faces)


def _helvetica_has(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def test_a_right_to_left_name_of_two_words_is_drawn_right_to_left(sessions) -> None:
    """Drawn as it reads, "عبد" on the right. pypdf gives the footer (one run) as written, but the
    pre cells' words one by one as they stand on the page, left to right; poppler's pdftotext
    gives those as written too."""
    name = "عبد الله"
    reader = PdfReader(io.BytesIO(pdf.render(statement_for(sessions, name))))
    lines = reader.pages[0].extract_text().splitlines()
    assert lines[0] == f"1006210 ·  {name}· Página 1 de 1"
    assert party_name(lines) == "الله عبد"


def test_arabic_is_joined_with_the_ligatures_the_faces_have() -> None:
    shaped = fonts.shape("عبد الله")
    assert all(unicodedata.decomposition(char).startswith("<") for char in shaped if char != " ")
    assert "\ufdf2" not in shaped  # the Allah ligature: DejaVu Sans has none
    assert fonts.shape("Peña Ñandú") == "Peña Ñandú"


def test_a_latin_statement_embeds_nothing(sessions) -> None:
    reader = PdfReader(io.BytesIO(pdf.render(statement_for(sessions, "PEÑA & HIJOS <SA>"))))
    assert font_names(reader) == {"Helvetica", "Helvetica-Bold"}


def test_the_to_unicode_map_gives_back_what_was_written() -> None:
    cmap = fonts.to_unicode_cmap("F", [ord("A"), 0x1F600, 0xFEFB, 0xFDF2])
    assert "<00> <0041>" in cmap
    assert "<01> <D83DDE00>" in cmap  # UTF-16 surrogates, not <1F600>
    assert "<02> <06440627>" in cmap  # lam-alef: lam, alef
    assert "<03> <0627064406440647>" in cmap


@pytest.fixture
def no_faces(monkeypatch, tmp_path) -> None:
    """A machine without the fonts (scripts/run could not install them)."""
    gone = fonts.Face("Nowhere Sans", tmp_path / "nowhere.ttf", None, "fonts-nowhere")
    monkeypatch.setattr(fonts, "FACES", (gone,))
    caches = (fonts.installed, fonts.registered, fonts._reshaper)
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


def test_an_unreadable_face_is_left_out_with_a_warning(tmp_path, caplog) -> None:
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    assert fonts._register(fonts.Face("Broken Sans", broken, None, "fonts-broken")) is None
    assert "font Broken Sans unreadable" in caplog.text


def test_without_the_fonts_the_statement_is_drawn_in_helvetica_with_a_warning(
    sessions, no_faces, caplog
) -> None:
    reader = PdfReader(io.BytesIO(pdf.render(statement_for(sessions, "中文 Peña"))))
    # xhtml2pdf draws a character no family has as ZapfDingbats' black box, as before #15.
    assert font_names(reader) == {"Helvetica", "Helvetica-Bold", "ZapfDingbats"}
    assert "install Debian's fonts-nowhere" in caplog.text
    assert "Peña" in reader.pages[0].extract_text()


@pytest.mark.parametrize(
    ("reference", "fits"),
    [("A-00001", True), ("中文名字中文名字", True), ("中文名字中文名字中文", False)],
)
def test_a_reference_is_measured_in_the_face_that_draws_it(reference: str, fits: bool) -> None:
    """Ten CJK characters at 8 pt are 80 pt wide, wider than the column (66 pt): that line
    gets a band of its own, where it may wrap. Measured in Helvetica they were not."""
    line = statements.Line(
        doc_no="9000000001",
        doc_type="Factura",
        doc_date=date(2026, 1, 5),
        due_date=date(2026, 2, 4),
        reference=reference,
        days_overdue=0,
        amount=Decimal("1.00"),
        open_amount=Decimal("1.00"),
        currency="MXN",
    )
    (band,) = pdf.bands((line,))
    assert (band.height is not None) == fits
