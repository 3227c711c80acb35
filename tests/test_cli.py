import io
import os
import subprocess
import sys
from datetime import date, time, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from PIL import Image
from pypdf import PdfReader

from lib import cli, db, models, tables
from lib.config import PROJECT_ROOT
from lib.models import Customer, OpenItem, User
from lib.scheduling import schedules
from lib.scheduling.recurrence import CutoffRule, Frequency, Recurrence
from lib.sending import runs
from lib.sending.status import RunStatus
from tests import support
from tests.mailserver import MailServer

HELP_COMMANDS = [
    [],
    ["init"],
    ["demo"],
    ["users"],
    ["users", "add"],
    ["import"],
    ["import", "companies"],
    ["import", "customers"],
    ["import", "open-items"],
    ["import", "undo-open-items"],
    ["catalog"],
    ["catalog", "import"],
    ["catalog", "export"],
    ["catalog", "add"],
    ["catalog", "delete"],
    ["statement"],
    ["send"],
    ["worker"],
    ["mail-test"],
    ["schedules"],
    ["schedules", "list"],
    ["schedules", "run-due"],
]


def run_cli(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """In-process run, as `python -m lib.cli ARGS`, returning (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        code = cli.main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.stdin, sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def users_in(database_url: str) -> list[str]:
    engine = db.create_engine_for(database_url)
    with engine.connect() as connection:
        names = list(connection.scalars(sa.select(User.username)))
    engine.dispose()
    return names


def test_module_runs_as_a_program(app_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lib.cli", "init"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **app_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("esquema al día (revisión 0014)")


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    code, out, _ = run_cli(*command, "--help")
    assert code == 0
    assert out.startswith("usage: python -m lib.cli")


def test_demo_loads_once_then_refuses(app_env: dict[str, str]) -> None:
    code, out, _ = run_cli("demo", "--fecha", "2026-11-28")
    assert code == 0
    assert out.startswith("demo cargado: 3 sociedades, 500 clientes")
    code, out, err = run_cli("demo")
    assert code == 1
    assert (
        err == "error: la base de datos ya tiene sociedades; el demo solo se carga en una vacía\n"
    )


def test_users_add_reads_the_password_from_stdin(app_env: dict[str, str]) -> None:
    args = ["users", "add", "ana", "--name", "Ana López", "--email", "ana@empresa.example"]
    code, out, _ = run_cli(*args, "--role", "admin", "--password-stdin", stdin="una-clave-larga\n")
    assert (code, out) == (0, "usuario 'ana' creado con rol admin\n")
    assert users_in(app_env["DATABASE_URL"]) == ["ana"]
    code, _, err = run_cli(*args, "--role", "admin", "--password-stdin", stdin="una-clave-larga\n")
    assert (code, err) == (1, "error: el usuario 'ana' ya existe\n")


def test_users_add_refuses_a_short_password_and_a_missing_terminal(app_env: dict[str, str]) -> None:
    args = [
        "users",
        "add",
        "ana",
        "--name",
        "Ana",
        "--email",
        "ana@e.example",
        "--role",
        "analista",
    ]
    assert run_cli(*args, "--password-stdin", stdin="corta\n")[0] == 1
    code, _, err = run_cli(*args)
    assert code == 1
    assert "usa --password-stdin" in err
    assert users_in(app_env["DATABASE_URL"]) == []


def test_users_add_refuses_an_unknown_role() -> None:
    code, _, err = run_cli(
        "users", "add", "x1", "--name", "X", "--email", "x@e.mx", "--role", "dios"
    )
    assert code == 2
    assert "invalid choice: 'dios'" in err


def test_import_reports_row_errors_and_exit_code(app_env: dict[str, str], tmp_path: Path) -> None:
    companies = tmp_path / "sociedades.csv"
    companies.write_text("Sociedad,Nombre\nSM02,Bajío\n", encoding="utf-8")
    good = tmp_path / "clientes.xlsx"
    good.write_bytes(
        tables.write_xlsx(
            ["Sociedad", "NoCliente", "NombreCliente"], [["SM02", "0001006210", "PEÑA & HIJOS"]]
        )
    )
    bad = tmp_path / "malos.xlsx"
    bad.write_bytes(
        tables.write_xlsx(
            ["Sociedad", "NoCliente", "NombreCliente"],
            [["SM02", "", "SIN NÚMERO"], ["SM99", "1", "X"]],
        )
    )
    assert run_cli("import", "companies", str(companies))[0] == 0
    code, out, _ = run_cli("import", "customers", str(good))
    assert code == 0
    assert out.startswith("Clientes: 1 fila importada (sociedades: SM02); 1 nueva")
    code, _, err = run_cli("import", "customers", str(bad))
    assert code == 1
    assert err.splitlines() == [
        "Fila 2, NoCliente: No. Cliente vacío",
        "Fila 3, Sociedad: la sociedad SM99 no existe; impórtala primero",
        "Clientes: 2 errores en 2 filas; no se guardó nada. "
        "Corrige el archivo y vuelve a cargarlo.",
    ]
    engine = db.create_engine_for(app_env["DATABASE_URL"])
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1
    engine.dispose()


def test_open_items_import_prints_its_effect_and_undo_open_items_reverts_it(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "s.csv").write_text("Sociedad,Nombre\nSM02,Bajío\n", encoding="utf-8")
    (tmp_path / "c.csv").write_text("Sociedad,NoCliente,NombreCliente\nSM02,1,A\n")
    headers = "Sociedad,NoCliente,Documento,Tipo,FechaDocumento,FechaVencimiento,Referencia,"
    headers += "Importe,Saldo,Moneda\n"
    first, second = tmp_path / "p1.csv", tmp_path / "p2.csv"
    first.write_text(headers + "SM02,1,F1,Factura,01/11/2026,,,10,10,MXN\n" * 1)
    second.write_text(headers + "SM02,1,F2,Factura,01/11/2026,,,2.5,2.5,MXN\n")
    assert run_cli("import", "companies", str(tmp_path / "s.csv"))[0] == 0
    assert run_cli("import", "customers", str(tmp_path / "c.csv"))[0] == 0
    assert run_cli("import", "open-items", str(first))[0] == 0
    code, out, _ = run_cli("import", "open-items", str(second))
    assert code == 0
    assert out.splitlines()[-1] == "SM02: 1 → 1 partida; saldo MXN $10.00 → MXN $2.50"
    code, out, _ = run_cli("import", "undo-open-items", "sm02")
    assert (code, out) == (
        0,
        "Importación deshecha en SM02: se quitó 1 partida y se repuso 1 partida.\n",
    )
    code, _, err = run_cli("import", "undo-open-items", "SM02")
    assert code == 1
    assert err == "error: la sociedad SM02 no tiene una importación de partidas que deshacer\n"


def test_import_of_a_missing_file_is_one_line(app_env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = run_cli("import", "customers", str(tmp_path / "no-existe.xlsx"))
    assert code == 1
    assert err.startswith("error: no se pudo leer")
    assert err.count("\n") == 1


def test_bad_settings_are_one_line(app_env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("MAIL_TRANSPORT", "paloma")
    code, _, err = run_cli("init")
    assert (code, err) == (
        1,
        "error: MAIL_TRANSPORT debe ser uno de outbox, smtp, graph; no 'paloma'\n",
    )


def test_unreachable_database_is_one_line(
    app_env: dict[str, str], monkeypatch, unused_port: int
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://x@127.0.0.1:{unused_port}/envio")
    code, _, err = run_cli("init")
    assert code == 1
    assert err.startswith("error: no se pudo usar la base de datos:")
    assert err.count("\n") == 1


def test_catalog_add_delete_export_import_round_trip(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    assert run_cli("demo", "--fecha", "2026-11-28")[0] == 0
    code, out, _ = run_cli("catalog", "add", "sm02", "0001006210", "Nuevo@Agro.MX; otro@agro.mx")
    assert code == 0
    assert "fue actualizado: Nuevo@agro.mx;otro@agro.mx." in out
    code, out, _ = run_cli("catalog", "add", "SM02", "1006210", "otro@agro.mx", "--idioma", "en")
    assert code == 0
    assert out.endswith("Su estado de cuenta y su correo irán en inglés.\n")
    code, _, err = run_cli("catalog", "add", "SM02", "9999999", "a@b.mx")
    assert (code, err) == (
        1,
        "error: El cliente 9999999 no está dado de alta en la sociedad SM02.\n",
    )
    exported = tmp_path / "catalogo.xlsx"
    assert run_cli("catalog", "export", str(exported)) == (
        0,
        f"catálogo exportado a {exported}\n",
        "",
    )
    rows = len(tables.read_path(exported).rows)
    assert run_cli("catalog", "delete", "SM02", "1006210")[0] == 0
    assert run_cli("catalog", "delete", "SM02", "1006210")[0] == 1
    code, out, _ = run_cli("catalog", "import", str(exported))
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "Se ignoraron las columnas que no son Sociedad, NoCliente o Correo."
    assert len([line for line in lines if line.startswith("fila ")]) == rows
    assert lines[-1] == f"resumen: nuevo 1, actualiza 0, sin cambios {rows - 1}, omitida 0, error 0"


def test_catalog_import_reports_each_bad_row_and_saves_the_good_ones(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    assert run_cli("demo", "--fecha", "2026-11-28")[0] == 0
    source = tmp_path / "alta.csv"
    source.write_text(
        "Sociedad;NoCliente;Correo\nSM02;1006210;bien@agro.mx\nSM02;1006210;otra@agro.mx\n"
        "SM02;1004273;malo\nXX01;1;a@b.mx\n",
        encoding="utf-8",
    )
    code, out, _ = run_cli("catalog", "import", str(source))
    assert code == 1
    assert out.splitlines() == [
        "fila 2: no se guardó: repetida en la fila 3; gana la última",
        "fila 3: actualizado",
        "fila 4: no se guardó: correo no válido: 'malo'",
        "fila 5: no se guardó: la sociedad XX01 no existe",
        "resumen: nuevo 0, actualiza 1, sin cambios 0, omitida 1, error 2",
    ]


def test_statement_writes_a_pdf_or_its_html_with_the_sociedads_logo(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    """DATA_DIR lies outside the working directory, as it may in production."""
    assert run_cli("demo", "--fecha", "2026-11-28")[0] == 0
    logo = Path(app_env["DATA_DIR"]) / "logos" / "SM02.png"
    logo.parent.mkdir()
    Image.new("RGB", (300, 100), (11, 92, 173)).save(logo)
    target = tmp_path / "estado.pdf"
    code, out, _ = run_cli(
        "statement", "sm02", "0001006210", "--fecha-corte", "2026-11-28", "-o", str(target)
    )
    assert code == 0
    assert out.startswith("estado de cuenta de 1006210 (")
    first_page = PdfReader(io.BytesIO(target.read_bytes())).pages[0]
    assert "Estado de cuenta al 28/11/2026" in first_page.extract_text()
    assert len(first_page.images) == 1
    html = tmp_path / "estado.html"
    assert run_cli("statement", "SM02", "1006210", "--format", "html", "-o", str(html))[0] == 0
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert f'<img src="{logo}"' in html.read_text(encoding="utf-8")
    code, _, err = run_cli("statement", "SM02", "42")
    assert (code, err) == (1, "error: el cliente 42 no está dado de alta en la sociedad SM02\n")


def send_ready(database_url: str) -> None:
    """Catalog with 1004273 (old@y.mx), an open item so it has a balance; users ana and root."""
    sessions = db.session_factory(db.create_engine_for(database_url))
    support.seed_catalog(sessions)
    with sessions() as session, session.begin():
        session.add(OpenItem(company_code="SM02", customer_no="1004273", doc_no="F-1",
                             doc_type="Factura", doc_date=date(2026, 10, 1),
                             due_date=date(2026, 10, 31), reference="", amount=Decimal("10.50"),
                             open_amount=Decimal("10.50"), currency="MXN"))  # fmt: skip


def test_send_runs_to_completion_prints_each_customer_and_mails_the_log(
    app_env: dict[str, str], people: dict[str, str]
) -> None:
    send_ready(app_env["DATABASE_URL"])

    code, out, err = run_cli("send", "--sociedad", "sm02", "--fecha-corte", "2026-11-28",
                             "--user", "ana")  # fmt: skip

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "envío núm. 1: 1 cliente, fecha de corte 28/11/2026"
    assert lines[1] == (
        "Sociedad: SM02 | NoCliente: 1004273 | FechaCorte: 20261128 | "
        "NombreCliente: PLUMBERS CENTER | CorreoDestino: old@y.mx | Enviado: ok"
    )
    assert lines[2] == "resumen: 1 cliente, enviados 1, con error 0"
    outbox = sorted((Path(app_env["DATA_DIR"]) / "outbox").glob("*.eml"))
    recipients = sorted(
        message_from_bytes(path.read_bytes(), policy=policy.default)["To"] for path in outbox
    )
    assert recipients == ["ana@e.example", "old@y.mx"]


def test_log_prints_a_runs_lines_as_they_stand_now(
    app_env: dict[str, str], people: dict[str, str]
) -> None:
    send_ready(app_env["DATABASE_URL"])
    code, sent, _ = run_cli("send", "--sociedad", "SM02", "--user", "ana")
    assert code == 0

    code, out, err = run_cli("log", "1")

    assert (code, err) == (0, "")
    assert out.splitlines() == sent.splitlines()[1:]  # the send's own lines and summary
    assert run_cli("log", "7") == (1, "", "error: el envío 7 no existe\n")


def test_send_exits_1_when_a_customer_fails(
    app_env: dict[str, str], people: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    send_ready(app_env["DATABASE_URL"])
    with MailServer() as server:
        server.faults.refuse["old@y.mx"] = "550 5.1.1 No existe"
        for name, value in {"MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1",
                            "SMTP_PORT": str(server.port), "SMTP_SECURITY": "none",
                            "MAIL_RATE_PER_MINUTE": "0"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)

        code, out, _ = run_cli("send", "--cliente", "1004273", "--user", "ana")

        assert code == 1
        assert "Enviado: error: old@y.mx: rechazado: 550 5.1.1 No existe" in out
        assert "resumen: 1 cliente, enviados 0, con error 1" in out
        assert [m.recipients for m in server.received] == [["ana@e.example"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sociedad", "SM02", "--user", "nadie"], "error: el usuario 'nadie' no existe"),
        (["--sociedad", "SM05", "--user", "ana"], "error: no hay clientes en el catálogo"),
        (["--user", "ana"], "error: indica la Sociedad y/o el No. Cliente"),
    ],
)
def test_send_says_why_it_cannot_start(
    app_env: dict[str, str], people: dict[str, str], args: list[str], message: str
) -> None:
    send_ready(app_env["DATABASE_URL"])

    code, _, err = run_cli("send", *args)

    assert code == 1
    assert err.startswith(message)


def test_worker_once_sends_what_is_pending_and_stops(
    app_env: dict[str, str], people: dict[str, str]
) -> None:
    send_ready(app_env["DATABASE_URL"])
    sessions = db.session_factory(db.create_engine_for(app_env["DATABASE_URL"]))
    with sessions() as session, session.begin():
        runs.create_run(session, username="ana", notify_email="ana@e.example",
                           keys=[("SM02", "1004273")], cutoff=date(2026, 11, 28),
                           run_date=date(2026, 11, 28))  # fmt: skip

    code, out, _ = run_cli("worker", "--once")

    assert code == 0
    assert "worker en marcha" in out
    with sessions() as session:
        assert runs.progress(session, 1).run.status == RunStatus.DONE
    assert len(list((Path(app_env["DATA_DIR"]) / "outbox").glob("*.eml"))) == 2


def due_schedule(database_url: str) -> None:
    """ana's monthly schedule of SM02, due an hour ago (as if the app had been down)."""
    sessions = db.session_factory(db.create_engine_for(database_url))
    now = models.utcnow()
    plan = schedules.Plan("SM02", "", CutoffRule.RUN_DAY, None, False,
                          Recurrence(Frequency.MONTHLY, time(7, 0), day_of_month=31))  # fmt: skip
    with sessions() as session, session.begin():
        schedule = schedules.create(session, plan, by=schedules.Actor("ana", admin=False),
                                    now=now, zone=ZoneInfo("America/Mexico_City"))  # fmt: skip
        schedule.next_run_at = now - timedelta(hours=1)


def test_schedules_run_due_creates_the_run_once_and_the_worker_sends_it(
    app_env: dict[str, str], people: dict[str, str]
) -> None:
    send_ready(app_env["DATABASE_URL"])
    due_schedule(app_env["DATABASE_URL"])

    code, out, err = run_cli("schedules", "run-due")

    assert (code, err) == (0, "")
    first, second = out.splitlines()
    assert first.startswith("programado núm. 1, ")
    assert first.endswith(": envío núm. 1 con 1 cliente")
    assert second == "los envíos los hacen los workers (la aplicación o python -m lib.cli worker)"
    assert run_cli("schedules", "run-due") == (0, "ningún programado toca ahora\n", "")
    assert run_cli("worker", "--once")[0] == 0
    assert len(list((Path(app_env["DATA_DIR"]) / "outbox").glob("*.eml"))) == 2


def test_schedules_list_prints_one_line_per_schedule_with_its_next_send(
    app_env: dict[str, str], people: dict[str, str]
) -> None:
    assert run_cli("schedules", "list") == (0, "no hay envíos programados\n", "")
    send_ready(app_env["DATABASE_URL"])
    due_schedule(app_env["DATABASE_URL"])
    assert run_cli("schedules", "run-due")[0] == 0

    code, out, err = run_cli("schedules", "list")

    assert (code, err) == (0, "")
    (line,) = out.splitlines()
    number, company, who, rule, cut, following, status, owner = line.split(" | ")
    assert (number, company, who, rule, cut) == (
        "1",
        "SM02",
        "todos",
        "Mensual, día 31, 07:00",
        "El día del envío",
    )
    assert following.endswith(" 07:00")
    assert (status, owner) == ("▶️ Activo", "ana")


@pytest.mark.parametrize("written", ["2026-11-28", "28/11/2026", "28/11/2026 "])
def test_dates_are_taken_as_the_tool_prints_them_or_iso(
    app_env: dict[str, str], tmp_path: Path, written: str
) -> None:
    assert run_cli("demo", "--fecha", "2026-11-28")[0] == 0
    target = tmp_path / "estado.pdf"

    code, _, err = run_cli("statement", "SM02", "1006210", "--fecha-corte", written, "-o",
                           str(target))  # fmt: skip

    assert code == 0, err
    text = PdfReader(io.BytesIO(target.read_bytes())).pages[0].extract_text()
    assert "Estado de cuenta al 28/11/2026" in text


@pytest.mark.parametrize(
    ("command", "written"),
    [
        (["statement", "SM02", "1006210", "--fecha-corte"], "2026-13-01"),
        (["send", "--user", "ana", "--fecha-corte"], "31/02/2026"),
        (["send", "--user", "ana", "--fecha-corte"], "ayer"),
        (["demo", "--fecha"], "20261128"),
        (["demo", "--fecha"], "11/28/2026"),
    ],
)
def test_a_date_that_is_not_one_exits_1_with_a_spanish_line(
    app_env: dict[str, str], command: list[str], written: str
) -> None:
    code, out, err = run_cli(*command, written)

    assert code == 1
    assert out == ""
    assert err == f"error: fecha no válida: '{written}' (usa AAAA-MM-DD o DD/MM/AAAA)\n"
