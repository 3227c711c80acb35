"""Catálogo Envío Masivo › Masiva (manual 2.2): paste from Excel or upload → Procesar → Grabar."""

import hashlib

import pandas as pd
import streamlit as st

from lib import catalog, tables, ui

ui.page_guard()

COLUMNS = ["Sociedad", "No. Cliente", "Correo"]
EMPTY_ROWS = 10
GENERATION = "masiva-generacion"


def start_of_visit() -> int:
    """The widgets' key suffix. Coming from another page starts afresh: new keys empty the grid
    and the uploader, and an earlier visit's preview and result go, so Grabar can never save
    rows the user no longer sees. Grabar and a change of Origen also move it on."""
    visit = ui.visit()
    if st.session_state.setdefault("masiva-visita", visit) != visit:
        st.session_state["masiva-visita"] = visit
        new_grid()
        st.session_state.pop("masiva", None)
        st.session_state.pop("masiva-resultado", None)
    return st.session_state.setdefault(GENERATION, 0)


def new_grid() -> None:
    """New keys: the grid and the uploader are drawn anew, the grid with no cell selected. A
    grid that stays on screen (Origen switched and straight back) keeps its selection, and the
    click on the selected first cell opens its text box: the paste went, raw, into that one
    cell, and only when the user left it, too late for Procesar."""
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1


st.title("Catálogo Envío Masivo › Masiva")
generation = start_of_visit()
source = st.radio(
    "Origen", ["Pegar desde Excel", "Subir archivo"], horizontal=True, on_change=new_grid
)
if source == "Pegar desde Excel":
    st.caption(
        "En Excel copia las columnas Sociedad, No. Cliente y Correo (varios correos separados "
        "por ;), haz clic en la primera celda de la tabla y pega con Ctrl+V."
    )
    edited = st.data_editor(
        pd.DataFrame({c: [""] * EMPTY_ROWS for c in COLUMNS}, dtype="string"),
        num_rows="dynamic",
        column_config={c: st.column_config.TextColumn(c) for c in COLUMNS},
        hide_index=True,
        width="stretch",
        key=f"masiva-editor-{generation}",
    )
    rows = edited.astype("string").fillna("").values.tolist()
    fingerprint = repr(rows)
else:
    upload = st.file_uploader(
        "Archivo .xlsx o .csv con las columnas Sociedad, NoCliente y Correo",
        type=["xlsx", "csv"],
        key=f"masiva-archivo-{generation}",
    )
    fingerprint = hashlib.sha256(upload.getvalue()).hexdigest() if upload else ""

if st.button("Procesar", type="primary"):
    st.session_state.pop("masiva-resultado", None)
    try:
        if source == "Pegar desde Excel":
            batch = catalog.from_pasted(rows)
        elif upload is None:
            raise tables.TableError("Elige un archivo antes de Procesar.")
        else:
            batch = catalog.from_table(tables.read_table(upload.name, upload.getvalue()))
    except tables.TableError as exc:
        st.error(ui.literal(str(exc)))
        st.stop()
    with ui.session() as session:
        verdicts = catalog.review(session, batch)
    st.session_state["masiva"] = {"batch": batch, "verdicts": verdicts, "huella": fingerprint}

preview = st.session_state.get("masiva")
fresh = preview is not None and preview["huella"] == fingerprint
if preview is not None:
    if not fresh:
        st.warning("Los datos cambiaron después de Procesar; vuelve a Procesar antes de Grabar.")
    for notice in preview["batch"].notices:
        st.info(notice)
    if not preview["verdicts"]:
        st.warning("No hay filas para procesar: pega o sube al menos una fila con datos.")
    counts = catalog.totals(preview["verdicts"])
    st.write(" · ".join(f"**{label}**: {n}" for label, n in counts.items()))
    ui.verdict_table(preview["verdicts"], "Verificación")

if st.button("Grabar", disabled=not fresh or not preview["verdicts"]):
    with ui.session() as session, session.begin():
        results = catalog.apply(session, preview["batch"], username=ui.actor())
    st.session_state["masiva-resultado"] = results
    new_grid()
    del st.session_state["masiva"]
    st.rerun()

if results := st.session_state.get("masiva-resultado"):
    st.success(catalog.saved_summary(results))
    ui.verdict_table(results, "Mensaje")
