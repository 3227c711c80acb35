"""The statement as PDF: the Jinja2 template in `lib/templates/`, drawn by xhtml2pdf.

Speed (docs/PERFORMANCE.md): xhtml2pdf pays for every table cell and every line in a cell, so the
template prints the items in bands of lines (`bands`); the page count is guessed and checked
rather than laid out twice; two small hooks (`_speedups`) spare xhtml2pdf work it repeats for
every document; the cycle collector pauses while a document is drawn; `rl_accel` (a pinned
dependency) gives ReportLab its C text routines. xhtml2pdf draws one document at a time per
process: use processes, not threads, to keep both cores busy.
"""

from __future__ import annotations

import gc
import io
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth
from xhtml2pdf import context as pisa_context
from xhtml2pdf import parser as pisa_parser
from xhtml2pdf import pisa, reportlab_paragraph

from lib import formatting, statements, templating

TEMPLATE = "estado_cuenta.html"
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg")

# The items table prints its lines in bands, one table row each (see the template). A band never
# splits across pages: the first page, whose blocks above the table vary in height, gets bands of
# BAND_SIZE lines up to FIRST_PAGE_LINES, later pages two bands of LATER_BAND_SIZE (fewer cells
# than three of BAND_SIZE, the same lines per page).
# A line with a value wider than its column, in points at the template's font, gets a row of its
# own so that it can wrap without shifting the lines below it. The widths are the template's
# column widths on a letter page, less the cell padding; keep them in step with the template.
BAND_SIZE = 20
FIRST_PAGE_LINES = 40
LATER_BAND_SIZE = 30
BAND_FONT = ("Helvetica", 8)
BAND_COLUMNS: dict[str, tuple[float, Callable[[statements.Line], str]]] = {
    "Documento": (61, lambda line: line.doc_no),
    "Tipo": (66, lambda line: line.doc_type),
    "Referencia": (72, lambda line: line.reference),
    "Importe": (66, lambda line: formatting.money(line.amount)),
    "Saldo": (66, lambda line: formatting.money(line.open_amount)),
    "Moneda": (33, lambda line: line.currency),
}

# Pages of the statements drawn in this process, by (logo or not, number of lines).
_pages_seen: dict[tuple[bool, int], int] = {}
PAGES_SEEN_LIMIT = 10_000

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
        bands=bands(statement.lines),
        totals=statement.totals,
        aging=statement.aging,
        buckets=statements.BUCKETS,
        logo=str(logo) if logo else None,
        total_pages=total_pages,
    )


def bands(lines: tuple[statements.Line, ...]) -> list[tuple[statements.Line, ...]]:
    """The lines in rows of BAND_SIZE, then LATER_BAND_SIZE; a line too wide for a column in a
    row alone."""
    result: list[tuple[statements.Line, ...]] = []
    band: list[statements.Line] = []
    for number, line in enumerate(lines):
        if not _fits(line):
            if band:
                result.append(tuple(band))
            result.append((line,))
            band = []
            continue
        band.append(line)
        started = number + 1 - len(band)
        if len(band) == (BAND_SIZE if started < FIRST_PAGE_LINES else LATER_BAND_SIZE):
            result.append(tuple(band))
            band = []
    if band:
        result.append(tuple(band))
    return result


def _fits(line: statements.Line) -> bool:
    return all(
        stringWidth(text(line), *BAND_FONT) <= width for width, text in BAND_COLUMNS.values()
    )


def render(statement: statements.Statement, *, logo: Path | None = None) -> bytes:
    """Draw the PDF once when the page count ("Página N de M") is guessed right.

    xhtml2pdf's own `<pdf:pagecount>` lays every document out twice. The count is guessed from
    the statements drawn before in this process (`_guess_pages`) and checked: a wrong guess costs
    one more drawing with the real count.
    """
    key = (logo is not None, len(statement.lines))
    guess = _guess_pages(*key)
    for _ in range(3):
        content = _draw(html(statement, logo=logo, total_pages=guess))
        pages = len(PdfReader(io.BytesIO(content)).pages)
        if pages == guess:
            if len(_pages_seen) >= PAGES_SEEN_LIMIT:
                _pages_seen.clear()
            _pages_seen[key] = pages
            return content
        guess = pages
    raise PdfError("the page count did not settle")


def _guess_pages(logo: bool, lines: int) -> int:
    """More lines never take fewer pages: bounded by the statements seen with fewer and more
    lines, and beyond the longest seen, extrapolated from its lines per page."""
    seen = [(count, pages) for (has_logo, count), pages in _pages_seen.items() if has_logo == logo]
    fewer = [(count, pages) for count, pages in seen if count <= lines]
    more = [pages for count, pages in seen if count >= lines]
    if not fewer:
        return min(more, default=1)
    count, pages = max(fewer)
    if more or count == 0:
        return pages
    return max(pages, math.ceil(lines * pages / count))


def _draw(source: str) -> bytes:
    _speedups()
    output = io.BytesIO()
    with _cycle_collector_paused():
        status = pisa.CreatePDF(source, dest=output, encoding="utf-8")
    if status.err:
        raise PdfError(f"xhtml2pdf reported {status.err} error(s) drawing the statement")
    return output.getvalue()


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """A document makes xhtml2pdf allocate hundreds of thousands of short-lived objects, which
    set off dozens of cycle collections that find almost nothing (about 5 % of a 300-line
    statement). The document's own cycles are collected after it, once the collector is back.
    Another thread drawing at the same time may re-enable it early; that only costs speed.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@cache
def _speedups() -> None:
    """Two hooks into xhtml2pdf 0.2.28 internals, installed once per process; each one steps
    aside (the document is drawn as before) when the internals it wraps are not there.

    1. The default stylesheet is parsed once, not once per document. xhtml2pdf parses its
       DEFAULT_CSS again for every document (about 2.5 ms, 5 % of a short statement). It holds
       plain rules only (no @page or @font-face, which act on the document being built) and
       nothing writes to the parsed rules afterwards, so one parse serves every document. Our own
       <style> is still parsed per document: its @page rule sets up that document's pages.
    2. A table cell's lines are broken once, not twice. xhtml2pdf keeps a paragraph's broken
       lines for the width it was broken at, but ReportLab measures a cell at its width and then
       draws it at that width less 1e-6 pt, so the kept answer was never used. Widths are rounded
       to 1/1000 pt before the lookup; 10 % of a 300-line statement.
    """
    parse = getattr(pisa_context.pisaContext, "_parseCSSSource", None)
    default_source = getattr(pisa_parser, "DEFAULT_CSS_SOURCE", None)
    if parse is not None and default_source is not None:
        parsed: dict[str, Any] = {}

        def parse_default_once(self: Any, text: str, source_name: str) -> Any:
            if source_name != default_source:
                return parse(self, text, source_name)
            if text not in parsed:
                parsed.clear()
                parsed[text] = parse(self, text, source_name)
            return parsed[text]

        pisa_context.pisaContext._parseCSSSource = parse_default_once

    broken_lines = getattr(reportlab_paragraph.Paragraph, "_brokenLines", None)
    if broken_lines is not None:

        def broken_lines_rounded(self: Any, first_line_width: float, later_widths: float) -> Any:
            return broken_lines(self, round(first_line_width, 3), round(later_widths, 3))

        reportlab_paragraph.Paragraph._brokenLines = broken_lines_rounded


def logo_for(data_dir: Path, company_code: str) -> Path | None:
    """`data/logos/<Sociedad>.png` (or .jpg) when someone put one there."""
    for suffix in LOGO_SUFFIXES:
        candidate = data_dir / "logos" / f"{company_code}{suffix}"
        if candidate.is_file():
            return candidate
    return None
