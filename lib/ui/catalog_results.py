"""Búsqueda's result table (manual 2.1.1–2.1.2): each row's Correos edited in the table, and a
Borrar box on each row that asks before it deletes, as the old portal's delete icon did.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib import catalog, formatting
from lib.ui import actor, button_pair, flagged, literal, report, session, settings

GENERATION = "resultados-generacion"
DELETE = "Borrar"


def editor_key(page: int) -> str:
    """The table's widget key: a new one (an untouched table) for each page and after each
    save, cancel or Buscar, so no tick or edit outlives the listing it was made in."""
    return f"resultados-{st.session_state.get(GENERATION, 0)}-{page}"


def reset() -> None:
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1


def show(rows: list[catalog.Listed], page: int) -> None:
    zone = settings().timezone
    table = pd.DataFrame(
        {
            DELETE: [False] * len(rows),
            "Sociedad": [r.company_code for r in rows],
            "No. Cliente": [r.customer_no for r in rows],
            "Nombre": [r.name for r in rows],
            "Correos": [r.emails for r in rows],
            "Rebotes": [flagged(r.bounce_text) for r in rows],
            "Último cambio": [
                f"{r.updated_by}, {formatting.moment(r.updated_at, zone)}" for r in rows
            ],
        }
    )
    edited = st.data_editor(
        table,
        hide_index=True,
        width="stretch",
        key=editor_key(page),
        disabled=[c for c in table.columns if c not in (DELETE, "Correos")],
        column_config={
            DELETE: st.column_config.CheckboxColumn(
                DELETE, help="Borrar del catálogo (pide confirmación)", width="small"
            ),
            "Correos": st.column_config.TextColumn(
                "Correos", help="Edita la celda y da clic en Grabar correos; varios con ;"
            ),
        },
    )
    changed = [
        (row, new) for row, new in zip(rows, edited["Correos"], strict=True) if new != row.emails
    ]
    if st.button("Grabar correos", disabled=not changed, help="Guarda los correos editados"):
        _save(changed)
    ticked = [row for row, tick in zip(rows, edited[DELETE], strict=True) if tick]
    if ticked:
        _ask_delete(ticked)


def _save(changed: list[tuple[catalog.Listed, str]]) -> None:
    with session() as current, current.begin():
        verdicts = [
            catalog.add_one(current, r.company_code, r.customer_no, new, username=actor())
            for r, new in changed
        ]
    refused = [v for v in verdicts if v.status == catalog.ERROR]
    if refused:
        st.error(literal(" ".join(catalog.individual_message(v) for v in refused)))
        return
    reset()
    report(True, " ".join(catalog.individual_message(v) for v in verdicts))


def _ask_delete(ticked: list[catalog.Listed]) -> None:
    if len(ticked) == 1:
        [row] = ticked
        question = (
            f"¿Borrar del catálogo al cliente {row.customer_no} ({row.name}) "
            f"de la sociedad {row.company_code}?"
        )
    else:
        who = ", ".join(f"{r.company_code}/{r.customer_no}" for r in ticked)
        question = f"¿Borrar del catálogo a estos {len(ticked)} clientes: {who}?"
    st.warning(literal(question))
    yes, no = button_pair()
    if no.button("Cancelar"):
        reset()
        st.rerun()
    if yes.button("Sí, borrar", type="primary"):
        with session() as current, current.begin():
            for row in ticked:
                catalog.delete(current, row.company_code, row.customer_no, username=actor())
        reset()
        report(True, _deleted(ticked))


def _deleted(ticked: list[catalog.Listed]) -> str:
    if len(ticked) == 1:
        [row] = ticked
        return f"El cliente {row.customer_no} se borró del catálogo de {row.company_code}."
    return f"Se borraron {len(ticked)} clientes del catálogo."
