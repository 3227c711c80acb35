"""A statement's pages as PNG images, so Administración › Sociedades can show the PDF inside the
page: browsers do not all draw a PDF in an iframe, and Streamlit serves none.
"""

from __future__ import annotations

import io
import threading

import pypdfium2

# PDFium keeps global state and is not safe to call from two threads at once; Streamlit runs
# every browser session's script in its own thread.
_PDFIUM = threading.Lock()


def pages(pdf: bytes, scale: float) -> list[bytes]:
    """Every page of `pdf` drawn as a PNG, `scale` pixels per PDF point (1.0 = 72 dpi)."""
    drawn = []
    with _PDFIUM:
        document = pypdfium2.PdfDocument(pdf)
        try:
            for page in document:
                image = page.render(scale=scale).to_pil()
                page.close()
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                drawn.append(buffer.getvalue())
        finally:
            document.close()
    return drawn
