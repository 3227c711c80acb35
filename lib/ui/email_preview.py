"""One customer's email as Vista previa and Administración › Sociedades show it: its headers,
the email as the customer's mail program draws it, and the statement's pages as images."""

from __future__ import annotations

import base64

import streamlit as st

from lib.statements import message, thumbnails
from lib.ui import literal

PDF_SCALE = 1.5  # pixels per PDF point: a letter page 918 px wide, sharp in half the screen
EMAIL_HEIGHT = 640


def show(shown: message.Ready, pages: list[bytes], *, key: str) -> None:
    """`key` names the page picker, one per page that shows an email."""
    mail = shown.message
    rows = [
        ("De", mail["From"]),
        ("Responder a", mail["Reply-To"]),
        ("CC", mail["Cc"]),
        ("CCO", mail["Bcc"]),
        ("Para", "; ".join(shown.recipients) or "(el cliente no está en el catálogo de envío)"),
        ("Asunto", shown.subject),
        ("Adjuntos", ", ".join(shown.attachments)),
    ]
    st.markdown(
        "  \n".join(f"**{label}:** {literal(str(value))}" for label, value in rows if value)
    )
    if shown.note:
        st.warning(literal(shown.note))
    email, document = st.columns(2)
    with email:
        # As a data: URL the email gets an origin of its own: a sociedad's HTML body, typed by
        # an admin, cannot reach the app the way an HTML string in st.iframe could.
        encoded = base64.b64encode(shown.html_preview.encode("utf-8")).decode("ascii")
        st.iframe(f"data:text/html;charset=utf-8;base64,{encoded}", height=EMAIL_HEIGHT)
    with document:
        number = 1
        if len(pages) > 1:
            number = st.selectbox("Página", range(1, len(pages) + 1), key=key)
        st.image(pages[number - 1], width="stretch", caption=f"Página {number} de {len(pages)}")
        st.download_button(
            f"Descargar {shown.attachment_name}",
            shown.pdf,
            file_name=shown.attachment_name,
            mime="application/pdf",
            icon=":material/picture_as_pdf:",
        )


def drawn_pages(shown: message.Ready) -> list[bytes]:
    return thumbnails.pages(shown.pdf, PDF_SCALE)
