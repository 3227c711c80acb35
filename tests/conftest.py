"""Shared fixtures: settings in a temp folder, fresh databases on SQLite and PostgreSQL.

PostgreSQL: `TEST_DATABASE_URL` (a server URL whose user may create databases) is used when set;
otherwise a throwaway cluster is started from the local PostgreSQL binaries. Without them the
PostgreSQL variants skip on a laptop and fail under `CI=true`, where `.ci/run` installs them.
The mail servers (Dovecot, Postfix: tests/mailstack.py) follow the same rule.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from lib import config, db, users
from tests import mailstack, support

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def fast_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt's cost 12 is for attackers; in-process tests use the minimum, 4."""
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def unused_port() -> int:
    return support.free_port()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a PostgreSQL server where tests may create databases."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    bindir = support.pg_bindir()
    if bindir is None:
        if IN_CI:
            pytest.fail("PostgreSQL is required under CI=true; .ci/run should have installed it")
        pytest.skip("PostgreSQL binaries not found (set TEST_DATABASE_URL or install postgresql)")
    server = support.LocalPostgres(bindir)
    try:
        url = server.start()
    except (subprocess.CalledProcessError, OSError, KeyError, LookupError) as exc:
        server.stop()
        if IN_CI:
            pytest.fail(f"could not start PostgreSQL: {exc}")
        pytest.skip(f"could not start PostgreSQL: {exc}")
    yield url
    server.stop()


def _mail_server_unavailable(reason: str) -> None:
    """Skip on a laptop without the mail servers; under CI, scripts/test installs them."""
    if IN_CI:
        pytest.fail(f"{reason} (dovecot-imapd and postfix are required under CI=true)")
    pytest.skip(f"{reason} (apt-get install dovecot-imapd postfix, and run as root)")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[mailstack.Dovecot]:
    """Dovecot on loopback (tests/mailstack.py); tests wanting an empty mailbox use `mailbox`."""
    missing = mailstack.available()
    if missing:
        _mail_server_unavailable(f"not found: {missing}")
    folder = mailstack.make_folder()
    server = mailstack.Dovecot(folder)
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        _mail_server_unavailable(f"could not start dovecot: {exc}")
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postfix(dovecot: mailstack.Dovecot) -> Iterator[mailstack.Postfix]:
    """Postfix on loopback delivering the sender's mail, bounces included, to `dovecot`."""
    server = mailstack.Postfix(dovecot.root.parent, dovecot)
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        server.stop()
        _mail_server_unavailable(f"could not start postfix: {exc}")
    yield server
    server.stop()


@pytest.fixture
def mailbox(dovecot: mailstack.Dovecot) -> mailstack.Dovecot:
    """The session's Dovecot with its mailbox emptied: each test reads only its own mail."""
    dovecot.empty()
    return dovecot


@pytest.fixture
def relay(postfix: mailstack.Postfix, mailbox: mailstack.Dovecot) -> mailstack.Postfix:
    """The session's Postfix with empty catch-all, analyst and sender mailboxes."""
    postfix.empty()
    return postfix


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'envio.db'}"
        return
    server_url = request.getfixturevalue("postgres_server")
    name = f"envio_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated, empty database."""
    created = db.create_engine_for(database_url)
    db.migrate(created)
    yield created
    created.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return db.session_factory(engine)


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment of an app instance living in `tmp_path`, with no secrets file of the repo."""
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'envio.db'}",
        "DEMO_DATA": "false",
        "WORKERS": "0",
    }
    monkeypatch.setattr(config, "DEFAULT_SECRETS_FILE", tmp_path / "no-secrets.toml")
    for name in ("MAIL_TRANSPORT", "OUTBOX_DIR", "AUTH_COOKIE_KEY", "SMTP_HOST", "SMTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


PASSWORDS = {"ana": "clave-de-ana-1", "root": "clave-de-root-1"}


@pytest.fixture
def database(app_env: dict[str, str]) -> Iterator[sessionmaker[Session]]:
    """Sessions on the app instance's database, migrated."""
    engine = db.create_engine_for(app_env["DATABASE_URL"])
    db.migrate(engine)
    yield db.session_factory(engine)
    engine.dispose()


@pytest.fixture
def people(database: sessionmaker[Session]) -> dict[str, str]:
    """The analista `ana` and the admin `root` (so no first admin is generated); their passwords."""
    with database() as session, session.begin():
        for username, role in (("ana", "analista"), ("root", "admin")):
            users.create_user(session, username=username, name=username.title(),
                              email=f"{username}@e.example", role=role,
                              password=PASSWORDS[username], created_by="test")  # fmt: skip
    return PASSWORDS


@pytest.fixture
def with_demo_data(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_DATA", "true")


@pytest.fixture
def app_server(app_env: dict[str, str], unused_port: int) -> Iterator[support.AppServer]:
    """`streamlit run Home.py` on a free port, against the temp database, once healthy.

    It gets the test's environment as it is when the fixture starts: request fixtures that
    change it (e.g. `with_demo_data`) before this one.
    """
    server = support.start_app(unused_port, env=dict(os.environ))
    yield server
    server.output()


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = support.browser_executable()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="es-MX")
    opened = context.new_page()
    yield opened
    if getattr(request.node, "failed", False):
        ARTIFACTS.mkdir(exist_ok=True)
        opened.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
        (ARTIFACTS / f"{request.node.name}.html").write_text(opened.content(), encoding="utf-8")
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """Mark a failed test on its node, so fixtures can save evidence in their teardown."""
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True  # type: ignore[attr-defined]
    return report


# Fixtures that start a whole app (a `streamlit run`) or Chromium (`page` needs `browser`):
# the heaviest tests. Not `page` itself, which some AppTests use as a parameter's name.
WHOLE_APP_FIXTURES = {"app_server", "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With two pytest-xdist workers (scripts/test, `--dist loadgroup`) the tests that start
    an app or a browser all run on one worker, one at a time, as before: two of them at once
    on two cores made the grid's late reruns drop pastes. The other worker takes the rest."""
    for item in items:
        if WHOLE_APP_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("whole-app"))
