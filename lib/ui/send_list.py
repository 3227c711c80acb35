"""Envío masivo's list of customers (manual 3.2): who is ticked to receive the statement.

The selection is a `{customer: bool}` dict in session state, never the editor's own output:
it survives filtering and coming back to the page, and a new Buscar starts it again.
"""

from __future__ import annotations

import zlib

import pandas as pd
import streamlit as st

from lib import formatting
from lib.sending import runs
from lib.ui import flagged, run_number

SELECTION, EDITOR_VERSION, EDITOR_INPUTS, EDITOR_SHOWN, SEND_ASKED = (
    "envio-seleccion",
    "envio-version-editor",
    "envio-entradas-editor",
    "envio-editor-mostrado",
    "envio-confirmar",
)
# Widths that keep every column on screen at 1366 px with the sidebar open (about 900 px for
# the table); Saldo gets room for two currencies, long names and addresses are cut (hover).
COLUMNS = {
    "Enviar": st.column_config.CheckboxColumn("Enviar", width=70),
    "Sociedad": st.column_config.TextColumn("Sociedad", width=75),
    "No. Cliente": st.column_config.TextColumn("No. Cliente", width=90),
    "Nombre": st.column_config.TextColumn("Nombre", width=230),
    "Saldo": st.column_config.TextColumn("Saldo", width=190),
    "Correos": st.column_config.TextColumn("Correos", width=170),
    "Rebotes": st.column_config.TextColumn("Rebotes", width=70),
}


def start(found: list[runs.Candidate]) -> None:
    """A new listing (Buscar) starts with everyone selected; unticks made in an earlier
    listing do not carry over."""
    st.session_state[SELECTION] = {c.key_text: True for c in found}
    st.session_state[EDITOR_VERSION] = st.session_state.get(EDITOR_VERSION, 0) + 1
    st.session_state.pop(EDITOR_INPUTS, None)
    st.session_state.pop(SEND_ASKED, None)


def select(keys: list[str], value: bool) -> None:
    st.session_state[SELECTION].update(dict.fromkeys(keys, value))
    st.session_state[EDITOR_VERSION] = st.session_state.get(EDITOR_VERSION, 0) + 1


def _editor_input(keys: list[str]) -> tuple[str, list[bool]]:
    """The editor's key and the ticks it starts from.

    The same rows keep the same editor, fed the same input on every rerun, so its own edits
    accumulate (ticking a row twice works). The input is taken from the selection only when
    that editor starts: new rows shown (filter, search), a button changed the selection, or
    the editor was not on the page in the previous run (Streamlit then dropped its edits).
    """
    rows = zlib.crc32("|".join(keys).encode())
    name = f"envio-editor-{st.session_state.get(EDITOR_VERSION, 0)}-{rows}"
    inputs = st.session_state.setdefault(EDITOR_INPUTS, {})
    if name not in inputs or st.session_state.get(EDITOR_SHOWN) != (name, run_number() - 1):
        inputs[name] = [st.session_state[SELECTION].get(k, True) for k in keys]
    st.session_state[EDITOR_SHOWN] = (name, run_number())
    return name, inputs[name]


def editor(visible: list[runs.Candidate]) -> None:
    """The visible customers with their Enviar box; the ticks go into the selection."""
    keys = [c.key_text for c in visible]
    name, ticks = _editor_input(keys)
    shown = st.data_editor(
        pd.DataFrame(
            {
                "Enviar": ticks,
                "Sociedad": [c.company_code for c in visible],
                "No. Cliente": [c.customer_no for c in visible],
                "Nombre": [c.name for c in visible],
                "Saldo": [formatting.balances(c.balance) or "sin saldo" for c in visible],
                "Correos": [c.emails for c in visible],
                "Rebotes": [flagged(c.bounce_text) for c in visible],
            }
        ),
        key=name,
        disabled=[c for c in COLUMNS if c != "Enviar"],
        column_config=COLUMNS,
        hide_index=True,
        width="stretch",
    )
    st.session_state[SELECTION].update(zip(keys, (bool(v) for v in shown["Enviar"]), strict=True))
