"""Fonts of the statement PDF: Helvetica as always, and embedded TrueType faces for the rest.

Helvetica (ReportLab's built-in, not embedded) has Windows-1252 only, and a name in Greek,
Hebrew, Arabic, Chinese or with an emoji came out as black boxes. The template's font-family
lists Helvetica first and then FACES: xhtml2pdf 0.2.28 draws each character in the first family
whose cmap has it, so Latin statements are drawn, measured and sized exactly as before, and a
fallback face is embedded (subset to the glyphs used) only in a PDF that needs it. The faces are
Debian's (scripts/run and scripts/test install them); one that is missing is left out with a
warning, and its characters print as boxes again instead of the statement failing.

Two things xhtml2pdf and ReportLab leave undone are done here: Arabic is joined (`shape`) also
in `white-space: pre` cells, which xhtml2pdf prints letter by letter, and the ToUnicode map of
an embedded font (`to_unicode_cmap`) gives back what was written: the letters of an Arabic
presentation form, and characters beyond U+FFFF (emoji) as UTF-16, where ReportLab wrote a
code no reader accepts.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import arabic_reshaper
from arabic_reshaper.ligatures import LIGATURES
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.pdfmetrics import stringWidth
from xhtml2pdf import default as pisa_default
from xhtml2pdf import util as pisa_util

PRIMARY = "Helvetica"
TRUETYPE = Path("/usr/share/fonts/truetype")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Face:
    """A fallback family: its CSS name, its files (no bold file: bold is drawn regular) and the
    Debian package that installs them, named in the warning when they are missing."""

    family: str
    regular: Path
    bold: Path | None
    package: str

    @property
    def font_name(self) -> str:
        """Its regular face's name in ReportLab (and in the PDF); the bold one adds "-Bold"."""
        return self.family.replace(" ", "")


# In the order they are tried, after Helvetica. Liberation Sans has Helvetica's metrics, so a
# Polish, Greek or Russian letter among Helvetica ones does not stand out; DejaVu Sans has
# Hebrew, Arabic (with the presentation forms `shape` writes) and many symbols; WenQuanYi Micro
# Hei, Chinese, Japanese and Korean in TrueType outlines (ReportLab embeds no CFF); Symbola, the
# emoji and symbols left, in black and white.
FACES = (
    Face(
        "Liberation Sans",
        TRUETYPE / "liberation/LiberationSans-Regular.ttf",
        TRUETYPE / "liberation/LiberationSans-Bold.ttf",
        "fonts-liberation",
    ),
    Face(
        "DejaVu Sans",
        TRUETYPE / "dejavu/DejaVuSans.ttf",
        TRUETYPE / "dejavu/DejaVuSans-Bold.ttf",
        "fonts-dejavu-core",
    ),
    Face("WenQuanYi Micro Hei", TRUETYPE / "wqy/wqy-microhei.ttc", None, "fonts-wqy-microhei"),
    Face("Symbola", TRUETYPE / "ancient-scripts/Symbola_hint.ttf", None, "fonts-symbola"),
)

# Characters arabic_reshaper turns into presentation forms.
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")
# The decompositions of Arabic presentation forms: a letter in one position, or a ligature.
_SHAPED_FORMS = ("<initial>", "<medial>", "<final>", "<isolated>")


@cache
def installed() -> tuple[Face, ...]:
    """The faces whose files are there, looked for once per process. A missing one is left out:
    its characters print as boxes, and every statement is still sent."""
    found = []
    for face in FACES:
        missing = [path for path in (face.regular, face.bold) if path and not path.is_file()]
        if not missing:
            found.append(face)
            continue
        log.warning(
            "font %s not found (%s): its characters print as boxes; install Debian's %s",
            face.family,
            ", ".join(map(str, missing)),
            face.package,
        )
    return tuple(found)


def needs_faces(text: str) -> bool:
    """Whether `text` has a character beyond Windows-1252, Helvetica's encoding in ReportLab."""
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return True
    return False


@cache
def registered() -> tuple[str, ...]:
    """The ReportLab names of Helvetica and of each face installed, registered once per process
    and only when a document needs them: reading the faces takes 0.3 s and about 35 MB. Each
    is made known to every xhtml2pdf document by its family name, so that the template names
    them without an @font-face, which xhtml2pdf would read and hash again for each document."""
    names = [PRIMARY]
    for face in installed():
        name = _register(face)
        if name is not None:
            pisa_default.DEFAULT_FONT[face.family.lower()] = name
            names.append(name)
    return tuple(names)


def _register(face: Face) -> str | None:
    """An unreadable face is left out like a missing one."""
    name = face.font_name
    bold = name if face.bold is None else f"{name}-Bold"
    try:
        pdfmetrics.registerFont(ttfonts.TTFont(name, face.regular))
        if face.bold is not None:
            pdfmetrics.registerFont(ttfonts.TTFont(bold, face.bold))
    except (ttfonts.TTFError, OSError) as error:
        log.warning("font %s unreadable (%s): its characters print as boxes", face.family, error)
        return None
    pdfmetrics.registerFontFamily(name, normal=name, bold=bold, italic=name, boldItalic=bold)
    return name


def css_family() -> str:
    """The template's font-family: Helvetica first, then each face installed, quoted (xhtml2pdf
    reads an unquoted name of several words as something else). A family not registered, in a
    document that needs none, is passed over by xhtml2pdf."""
    return ", ".join([PRIMARY, *(f'"{face.family}"' for face in installed())])


def width(text: str, size: float) -> float:
    """The width (points) of `text` as xhtml2pdf will draw it, each run in its own face."""
    if not needs_faces(text):
        return stringWidth(text, PRIMARY, size)
    return sum(
        stringWidth(run, name, size)
        for run, name in pisa_util.split_by_coverage(text, registered())
    )


def shape(source: str) -> str:
    """`source` with its Arabic letters joined, using the ligatures the faces can draw.

    xhtml2pdf joins them only outside `white-space: pre` (the statement's party and item cells
    are pre), and picks its ligatures by the first family, Helvetica, so عبد الله came out with
    a box for the Allah ligature, which DejaVu Sans lacks. Already joined text is left as it is
    when xhtml2pdf joins it again.
    """
    if not _ARABIC.search(source):
        return source
    return _reshaper().reshape(source)


@cache
def _reshaper() -> arabic_reshaper.ArabicReshaper:
    names = registered()
    return arabic_reshaper.ArabicReshaper(
        configuration={
            ligature: all(_drawable(form, names) for form in forms if form)
            for ligature, (_match, forms) in LIGATURES
        }
    )


def _drawable(text: str, names: Sequence[str]) -> bool:
    return all(any(pisa_util.font_has_glyph(name, char) for name in names) for char in text)


def to_unicode_cmap(fontname: str, subset: Sequence[int]) -> str:
    """ReportLab's ToUnicode CMap of a font subset, with each code's text in UTF-16BE as the PDF
    reference says: ReportLab writes a code point above U+FFFF as five hex digits, which pypdf
    and viewers refuse, so an emoji could not be copied or searched. An Arabic presentation form
    maps to the letters it shows, as they were written before `shape` joined them."""
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo",
        f"<< /Registry ({fontname})",
        f"/Ordering ({fontname})",
        "/Supplement 0",
        ">> def",
        f"/CMapName /{fontname} def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        f"<00> <{len(subset) - 1:02X}>",
        "endcodespacerange",
        f"{len(subset)} beginbfchar",
        *(f"<{code:02X}> <{_utf16(char)}>" for code, char in enumerate(subset)),
        "endbfchar",
        "endcmap",
        "CMapName currentdict /CMap defineresource pop",
        "end",
        "end",
    ]
    return "\n".join(lines)


def _utf16(code_point: int) -> str:
    text = chr(code_point)
    if unicodedata.decomposition(text).startswith(_SHAPED_FORMS):
        text = unicodedata.normalize("NFKC", text)
    return text.encode("utf-16-be").hex().upper()


@cache
def hook_to_unicode() -> None:
    """Install `to_unicode_cmap` in ReportLab, once per process (only on the pinned ReportLab:
    pdf.hooks_fit)."""
    ttfonts.makeToUnicodeCMap = to_unicode_cmap
