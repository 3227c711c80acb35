"""Datos: import sociedades, customers and open items from Excel or CSV."""

import pandas as pd
import streamlit as st

from lib import importers, ui

ui.page_guard()

MAX_ERRORS_SHOWN = 500

st.title("Datos")
st.write(
    "Carga sociedades, clientes y partidas abiertas desde Excel (**.xlsx**) o **.csv**. "
    "Cada archivo se revisa completo antes de guardar: si alguna fila tiene un error, "
    "no se guarda nada y se indica la fila y el motivo."
)

for tab, (kind, spec) in zip(
    st.tabs([k.label for k in importers.KINDS.values()]), importers.KINDS.items(), strict=True
):
    with tab:
        required = [c.title for c in spec.columns if c.required]
        optional = [c.title for c in spec.columns if not c.required]
        st.markdown(
            f"Columnas: **{', '.join(required)}**"
            + (f" (opcionales: {', '.join(optional)})" if optional else "")
            + f". {spec.rule}"
        )
        st.download_button(
            "Descargar plantilla",
            spec.template(),
            file_name=f"plantilla_{kind}.xlsx",
            key=f"template-{kind}",
        )
        with st.form(f"import-{kind}", clear_on_submit=True):
            upload = st.file_uploader("Archivo", type=["xlsx", "csv"], key=f"file-{kind}")
            submitted = st.form_submit_button("Importar", type="primary")
        if submitted and upload is None:
            st.warning("Elige un archivo antes de importar.")
        elif submitted:
            with ui.progress(f"Importando {upload.name}…") as report:
                st.session_state[f"result-{kind}"] = importers.import_file(
                    ui.sessions(),
                    kind,
                    upload.name,
                    upload.getvalue(),
                    username=ui.actor(),
                    progress=report,
                )
        result = st.session_state.get(f"result-{kind}")
        if result is None:
            continue
        if result.ok:
            st.success(result.summary())
            continue
        st.error(result.summary())
        st.dataframe(
            pd.DataFrame(
                {
                    "Fila": [e.row for e in result.errors[:MAX_ERRORS_SHOWN]],
                    "Columna": [e.column for e in result.errors[:MAX_ERRORS_SHOWN]],
                    "Problema": [e.message for e in result.errors[:MAX_ERRORS_SHOWN]],
                }
            ),
            hide_index=True,
            width="stretch",
        )
        if len(result.errors) > MAX_ERRORS_SHOWN:
            st.caption(f"Se muestran {MAX_ERRORS_SHOWN} de {len(result.errors):,} errores.")
