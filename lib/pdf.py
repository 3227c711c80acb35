"""The statement as PDF: the Jinja2 template in `lib/templates/`, drawn by xhtml2pdf."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from pypdf import PdfReader
from xhtml2pdf import pisa

from lib import statements, templating

TEMPLATE = "estado_cuenta.html"
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg")

_pages_seen: dict[int, int] = {}

# xhtml2pdf reports every CSS property it does not know at WARNING; they are not our errors.
logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)


class PdfError(RuntimeError):
    """xhtml2pdf could not draw the statement (a broken template, typically)."""


def html(statement: statements.Statement, *, logo: Path | None = None, total_pages: int = 1) -> str:
    return templating.render_file(
        TEMPLATE,
        company=statement.company,
        customer=statement.customer,
        cutoff_date=statement.cutoff_date,
        lines=statement.lines,
        totals=statement.totals,
        aging=statement.aging,
        buckets=statements.BUCKETS,
        logo=str(logo) if logo else None,
        total_pages=total_pages,
    )


def render(statement: statements.Statement, *, logo: Path | None = None) -> bytes:
    """Draw the PDF once when the page count ("Página N de M") is guessed right.

    xhtml2pdf's own `<pdf:pagecount>` lays every document out twice. The count is guessed from
    statements of the same length drawn before in this process, and checked: a wrong guess costs
    one more drawing with the real count.
    """
    guess = _pages_seen.get(len(statement.lines), 1)
    for _ in range(3):
        content = _draw(html(statement, logo=logo, total_pages=guess))
        pages = len(PdfReader(io.BytesIO(content)).pages)
        if pages == guess:
            _pages_seen[len(statement.lines)] = pages
            return content
        guess = pages
    raise PdfError("the page count did not settle")


def _draw(source: str) -> bytes:
    output = io.BytesIO()
    status = pisa.CreatePDF(source, dest=output, encoding="utf-8")
    if status.err:
        raise PdfError(f"xhtml2pdf reported {status.err} error(s) drawing the statement")
    return output.getvalue()


def logo_for(data_dir: Path, company_code: str) -> Path | None:
    """`data/logos/<Sociedad>.png` (or .jpg) when someone put one there."""
    for suffix in LOGO_SUFFIXES:
        candidate = data_dir / "logos" / f"{company_code}{suffix}"
        if candidate.is_file():
            return candidate
    return None
