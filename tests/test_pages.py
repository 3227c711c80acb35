"""Pages through Streamlit's AppTest: the real scripts, a real SQLite file in a temp folder."""

import ast

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from lib import dashboard, db, tables, ui
from lib.config import PROJECT_ROOT
from lib.models import Company, Customer

HOME = str(PROJECT_ROOT / "Home.py")


def start(page: str | None = None, *, user: str | None = "root") -> AppTest:
    """The app as seen by `user` (a session that logged in), or logged out with `user=None`."""
    at = AppTest.from_file(HOME, default_timeout=60)
    if user:
        at.session_state["authentication_status"] = True
        at.session_state["username"] = user
        at.session_state["session_version"] = 1
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def count(database_url: str, model: type) -> int:
    engine = db.create_engine_for(database_url)
    with engine.connect() as connection:
        total = connection.scalar(sa.select(sa.func.count()).select_from(model))
    engine.dispose()
    return total


def test_home_shows_figures_per_sociedad_from_demo_data(with_demo_data: None, people) -> None:
    at = start()
    assert not at.exception
    assert at.title[0].value == "Envío masivo de estados de cuenta"
    assert [m.label for m in at.metric] == ["Sociedades", "Clientes", "En catálogo de envío"]
    assert at.metric[0].value == "3"
    assert at.metric[1].value == "500"
    table = at.dataframe[0].value
    assert list(table["Sociedad"]) == ["SM02", "SM05", "SU01"]
    assert list(table.columns[-2:]) == ["Saldo MXN", "Saldo USD"]
    assert table.loc[1, "Saldo MXN"].startswith("$")
    assert table.loc[1, "Saldo USD"].startswith("$")
    assert table.loc[2, "Saldo MXN"] == "—"


def test_home_with_an_empty_database_says_where_to_load_data(people) -> None:
    at = start()
    assert not at.exception
    assert "Aún no hay sociedades cargadas" in at.info[0].value
    assert len(at.metric) == 0


def test_unexpected_error_shows_an_apology_not_a_traceback(people, monkeypatch) -> None:
    def broken(session):
        raise RuntimeError("boom")

    monkeypatch.setattr(dashboard, "company_summaries", broken)
    at = start()
    assert not at.exception
    assert at.error[0].value.startswith("Lo sentimos, ocurrió un error inesperado")
    assert "boom" not in at.error[0].value


def test_invalid_configuration_is_explained(app_env, monkeypatch) -> None:
    monkeypatch.setenv("SMTP_PORT", "veinticinco")
    at = start()
    assert not at.exception
    assert at.error[0].value == (
        "Configuración no válida: SMTP_PORT debe ser un número entero; no 'veinticinco'"
    )


def upload(at: AppTest, tab: int, name: str, content: bytes) -> AppTest:
    at.tabs[tab].get("file_uploader")[0].set_value((name, content, "application/octet-stream"))
    at.tabs[tab].button[0].click()
    return at.run()


@pytest.fixture
def datos(people) -> AppTest:
    at = start("pages/datos.py")
    assert not at.exception
    assert at.title[0].value == "Datos"
    assert [t.label for t in at.tabs] == ["Sociedades", "Clientes", "Partidas abiertas"]
    return at


def test_datos_imports_sociedades_and_customers(datos: AppTest, app_env) -> None:
    upload(datos, 0, "sociedades.csv", "Sociedad,Nombre\nSM02,Bajío\n".encode())
    assert datos.success[0].value.startswith("Sociedades: 1 fila importada")
    content = tables.write_xlsx(
        ["Sociedad", "No. Cliente", "Nombre Cliente"], [["sm02", "0001006210", "PEÑA & HIJOS"]]
    )
    upload(datos, 1, "clientes.xlsx", content)
    assert not datos.exception
    assert "Clientes: 1 fila importada (sociedades: SM02); 1 nueva" in datos.success[1].value
    assert count(app_env["DATABASE_URL"], Customer) == 1


def test_datos_lists_row_errors_and_saves_nothing(datos: AppTest, app_env) -> None:
    upload(datos, 0, "sociedades.csv", b"Sociedad,Nombre\nSM02,Bajio\nSM02,Otra vez\n")
    assert datos.error[0].value.startswith("Sociedades: 1 error en 2 filas")
    errors = datos.tabs[0].dataframe[0].value
    assert errors.to_dict("records") == [
        {"Fila": 3, "Columna": "", "Problema": "repetida (igual que la fila 2)"}
    ]
    assert count(app_env["DATABASE_URL"], Company) == 0


def test_datos_asks_for_a_file_before_importing(datos: AppTest) -> None:
    datos.tabs[2].button[0].click()
    datos.run()
    assert datos.warning[0].value == "Elige un archivo antes de importar."


@pytest.mark.parametrize(
    "path", sorted((PROJECT_ROOT / "pages").glob("*.py")), ids=lambda p: p.name
)
def test_every_page_calls_its_guard_before_anything_else(path) -> None:
    """Without it a page's URL, opened first after a start, would run without Home.py."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    statements = [
        node
        for node in body
        if not isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
    ]
    assert ast.unparse(statements[0]) == "ui.page_guard()"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[clic](http://e.vil)", r"\[clic\](http://e.vil)"),
        ("*SA* de _CV_", r"\*SA\* de \_CV\_"),
        ("MXN $1.00 · USD $2.00", r"MXN \$1.00 · USD \$2.00"),
        ("PEÑA & HIJOS <SA> (1006210).", r"PEÑA & HIJOS \<SA\> (1006210)."),
        ("Cobranza <cobranza@bajio.mx>", r"Cobranza \<cobranza@bajio.mx\>"),
    ],
)
def test_data_in_a_message_is_shown_as_written_not_as_markdown(text: str, shown: str) -> None:
    assert ui.literal(text) == shown
