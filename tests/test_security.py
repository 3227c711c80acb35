"""Security checks (issue #7): who sees which page, header and formula injection, markup and SQL
metacharacters in data, hostile file names, secrets kept out of logs and errors.

Already covered elsewhere, and not repeated here:

- In a real browser, tests/test_browser.py: a page URL opened before login shows only the login
  form (`test_a_page_url_opened_before_login_shows_the_login_then_the_page`); an analista gets
  "No tienes acceso" at an admin URL (`test_an_analista_sees_no_admin_pages_even_by_url`); the
  remember-me cookie is refused after Cerrar sesión
  (`test_remember_me_cookie_then_logout_ends_it`) and after deactivation or a password reset
  (`test_a_valid_cookie_is_refused_after_the_user_changes`).
- Lockout and its expiry: tests/test_auth.py
  (`test_five_failures_lock_for_fifteen_minutes_then_it_expires`, `test_an_admin_can_unlock`,
  `test_inactive_user_cannot_log_in`) and, through the login form, tests/test_login.py
  (`test_five_failures_lock_the_user_and_say_until_when`).
- Sessions ended by logout, deactivation, reset and the user's own password change:
  tests/test_auth.py (`test_session_ends_when_the_user_logs_out_or_changes`) and
  tests/test_login.py (`test_a_session_ends_when_its_user_changes`,
  `test_logout_ends_the_session_everywhere`).
- CR/LF in a sociedad's subject override: tests/test_statements.py
  (`test_a_sociedad_template_override_cannot_break_the_subject_header`).

What was missing is added here: every page of `lib.ui.PAGES` by URL through AppTest, and a
deactivated user's old session staying dead after reactivation.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import date
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from lib import auth, catalog, config, statements, tables, ui, users
from lib.mail import envelope, pacing, smtp
from lib.models import Company, Customer, Recipient, SendRun
from lib.normalize import InvalidValue
from lib.sending import log as runlog
from lib.sending import runs, worker
from lib.sending.status import RunStatus
from lib.statements import message, pdf
from tests import test_sending
from tests.mailserver import MailServer
from tests.test_catalogo_pages import button
from tests.test_pages import start

LOGIN_TITLE = "Envío masivo de estados de cuenta"
NO_ACCESS = "No tienes acceso a esta página. Elige una opción del menú."


@pytest.fixture
def send_catalog(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """tests/test_sending.py's SM02 catalog of five customers."""
    return test_sending.catalog.__wrapped__(sessions)


@pytest.fixture
def send_settings(tmp_path) -> config.Settings:
    return test_sending.settings.__wrapped__(tmp_path)


def open_url(url_path: str, *, user: str | None) -> AppTest:
    """The app asked for `/<url_path>`, as a browser does: `st.Page` identifies a page by the
    hash of its URL path, whatever script the session has behind it.
    """
    at = start(user=user)
    at._page_hash = calc_hash(url_path)  # what switch_page() sets, without needing a file
    return at.run()


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


# --- pages by URL -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ui.PAGES, ids=lambda s: s.url_path)
def test_every_page_by_url_without_a_session_shows_only_the_login_form(people, spec) -> None:
    at = open_url(spec.url_path, user=None)

    assert not at.exception
    assert titles(at) == [LOGIN_TITLE]
    assert [t.label for t in at.text_input] == ["Usuario", "Contraseña"]
    assert [b.label for b in at.button] == ["Ingresar"]
    for kind in ("dataframe", "metric", "selectbox", "file_uploader", "download_button"):
        assert not at.get(kind), kind
    assert not at.sidebar.button  # no Cerrar sesión, no menu of a user
    assert not at.warning


@pytest.mark.parametrize(
    "spec", [s for s in ui.PAGES if "analista" not in s.roles], ids=lambda s: s.url_path
)
def test_an_admin_page_by_url_as_analista_says_no_access(people, spec) -> None:
    at = open_url(spec.url_path, user="ana")

    assert not at.exception
    assert [w.value for w in at.warning] == [NO_ACCESS]
    assert titles(at) == []
    for kind in ("dataframe", "file_uploader", "download_button", "text_input", "tabs"):
        assert not at.get(kind), kind


@pytest.mark.parametrize("spec", ui.PAGES, ids=lambda s: s.url_path)
def test_every_page_by_url_opens_for_its_roles_only(people, spec) -> None:
    """The other side of the two tests above: the URL itself works for whoever may use it."""
    at = open_url(spec.url_path, user="root")
    assert not at.exception
    assert NO_ACCESS not in [w.value for w in at.warning]
    assert titles(at)
    assert "Ingresar" not in [b.label for b in at.button]


def test_a_reactivated_user_does_not_revive_old_sessions(people, database) -> None:
    """Deactivation ends the session (and its cookie); reactivating must not bring it back."""
    with database() as session:
        version = users.find(session, "ana").session_version
    with database() as session, session.begin():
        users.set_active(session, "ana", False, by="root")
    with database() as session, session.begin():
        users.set_active(session, "ana", True, by="root")
    with database() as session:
        assert users.find(session, "ana").active
        assert auth.session_user(session, "ana", version) is None


# --- email headers ------------------------------------------------------------------------------

INJECTIONS = [
    "X\r\nBcc: intruso@evil.example",
    "X\nBcc: intruso@evil.example",
    "X\rBcc: intruso@evil.example",
    "X\u2028Bcc: intruso@evil.example",
    "X\x85Bcc: intruso@evil.example",
    "X\x0bBcc: intruso@evil.example",
    # An RFC 2047 encoded word that decodes to CR LF: Python 3.11.7's email package decodes it
    # when the header is set and would write a real line break (CVE-2024-6923).
    "=?utf-8?q?X=0D=0ABcc:_intruso@evil.example?=",
    "Hola =?utf-8?b?DQpCY2M6IGludHJ1c29AZXZpbC5leGFtcGxl?= fin",
]
TOP_HEADERS = {"Subject", "From", "To", "Date", "Message-ID", "MIME-Version", "Content-Type"}
PART_HEADERS = {"Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version"}


def statement_of(
    *, name: str = "PEÑA & HIJOS <SA>", company: str = "Bajío", number: str = "1006210",
    subject: str | None = None, reply_to: str = "",
) -> statements.Statement:  # fmt: skip
    line = statements.Line("F-1", "Factura", date(2026, 10, 1), date(2026, 10, 31), "R", 28,
                           Decimal("10.00"), Decimal("10.00"), "MXN")  # fmt: skip
    return statements.Statement(
        company=statements.Party("SM02", company, "", ""),
        customer=statements.Party(number, name, "", ""),
        cutoff_date=date(2026, 11, 28),
        lines=(line,),
        template=statements.Template(subject=subject or ""),
        reply_to=reply_to,
    )


def assert_no_injected_header(message: EmailMessage, *, also: frozenset[str] = frozenset()) -> None:
    """Parse the bytes that would go out: only our own headers (and `also`), each on one line."""
    raw = message.as_bytes()
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    assert not re.search(rb"(?im)^bcc:", head), head
    parsed = message_from_bytes(raw, policy=policy.default)
    assert set(parsed.keys()) == TOP_HEADERS | also
    for name, value in parsed.items():
        assert "\r" not in value, name
        assert "\n" not in value, name
    for part in parsed.walk():
        if part is not parsed:
            assert set(part.keys()) <= PART_HEADERS, part.keys()


def compose(statement: statements.Statement, recipients: tuple[str, ...] = ("a@b.mx",)):
    options = message.Options(Path("/no-logos"), "Cobranza <c@bajio.example>")
    return message.ready(statement, recipients, options=options, sent_on=date(2026, 11, 29)).message


@pytest.mark.parametrize("hostile", INJECTIONS)
@pytest.mark.parametrize(
    "field",
    [
        "customer name",
        "sociedad name",
        "customer number",
        "sociedad subject override",
    ],
)
def test_line_breaks_in_data_never_reach_a_statement_email_header(field, hostile) -> None:
    given = {
        "customer name": {"name": hostile},
        "sociedad name": {"company": hostile},
        "customer number": {"number": hostile},
        "sociedad subject override": {
            "subject": "{{ sociedad }} {{ cliente }} " + hostile + " {{ no_cliente }}"
        },
    }[field]
    message = compose(statement_of(**given))
    assert_no_injected_header(message)
    assert message["Subject"].startswith(("Estado de cuenta al 28/11/2026", "Bajío PEÑA"))


@pytest.mark.parametrize("hostile", INJECTIONS)
def test_line_breaks_in_an_email_address_never_reach_the_to_header(hostile) -> None:
    """Refused outright (the worker records that customer as failed) or kept on one line."""
    address = hostile.replace("X", "a@b.mx").replace("Hola ", "a")
    try:
        message = compose(statement_of(), ("ok@b.mx", address))
    except ValueError:
        return
    assert_no_injected_header(message)


def test_a_sociedads_contact_is_one_reply_to_header() -> None:
    message = compose(statement_of(reply_to="Cobranza@Bajio.EXAMPLE"))
    assert_no_injected_header(message, also=frozenset({"Reply-To"}))
    assert message.get_all("Reply-To") == ["Cobranza@bajio.example"]


@pytest.mark.parametrize(
    "hostile",
    [
        *(h.replace("X", "cobranza@bajio.example") for h in INJECTIONS),
        "cobranza@bajio.example, intruso@evil.example",
        "cobranza@bajio.example; intruso@evil.example",
        "Cobranza <cobranza@bajio.example>\r\nBcc: intruso@evil.example",
        "=?utf-8?q?cobranza@bajio.example=0D=0ABcc:_intruso@evil.example?=",
    ],
)
def test_a_hostile_reply_to_is_refused_not_injected(hostile: str) -> None:
    """The import refuses it (lib.payments, tests/test_payments.py); one that reached the
    database some other way stops that customer's email, and the envelope refuses it too."""
    with pytest.raises(InvalidValue, match="ResponderA de la sociedad SM02 no es válido"):
        compose(statement_of(reply_to=hostile))
    with pytest.raises(InvalidValue):
        envelope.new_message(subject="s", mail_from="c@bajio.example", to="a@b.mx",
                             reply_to=hostile)  # fmt: skip


@pytest.mark.parametrize("hostile", INJECTIONS)
def test_the_log_email_keeps_names_in_the_attachment_and_its_headers_clean(hostile) -> None:
    run = SendRun(id=7, run_date=date(2026, 11, 29), cutoff_date=date(2026, 11, 28),
                  notify_email="ana@finanzas.example", started_by="ana", total=1, sent=1,
                  failed=0, uncertain=0, skipped=0)  # fmt: skip
    line = f"Sociedad: SM02 | NoCliente: 1006210 | NombreCliente: {hostile} | Enviado: ok\r\n"
    message = runlog.message(run, line, mail_from="c@bajio.example")
    assert_no_injected_header(message)
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_filename() == "LogEnvioMasivo_20261129.txt"


@pytest.mark.parametrize(
    "notify",
    [
        "ana@finanzas.example\r\nBcc: intruso@evil.example",
        "ana@añil.example\r\nBcc: intruso@evil.example",  # an IDNA domain too
        "ana@finanzas.example,\nBcc: intruso@evil.example",
    ],
)
def test_a_hostile_notify_address_is_refused_not_injected(notify: str) -> None:
    run = SendRun(id=7, run_date=date(2026, 11, 29), cutoff_date=date(2026, 11, 28),
                  notify_email=notify,
                  started_by="ana", total=0, sent=0, failed=0, uncertain=0, skipped=0)  # fmt: skip
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        runlog.message(run, "", mail_from="c@bajio.example")


# --- file names ---------------------------------------------------------------------------------

HOSTILE_NUMBERS = [
    "../../etc/passwd",
    "..",
    "..\\..\\windows\\win.ini",
    "/absolute",
    "C:\\x",
    "a/../b",
    "1006210\r\nBcc: x@evil.example",
    "=?utf-8?q?=2E=2E=2F?=",
    "\x00",
    "",
]


@pytest.mark.parametrize("number", ["1006210", "A-1", *HOSTILE_NUMBERS])
def test_attachment_names_never_hold_a_path_or_a_line_break(number) -> None:
    name = message.attachment_name(number, date(2026, 11, 29))
    assert re.fullmatch(r"[0-9A-Za-z_-]*_20261129\.pdf", name), name
    for part in ("..", "/", "\\"):
        assert part not in name


def test_normal_attachment_names_stay_as_the_manual_says() -> None:
    assert message.attachment_name("1006210", date(2026, 3, 2)) == "1006210_20260302.pdf"
    assert message.attachment_name("AB-12", date(2026, 3, 2)) == "AB-12_20260302.pdf"


@pytest.mark.parametrize("day", [date(2026, 1, 1), date(1, 1, 1), date(9999, 12, 31)])
def test_log_file_names_are_only_the_fixed_words_and_a_date(day) -> None:
    assert re.fullmatch(r"LogEnvioMasivo_\d+\.txt", runlog.file_name(SendRun(run_date=day)))


def test_a_log_file_name_cannot_be_built_from_text() -> None:
    """`log_name` takes only the run's date; text in its place is refused, never used."""
    with pytest.raises(ValueError, match="format"):
        runlog.file_name(SendRun(run_date="../../etc/passwd"))  # type: ignore[arg-type]


# --- Excel exports ------------------------------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example","clic")',
    "+1+1",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
]


def test_formula_like_names_and_emails_are_text_in_the_catalog_export(sessions) -> None:
    with sessions() as session, session.begin():
        session.add(Company(code="SM02", name="Bajío"))
        session.flush()
        for index, name in enumerate(FORMULAS, start=1):
            session.add(Customer(company_code="SM02", customer_no=str(index), name=name))
        session.flush()
        for index in range(1, len(FORMULAS) + 1):
            session.add(Recipient(company_code="SM02", customer_no=str(index),
                                  emails=f"=1+{index}@x.mx;+{index}@x.mx",
                                  created_by="=evil()", updated_by="-evil"))  # fmt: skip
    with sessions() as session:
        content = catalog.export_xlsx(session)

    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
    assert len(cells) == len(FORMULAS) * len(catalog.EXPORT_HEADERS)
    for cell in cells:
        assert cell.data_type != "f", cell.value
        if tables.formula_like(cell.value):
            assert (cell.data_type, cell.quotePrefix) == ("s", True), cell.value
    names = [sheet.cell(row, 3).value for row in range(2, sheet.max_row + 1)]
    assert sorted(names) == sorted(FORMULAS)  # as they are, only marked as text


@pytest.mark.parametrize("value", [*FORMULAS, "=1", "-", "@"])
def test_every_xlsx_written_neutralises_formula_text(value) -> None:
    """`tables.write_xlsx` is the one writer of `.xlsx` (catalog export, import templates)."""
    sheet = openpyxl.load_workbook(io.BytesIO(tables.write_xlsx(["A"], [[value]]))).active
    assert sheet["A2"].data_type == "s"
    assert sheet["A2"].quotePrefix
    assert sheet["A2"].value == value


# --- markup in data -----------------------------------------------------------------------------

MARKUP = {
    "1000001": "<script>alert(1)</script>",
    "1000002": "<b>NEGRITAS</b> & <i>CURSIVAS</i>",
    "1000003": '<img src=x onerror="alert(2)">',
}


def test_markup_in_a_name_is_text_in_the_pdf() -> None:
    for name in MARKUP.values():
        document = pdf.render(statement_of(name=name, company="<b>Bajío</b>"))
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages)
        assert name in text
        assert "<b>Bajío</b>" in text


@pytest.fixture
def markup_catalog(people, database: sessionmaker[Session]) -> None:
    with database() as session, session.begin():
        session.add(Company(code="SM02", name="<b>Bajío</b>"))
        session.flush()
        for number, name in MARKUP.items():
            session.add(Customer(company_code="SM02", customer_no=number, name=name))
        session.flush()
        for number in MARKUP:
            session.add(Recipient(company_code="SM02", customer_no=number,
                                  emails=f"c{number}@x.mx", created_by="seed",
                                  updated_by="seed"))  # fmt: skip


def assert_no_markup_rendered(at: AppTest) -> None:
    """No element of the page was allowed to render HTML but the app's own style sheet."""
    assert [h.value for h in at.get("html")] == [ui.spanish_widgets_style()]
    for element in (*at.markdown, *at.caption, *at.success, *at.error, *at.info, *at.warning):
        assert not getattr(element.proto, "allow_html", False), element.value


def test_markup_in_names_is_shown_as_text_in_the_catalog_search(markup_catalog) -> None:
    at = start("pages/catalogo_individual.py", user="ana")
    button(at, "Buscar").click()
    at.run()

    assert not at.exception
    assert sorted(at.dataframe[0].value["Nombre"]) == sorted(MARKUP.values())
    assert_no_markup_rendered(at)


def test_markup_in_names_is_shown_as_text_in_the_send_list(markup_catalog) -> None:
    at = start("pages/envio_masivo.py", user="ana")
    at.selectbox[0].select("SM02")
    button(at, "Buscar").click()
    at.run()

    assert not at.exception
    assert sorted(at.dataframe[0].value["Nombre"]) == sorted(MARKUP.values())
    assert_no_markup_rendered(at)


# --- SQL metacharacters in the catalog search ---------------------------------------------------

LITERALS = {
    "1000001": ("CIEN % ALGODON", "ventas@cien.mx"),
    "1000002": ("GUION_BAJO SA", "pagos@guion.mx"),
    "1000003": ("O'BRIEN SA", "obrien@x.mx"),
    "1000004": ("DOBLE -- GUION", "doble@x.mx"),
    "1000005": ("BARRA \\ INVERTIDA", "barra@x.mx"),
    "1000006": ("BARRA / NORMAL", "normal@x.mx"),
    "1000007": ("NADA RARO SA", "a_b@raro.mx"),
    "1000008": ("OTRO SIMPLE", "axb@simple.mx"),
}


@pytest.fixture
def literal_catalog(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions() as session, session.begin():
        session.add(Company(code="SM02", name="Bajío"))
        session.flush()
        for number, (name, _) in LITERALS.items():
            session.add(Customer(company_code="SM02", customer_no=number, name=name))
        session.flush()
        for number, (_, address) in LITERALS.items():
            session.add(Recipient(company_code="SM02", customer_no=number, emails=address,
                                  created_by="seed", updated_by="seed"))  # fmt: skip
    return sessions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%", ["1000001"]),
        ("_", ["1000002", "1000007"]),
        ("'", ["1000003"]),
        ("--", ["1000004"]),
        ("\\", ["1000005"]),
        ("/", ["1000006"]),
        ("'; DROP TABLE recipients; --", []),
        ("' OR '1'='1", []),
        ("%%", []),
        ("a_b", ["1000007"]),
        ("o'brien", ["1000003"]),
    ],
)
def test_sql_metacharacters_in_the_search_match_only_themselves(
    literal_catalog, text, expected
) -> None:
    with literal_catalog() as session:
        found = catalog.search(session, name=text)
    assert [row.customer_no for row in found.rows] == expected
    assert found.total == len(expected)
    with literal_catalog() as session:
        assert catalog.search(session).total == len(LITERALS)  # the table is still there
        content = catalog.export_xlsx(session, name=text)
    assert openpyxl.load_workbook(io.BytesIO(content)).active.max_row == 1 + len(expected)


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("company", "SM02'; DROP TABLE recipients; --"),
        ("company", "%"),
        ("customer", "1' OR '1'='1"),
        ("customer", "%"),
        ("customer", "_"),
    ],
)
def test_sql_metacharacters_in_sociedad_or_number_are_a_clear_user_error(
    literal_catalog, field, text
) -> None:
    with literal_catalog() as session, pytest.raises(InvalidValue, match="no válid"):
        catalog.search(session, **{field: text})
    with literal_catalog() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Recipient)) == len(LITERALS)


# --- secrets ------------------------------------------------------------------------------------

SECRET = "S3cr3t-de-prueba-9f2c"


def test_the_smtp_password_is_in_no_log_record_reason_or_file_of_a_refused_run(
    send_catalog, send_settings, caplog
) -> None:
    """A run against a server refusing the login: it waits with the reason, is stopped, and its
    log email waits for the server too."""
    sessions = send_catalog
    run_id = test_sending.start_run(sessions)
    caplog.set_level(logging.DEBUG)
    with MailServer(users={"envios": "la-buena"}) as server:
        options = smtp.SmtpOptions("127.0.0.1", server.port, "none", "envios", SECRET, timeout=5)
        transport = smtp.Smtp(options, sleep=test_sending.Sleeps())
        runner = worker.Worker(sessions, send_settings, transport=transport, pacer=pacing.Pacer(0))
        waited = runner.step(run_id)
        with sessions() as session, session.begin():
            shown = runs.progress(session, run_id).waiting
            runs.stop(session, run_id, username="ana")
        runner.finish_runs()
        assert not server.received

    with sessions() as session:
        run = runs.progress(session, run_id).run
        log = runlog.text(session, run)
    assert waited is not None
    assert shown == waited.reason
    assert waited.reason.startswith(
        f"{worker.WAITING}: el servidor SMTP rechazó el usuario o la contraseña"
    )
    assert run.status == RunStatus.DONE
    assert (run.log_sent_at, run.log_error, run.log_claimed_by) == (None, "", None)
    for text in (waited.reason, log, caplog.text):
        assert SECRET not in text
    assert "535" in caplog.text  # the refusal itself was logged


def test_settings_never_print_the_secrets(tmp_path) -> None:
    current = config.load_settings(
        tmp_path / "no-secrets.toml",
        {"DATA_DIR": str(tmp_path), "SMTP_PASSWORD": SECRET,
         "AUTH_COOKIE_KEY": "k" * 40 + "-clave-de-cookie-larga"},
    )  # fmt: skip
    assert current.smtp_password == SECRET
    assert SECRET not in repr(current)
    assert SECRET not in str(current)
    assert "clave-de-cookie-larga" not in repr(current)


def test_smtp_options_never_print_the_password() -> None:
    options = smtp.SmtpOptions("127.0.0.1", 25, "none", "envios", SECRET)
    assert SECRET not in repr(options)
