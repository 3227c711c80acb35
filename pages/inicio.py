"""Inicio: what is loaded, per sociedad."""

from datetime import timedelta

import altair as alt
import pandas as pd
import streamlit as st

from lib import dashboard, formatting, ui
from lib.sending import runs
from lib.sending.status import ItemStatus

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
currencies = sorted({currency for s in summaries for currency in s.balance})
st.dataframe(
    pd.DataFrame(
        {
            "Sociedad": [s.code for s in summaries],
            "Nombre": [s.name for s in summaries],
            "Clientes": [s.customers for s in summaries],
            "En catálogo": [s.catalog_entries for s in summaries],
            "Partidas abiertas": [s.open_items for s in summaries],
            **{
                f"Saldo {currency}": [
                    formatting.money(s.balance[currency]) if currency in s.balance else "—"
                    for s in summaries
                ]
                for currency in currencies
            },
        }
    ),
    hide_index=True,
    width="stretch",
    column_config=ui.summary_columns(currencies),
)
st.caption("Los saldos se muestran por moneda; nunca se suman MXN con USD.")

st.subheader("Envíos de los últimos 30 días")
with ui.session() as session:
    recent = runs.daily_outcomes(session, ui.settings().today() - timedelta(days=29))
if not recent:
    st.caption("Aún no hay envíos en los últimos 30 días.")
    st.stop()
sent = pd.DataFrame(
    {
        "Día": [r.day.isoformat() for r in recent],
        "Sociedad": [r.company_code for r in recent],
        "Resultado": [ItemStatus(r.status).outcome for r in recent],
        "Correos": [r.count for r in recent],
    }
)
colors = dashboard.outcome_colors(sent["Resultado"])
scale = alt.Scale(domain=list(colors), range=list(colors.values()))
st.altair_chart(
    alt.Chart(sent)
    .mark_bar()
    .encode(
        x=alt.X("Día:N", title="Día"),
        y=alt.Y("sum(Correos):Q", title="Correos"),
        color=alt.Color("Resultado:N", scale=scale, sort=list(colors)),
        tooltip=["Día", "Sociedad", "Resultado", "Correos"],
    ),
    width="stretch",
)
st.dataframe(
    sent.pivot_table(
        index="Sociedad", columns="Resultado", values="Correos", aggfunc="sum", fill_value=0
    ),
    width="stretch",
)
