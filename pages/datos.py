"""Datos: import sociedades, customers and open items from Excel or CSV."""

import streamlit as st

from lib import importers, ui
from lib.ui import imports

ui.page_guard()

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
            + f". {ui.literal(spec.rule)}"
        )
        st.download_button(
            "Descargar plantilla",
            spec.template(),
            file_name=spec.template_name,
            key=f"template-{kind}",
        )
        with st.form(f"import-{kind}", clear_on_submit=True):
            upload = st.file_uploader("Archivo", type=["xlsx", "csv"], key=f"file-{kind}")
            submitted = st.form_submit_button("Importar", type="primary")
        if submitted and upload is None:
            st.warning("Elige un archivo antes de importar.")
        elif submitted:
            st.session_state.pop(f"pending-{kind}", None)
            imports.run(kind, upload.name, upload.getvalue(), ui.actor(), dry_run=spec.replaces)
        result = st.session_state.get(f"result-{kind}")
        if result is not None and not result.ok:
            imports.errors(result)
        elif f"pending-{kind}" in st.session_state:
            imports.confirm(kind, ui.actor())
        elif result is not None:
            st.success(result.summary())
            if result.effects:
                imports.effects(result, applied=True)
        if spec.replaces:
            imports.undo_section(ui.actor())
