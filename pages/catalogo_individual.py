"""Catálogo Envío Masivo › Individual (manual 2.1): alta, Búsqueda (2.1.1) and Borrado (2.1.2)."""

from functools import partial

import streamlit as st

from lib import catalog, languages, ui
from lib.normalize import InvalidValue
from lib.ui import catalog_results

ui.page_guard()


ALTA_GENERATION = "alta-generacion"
# The statement language: "" (the default) leaves the customer's as it is.
LANGUAGE_CHOICES = {"": "Sin cambiar", **languages.NAMES}


def grabar(company: str, customer: str, addresses: str, language: str) -> None:
    """Saved: the next alta starts with empty No. Cliente, Correo(s) and Idioma, same Sociedad;
    refused: the typed values stay to be corrected.
    """
    with ui.session() as session, session.begin():
        verdict = catalog.add_one(
            session, company, customer, addresses, username=ui.actor(), language=language or None
        )
    saved = verdict.status != catalog.ERROR
    if saved:
        st.session_state[ALTA_GENERATION] = st.session_state.get(ALTA_GENERATION, 0) + 1
    ui.report(saved, catalog.individual_message(verdict))


st.title("Catálogo Envío Masivo › Individual")
with ui.session() as session:
    companies = catalog.company_choices(session)

generation = st.session_state.get(ALTA_GENERATION, 0)
with st.form("alta-individual"):
    left, middle, right = st.columns([2, 1, 3])
    company = left.selectbox(
        "Sociedad", list(companies), format_func=companies.get, key="alta-sociedad"
    )
    customer = middle.text_input("No. Cliente", key=f"alta-cliente-{generation}")
    addresses = right.text_input(
        "Correo(s)", help="Varios correos separados por ;", key=f"alta-correos-{generation}"
    )
    language = st.columns([2, 4])[0].selectbox(
        "Idioma del estado de cuenta",
        list(LANGUAGE_CHOICES),
        format_func=LANGUAGE_CHOICES.get,
        key=f"alta-idioma-{generation}",
        help="El idioma del PDF y del correo de este cliente. Sin cambiar deja el que ya tiene "
        "(el de la importación de clientes; español si no dice otro).",
    )
    if st.form_submit_button("Grabar", type="primary"):
        grabar(company or "", customer, addresses, language or "")

st.subheader("Búsqueda")
with st.form("busqueda"):
    left, middle, right = st.columns([2, 1, 3])
    criteria = {
        "company": left.selectbox(
            "Sociedad",
            ["", *companies],
            format_func=lambda c: companies.get(c, "Todas"),
            key="buscar-sociedad",
        ),
        "customer": middle.text_input("No. Cliente", key="buscar-cliente"),
        "name": right.text_input("Nombre o correo contiene"),
        "bounced": st.checkbox("Solo con rebotes", key="buscar-rebotes"),
    }
    if st.form_submit_button("Buscar"):
        st.session_state["criterios-busqueda"] = criteria
        st.session_state["busqueda-pagina"] = 1
        catalog_results.reset()

if (criteria := st.session_state.get("criterios-busqueda")) is None:
    st.stop()
page = st.session_state.get("busqueda-pagina", 1)
try:
    with ui.session() as session:
        found = catalog.search(session, **criteria, offset=(page - 1) * catalog.SEARCH_LIMIT)
except InvalidValue as exc:
    st.error(ui.literal(f"Búsqueda no válida: {exc}."))
    st.stop()
if not found.rows:
    st.info("No hay clientes en el catálogo con esos datos.")
    st.stop()

first = (page - 1) * catalog.SEARCH_LIMIT + 1
st.caption(f"Mostrando {first:,}–{first + len(found.rows) - 1:,} de {found.total:,}.")
catalog_results.show(found.rows, page)
left, right = st.columns(2)
if found.total > catalog.SEARCH_LIMIT:
    left.number_input("Página", 1, -(-found.total // catalog.SEARCH_LIMIT), key="busqueda-pagina")
right.download_button(
    "Exportar a Excel",
    partial(catalog.export_file, ui.sessions(), **criteria),
    file_name="catalogo_envio_masivo.xlsx",
)
