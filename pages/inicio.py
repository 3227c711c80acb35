"""Inicio: what is loaded, per sociedad."""

import pandas as pd
import streamlit as st

from lib import dashboard, formatting, ui

ui.page_guard()

st.title("Envío masivo de estados de cuenta")

with ui.session() as session:
    summaries = dashboard.company_summaries(session)

if not summaries:
    st.info(
        "Aún no hay sociedades cargadas. Un administrador puede importarlas en **Datos**, "
        "junto con los clientes y sus partidas abiertas."
    )
    st.stop()

totals = st.columns(3)
totals[0].metric("Sociedades", len(summaries))
totals[1].metric("Clientes", f"{sum(s.customers for s in summaries):,}")
totals[2].metric("En catálogo de envío", f"{sum(s.catalog_entries for s in summaries):,}")

st.subheader("Por sociedad")
st.dataframe(
    pd.DataFrame(
        {
            "Sociedad": [s.code for s in summaries],
            "Nombre": [s.name for s in summaries],
            "Clientes": [s.customers for s in summaries],
            "En catálogo": [s.catalog_entries for s in summaries],
            "Partidas abiertas": [s.open_items for s in summaries],
            "Saldo abierto": [formatting.balances(s.balance) or "—" for s in summaries],
        }
    ),
    hide_index=True,
    width="stretch",
)
st.caption("Los saldos se muestran por moneda; nunca se suman MXN con USD.")
