"""The statement as PDF: the Jinja2 template in `lib/templates/`, drawn by xhtml2pdf.

Speed (docs/PERFORMANCE.md): xhtml2pdf pays for every table cell and every line in a cell, so the
template prints the items in bands of lines (`bands`), each with its height so that xhtml2pdf
need not measure them; the page count is guessed and checked rather than laid out twice; two
small hooks (`_speedups`) spare xhtml2pdf work it repeats for every document; the cycle
collector pauses while a document is drawn; `rl_accel` (a pinned dependency) gives ReportLab its
C text routines. xhtml2pdf draws one document at a time per process: use processes, not
threads, to keep both cores busy.

Fonts (`fonts`): Helvetica, and embedded TrueType faces for the characters it lacks.
"""

from __future__ import annotations

import gc
import io
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from xhtml2pdf import context as pisa_context
from xhtml2pdf import parser as pisa_parser
from xhtml2pdf import pisa, reportlab_paragraph
from xhtml2pdf.config.resources import ResourceAccessPolicy

from lib import formatting, pins, statements, templating
from lib.statements import fonts, labels

TEMPLATE = "estado_cuenta.html"
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg")

# The items table prints its lines in bands, one table row each (see the template). A band never
# splits across pages, and every cell costs (about 0.6 ms), so bands fill pages: the first page,
# whose blocks above the table vary in height, gets bands of BAND_SIZE lines up to
# FIRST_PAGE_LINES, and each later page one band of LATER_PAGE_LINES (a page has room for 62-64).
# A line with a value wider than its column, in points at the template's fonts, gets a row of its
# own so that it can wrap without shifting the lines below it. It takes an unknown number of
# lines, so pages no longer line up with bands after it: the bands go back to BAND_SIZE, and one
# that does not fit what is left of a page leaves fewer lines empty there. The widths are the
# template's column widths on a letter page, less the cell padding; keep them in step with it.
# The band's font size, line spacing and vertical padding are given to the template's CSS from
# here, since a band's height follows from them.
BAND_SIZE = 20
FIRST_PAGE_LINES = 40
LATER_PAGE_LINES = 60
BAND_FONT_SIZE = 8
BAND_LEADING = 10.4
BAND_PADDING = (2, 1)
# What each line prints in each column (given the line and the customer's date format), and the
# room (points) in the columns whose values vary in width; dates and days always fit.
DayFormat = Callable[[date], str]
BAND_COLUMNS: dict[str, tuple[Callable[[statements.Line, DayFormat], str], float | None]] = {
    "doc_no": (lambda line, _day: line.doc_no, 55),
    "doc_type": (lambda line, _day: line.doc_type, 61),
    "doc_date": (lambda line, day: day(line.doc_date), None),
    "due_date": (lambda line, day: day(line.due_date), None),
    "reference": (lambda line, _day: line.reference, 66),
    "days_overdue": (lambda line, _day: str(line.days_overdue) if _overdue(line) else "", None),
    "amount": (lambda line, _day: formatting.money(line.amount), 66),
    "open_amount": (lambda line, _day: formatting.money(line.open_amount), 66),
    "currency": (lambda line, _day: line.currency, 33),
}

# Pages of the statements drawn in this process, by (logo or not, number of lines).
_pages_seen: dict[tuple[bool, int], int] = {}
PAGES_SEEN_LIMIT = 10_000

log = logging.getLogger(__name__)

# xhtml2pdf reports every CSS property it does not know at WARNING; they are not our errors.
logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)


class PdfError(RuntimeError):
    """xhtml2pdf could not draw the statement (a broken template, typically)."""


@dataclass(frozen=True)
class Band:
    """Lines printed as one row of the items table: `text` has each column's values, one per
    line, formatted here rather than in the template because there are thousands of them.

    `height` (points) is given to xhtml2pdf when every line fits its columns, one line each:
    a row without it is measured cell by cell, and measured again each time the table breaks
    across a page, about 7 % of a 300-line statement. A line that may wrap has none.
    """

    lines: tuple[statements.Line, ...]
    text: dict[str, str]
    height: float | None


def html(
    statement: statements.Statement,
    *,
    logo: Path | None = None,
    total_pages: int = 1,
    issued: date | None = None,
) -> str:
    """The source given to xhtml2pdf, Arabic already joined (`fonts.shape`), in the customer's
    language (`labels`); `issued` is the day it is sent, printed beside the fecha de corte."""
    words = labels.of(statement.language)

    def day(value: date) -> str:
        return labels.day(value, statement.language)

    source = templating.render_file(
        TEMPLATE,
        labels=words,
        day=day,
        company=statement.company,
        customer=statement.customer,
        cutoff_date=statement.cutoff_date,
        issued=issued,
        lines=statement.lines,
        bands=bands(statement.lines, day=day),
        font_family=fonts.css_family(),
        band_font_size=BAND_FONT_SIZE,
        band_leading=BAND_LEADING,
        band_padding=BAND_PADDING,
        totals=statement.totals,
        aging=statement.aging,
        buckets=statement.aging_rows,
        bucket_labels=[words[name] for name in statement.aging_rows],
        logo=str(logo) if logo else None,
        total_pages=total_pages,
        payment=labels.payment_rows(statement.payment, statement.language)
        if statement.payment
        else (),
        reply_to=statement.reply_to,
    )
    return fonts.shape(source)


def bands(lines: tuple[statements.Line, ...], *, day: DayFormat = formatting.day) -> list[Band]:
    """The lines in rows that fill pages (BAND_SIZE up to FIRST_PAGE_LINES, then
    LATER_PAGE_LINES); a line too wide for a column in a row alone, and BAND_SIZE after it.
    Dates as `day` prints them."""
    result: list[Band] = []
    band: list[tuple[statements.Line, dict[str, str]]] = []
    aligned = True  # pages and bands line up: no line has wrapped yet
    for number, line in enumerate(lines):
        text = {name: value(line, day) for name, (value, _width) in BAND_COLUMNS.items()}
        if not _fits(text):
            if band:
                result.append(_band(band, fits=True))
            result.append(_band([(line, text)], fits=False))
            band, aligned = [], False
            continue
        band.append((line, text))
        started = number + 1 - len(band)
        later_page = aligned and started >= FIRST_PAGE_LINES
        if len(band) == (LATER_PAGE_LINES if later_page else BAND_SIZE):
            result.append(_band(band, fits=True))
            band = []
    if band:
        result.append(_band(band, fits=True))
    return result


def _band(lines: list[tuple[statements.Line, dict[str, str]]], *, fits: bool) -> Band:
    return Band(
        tuple(line for line, _text in lines),
        {name: "\n".join(text[name] for _line, text in lines) for name in BAND_COLUMNS},
        round(len(lines) * BAND_LEADING + sum(BAND_PADDING), 2) if fits else None,
    )


def _fits(text: dict[str, str]) -> bool:
    return all(
        fonts.width(text[name], BAND_FONT_SIZE) <= width
        for name, (_value, width) in BAND_COLUMNS.items()
        if width is not None
    )


def _overdue(line: statements.Line) -> bool:
    """Days overdue are printed only for what is still owed and past due."""
    return line.days_overdue > 0 and line.open_amount > 0


def render(
    statement: statements.Statement, *, logo: Path | None = None, issued: date | None = None
) -> bytes:
    """Draw the PDF once when the page count ("Página N de M") is guessed right.

    xhtml2pdf's own `<pdf:pagecount>` lays every document out twice. The count is guessed from
    the statements drawn before in this process (`_guess_pages`) and checked: a wrong guess costs
    one more drawing with the real count.
    """
    key = (logo is not None, len(statement.lines))
    guess = _guess_pages(*key)
    for _ in range(3):
        source = html(statement, logo=logo, total_pages=guess, issued=issued)
        content = _draw(source, logo=logo)
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


def _draw(source: str, *, logo: Path | None = None) -> bytes:
    """The statement reads no file but its logo and nothing from the network. xhtml2pdf's own
    default allows the working directory only, which silently dropped the logo of a `DATA_DIR`
    outside it."""
    _speedups()
    _font_fixes()
    if fonts.needs_faces(source):
        fonts.registered()
    output = io.BytesIO()
    policy = ResourceAccessPolicy(allow_remote=False, base_dir=logo.parent if logo else None)
    with _cycle_collector_paused():
        status = pisa.CreatePDF(source, dest=output, encoding="utf-8", resource_policy=policy)
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


# The versions the hooks below were written and measured against (pinned in requirements.txt).
HOOKED_VERSIONS = {"xhtml2pdf": "0.2.28", "reportlab": "5.1.0"}


def hooks_fit() -> bool:
    """Whether the installed xhtml2pdf and ReportLab are the ones `_speedups` knows."""
    return not pins.differing(HOOKED_VERSIONS)


@cache
def _speedups() -> None:
    """Two hooks into xhtml2pdf 0.2.28 internals, installed once per process, and only on the
    versions in HOOKED_VERSIONS; on any other the documents are drawn as xhtml2pdf draws them.

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
    if not hooks_fit():
        log.warning("xhtml2pdf or ReportLab is not the pinned version; drawing without hooks")
        return
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


@cache
def _font_fixes() -> None:
    """The ToUnicode map that gives back emoji and Arabic as written (`fonts.to_unicode_cmap`),
    on the ReportLab it was written for only; on another, they are not extractable."""
    if hooks_fit():
        fonts.hook_to_unicode()


def logo_for(data_dir: Path, company_code: str) -> Path | None:
    """`data/logos/<Sociedad>.png` (or .jpg) when someone put one there."""
    for suffix in LOGO_SUFFIXES:
        candidate = data_dir / "logos" / f"{company_code}{suffix}"
        if candidate.is_file():
            return candidate
    return None
