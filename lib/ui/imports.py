"""The Datos page's pieces: an import's errors, the last look before open items are replaced,
and undoing a sociedad's last open-items import.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib import formatting, importers, open_item_imports, tables
from lib.formatting import count, plural
from lib.normalize import InvalidValue
from lib.ui import ask, button_pair, literal, progress, refuse, report, sessions, settings

MAX_ERRORS_SHOWN = 500
UNDO_ASKED = "deshacer-partidas"


def run(
    kind: str,
    name: str,
    content: bytes,
    username: str,
    *,
    dry_run: bool = False,
    table: tables.Table | None = None,
) -> None:
    """Import (or only check) one uploaded file and keep the result for the page to show; a
    dry run keeps the rows read, so that Confirmar does not read a large file twice."""
    verb = "Revisando" if dry_run else "Importando"
    with progress(f"{verb} {name}…") as step:
        result = importers.import_file(
            sessions(),
            kind,
            name,
            content,
            username=username,
            progress=step,
            dry_run=dry_run,
            table=table,
        )
    st.session_state[f"result-{kind}"] = result
    if dry_run and result.ok:
        st.session_state[f"pending-{kind}"] = (name, result.table)


def errors(result: importers.ImportResult) -> None:
    st.error(literal(result.summary()))
    if result.unreadable:
        return
    shown = result.errors[:MAX_ERRORS_SHOWN]
    st.dataframe(
        pd.DataFrame(
            {
                "Fila": [e.row for e in shown],
                "Columna": [e.column for e in shown],
                "Problema": [e.message for e in shown],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    if len(result.errors) > MAX_ERRORS_SHOWN:
        st.caption(f"Se muestran {MAX_ERRORS_SHOWN} de {len(result.errors):,} errores.")


def effects(result: importers.ImportResult, *, applied: bool) -> None:
    """Each sociedad's open items and balance per currency before and after the import: "ahora
    → después" while it waits for Confirmar, "antes → ahora" once applied."""
    before, after = ("antes", "ahora") if applied else ("ahora", "después")
    st.dataframe(
        pd.DataFrame(
            {
                "Sociedad": [f"{e.code} · {e.name}" for e in result.effects],
                f"Partidas {before}": [e.before.items for e in result.effects],
                f"Partidas {after}": [e.after.items for e in result.effects],
                f"Saldo {before}": [e.before.describe() for e in result.effects],
                f"Saldo {after}": [e.after.describe() for e in result.effects],
            }
        ),
        hide_index=True,
        width="stretch",
    )


def confirm(kind: str, username: str) -> None:
    """The last look before a snapshot replaces the open items: Confirmar or Cancelar."""
    name, table = st.session_state[f"pending-{kind}"]
    result: importers.ImportResult = st.session_state[f"result-{kind}"]
    fewer = [
        f"{e.code} pasa de {e.before.items:,} a {count(e.after.items, 'partida')}"
        for e in result.effects
        if e.after.items < e.before.items
    ]
    st.warning(
        literal(
            f"Revisa el efecto de {name} antes de aplicarlo: reemplaza todas las partidas "
            "abiertas de cada sociedad del archivo."
            + (f" Quedan menos que ahora: {'; '.join(fewer)}." if fewer else "")
        ),
        icon=":material/difference:",
    )
    effects(result, applied=False)
    yes, no = button_pair()
    if no.button("Cancelar", key=f"cancel-{kind}"):
        _forget(kind)
        st.rerun()
    if yes.button("Confirmar", type="primary", key=f"confirm-{kind}"):
        _forget(kind)
        run(kind, name, b"", username, table=table)
        st.rerun()


def _forget(kind: str) -> None:
    st.session_state.pop(f"pending-{kind}", None)
    st.session_state.pop(f"result-{kind}", None)


def undo_section(username: str) -> None:
    """**Deshacer última importación**, per sociedad whose last import can still be undone."""
    with sessions()() as session:
        last = open_item_imports.last_imports(session)
    if not last:
        return
    st.subheader("Deshacer última importación")
    zone = settings().timezone
    for kept in last:
        text, button = st.columns([5, 2], vertical_alignment="center")
        text.write(
            f"**{literal(kept.code)}** · "
            + literal(
                f"{kept.name}: {kept.filename}, {formatting.moment(kept.at, zone)} por "
                f"{kept.username}; reemplazó {count(kept.replaced, 'partida')} por "
                f"{kept.imported:,}."
            )
        )
        if button.button("Deshacer última importación", key=f"undo-{kept.code}"):
            st.session_state[UNDO_ASKED] = kept.code
        if st.session_state.get(UNDO_ASKED) == kept.code:
            _ask_undo(kept, username)


def _ask_undo(kept: open_item_imports.LastImport, username: str) -> None:
    question = (
        f"¿Deshacer la importación de {kept.filename} en {kept.code}? "
        f"{plural(kept.imported, 'Se quita', 'Se quitan')} "
        f"{count(kept.imported, 'partida que trajo', 'partidas que trajo')} y "
        f"{plural(kept.replaced, 'vuelve', 'vuelven')} "
        f"{count(kept.replaced, 'partida que reemplazó', 'partidas que reemplazó')}."
    )
    if ask(question, UNDO_ASKED, "Sí, deshacer"):
        try:
            with sessions()() as session, session.begin():
                undone = open_item_imports.undo(session, kept.code, username=username)
        except InvalidValue as exc:
            refuse(exc)
            return
        st.session_state.pop("result-open-items", None)
        report(True, undone.summary())
