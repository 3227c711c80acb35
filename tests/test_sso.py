"""Single sign-on: who the identity provider's email lets in (unit), and Streamlit's `st.login`
against a real OpenID provider on loopback (oidc-provider-mock) in Debian's chromium.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import oidc_provider_mock
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lib import auth, users
from lib.models import AuditEvent, User
from tests import support
from tests.test_browser import settle, sidebar_links

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CLIENT_SECRET = "secreto-del-cliente-oidc-" + "x" * 8


def audit(database: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    with database() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("sso_%")).order_by(AuditEvent.id)
        )
        return [(e.username, e.action, e.details) for e in events]


@pytest.mark.parametrize(
    ("email", "verified", "expected", "reason"),
    [
        ("ana@e.example", True, "ana", "ana@e.example"),
        ("ANA@E.Example", True, "ana", "ana@e.example"),
        ("ana@e.example", False, None, "correo no verificado por el proveedor"),
        ("nadie@e.example", True, None, "sin usuario"),
        ("", True, None, "correo no verificado por el proveedor"),
    ],
)
def test_sso_lets_in_the_one_active_user_with_that_email(
    people, database, email: str, verified: bool, expected: str | None, reason: str
) -> None:
    with database() as session, session.begin():
        user = auth.sso_login(session, email, verified=verified, now=NOW)
        assert (user.username if user else None) == expected
    assert audit(database)[-1][2] == reason


def test_sso_refuses_a_deactivated_user_and_an_email_shared_by_two(people, database) -> None:
    with database() as session, session.begin():
        session.scalar(select(User).where(User.username == "ana")).active = False
        users.create_user(session, username="root2", name="Otro", email="root@e.example",
                          role="admin", password="clave-larga-1", created_by="t")  # fmt: skip
    with database() as session, session.begin():
        assert auth.sso_login(session, "ana@e.example", verified=True, now=NOW) is None
        assert auth.sso_login(session, "root@e.example", verified=True, now=NOW) is None
    assert [r for _, _, r in audit(database)] == ["desactivado", "ambiguo"]


def test_auto_creation_makes_an_analista_only_for_the_configured_domain(people, database) -> None:
    with database() as session, session.begin():
        new = auth.sso_login(session, "Lucia.Perez@Finanzas.example", verified=True, now=NOW,
                             auto_create_domain="finanzas.example")  # fmt: skip
        other = auth.sso_login(session, "x@otra.example", verified=True, now=NOW,
                               auto_create_domain="finanzas.example")  # fmt: skip
        assert (new.username, new.role, new.email) == (
            "lucia.perez",
            "analista",
            "lucia.perez@finanzas.example",
        )
        assert other is None
        again = auth.sso_login(session, "lucia.perez@finanzas.example", verified=True, now=NOW,
                               auto_create_domain="finanzas.example")  # fmt: skip
        assert again.username == "lucia.perez"


@pytest.fixture
def provider() -> Iterator[str]:
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def claims(provider: str, sub: str, email: str) -> None:
    response = httpx.put(f"{provider}/users/{quote(sub)}",
                         json={"email": email, "email_verified": True, "name": sub})  # fmt: skip
    assert response.status_code == 204


@pytest.fixture
def sso_app(
    app_env: dict[str, str], people, provider: str, unused_port: int, tmp_path: Path, request
) -> Iterator[support.AppServer]:
    """The app with an `[auth]` section pointing at the loopback provider."""
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://localhost:{unused_port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        'client_id = "envio-masivo"\n'
        f'client_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "PASSWORD_LOGIN": getattr(request, "param", "true")}
    server = support.start_app(unused_port, env=env, options=(f"--secrets.files={secrets_file}",))
    server.url = f"http://localhost:{unused_port}"
    yield server
    assert CLIENT_SECRET not in server.output()


def sso_log_in(page: Page, app: support.AppServer, sub: str) -> None:
    page.goto(app.url)
    expect(page.get_by_role("button", name="Ingresar con Microsoft")).to_be_visible(timeout=30_000)
    settle(page)
    page.get_by_role("button", name="Ingresar con Microsoft").click()
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(re.escape(app.url)))
    settle(page)


def test_an_existing_active_user_lands_on_their_role_pages(
    sso_app: support.AppServer, provider: str, page: Page, database
) -> None:
    claims(provider, "ana-entra", "ana@e.example")

    sso_log_in(page, sso_app, "ana-entra")

    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible(timeout=30_000)
    assert "Usuarios" not in sidebar_links(page)
    assert "Envío masivo estado de cuenta" in sidebar_links(page)
    assert ("ana", "sso_login", "ana@e.example") in audit(database)


def test_an_unknown_email_is_refused_with_a_clear_message(
    sso_app: support.AppServer, provider: str, page: Page, database
) -> None:
    claims(provider, "extrano", "extrano@otra.example")

    sso_log_in(page, sso_app, "extrano")

    expect(
        page.get_by_text("Tu cuenta no tiene acceso; pide acceso a un administrador.")
    ).to_be_visible()
    assert sidebar_links(page) == []
    assert ("extrano@otra.example", "sso_refused", "sin usuario") in audit(database)


def test_deactivation_and_role_change_apply_on_the_next_run(
    sso_app: support.AppServer, provider: str, page: Page, database
) -> None:
    claims(provider, "ana-entra", "ana@e.example")
    sso_log_in(page, sso_app, "ana-entra")
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible(timeout=30_000)

    with database() as session, session.begin():
        users.set_role(session, "ana", "admin", by="root")
    page.goto(f"{sso_app.url}/usuarios")
    expect(page.get_by_role("heading", name="Usuarios")).to_be_visible(timeout=30_000)

    with database() as session, session.begin():
        users.set_active(session, "ana", False, by="root")
    page.goto(f"{sso_app.url}/inicio")
    expect(
        page.get_by_text("Tu cuenta no tiene acceso; pide acceso a un administrador.")
    ).to_be_visible(timeout=30_000)


def test_logout_ends_our_session_and_the_providers_cookie(
    sso_app: support.AppServer, provider: str, page: Page
) -> None:
    claims(provider, "ana-entra", "ana@e.example")
    sso_log_in(page, sso_app, "ana-entra")
    assert [c for c in page.context.cookies() if c["name"].startswith("_streamlit_user")]

    page.get_by_role("button", name="Cerrar sesión").click()
    end_session = page.get_by_role("button", name="End session")
    sso_button = page.get_by_role("button", name="Ingresar con Microsoft")
    expect(end_session.or_(sso_button)).to_be_visible(timeout=30_000)
    if end_session.is_visible():
        end_session.click()
    page.wait_for_url(re.compile(re.escape(sso_app.url)))
    page.goto(sso_app.url)

    expect(sso_button).to_be_visible(timeout=30_000)
    assert not [c for c in page.context.cookies() if c["name"].startswith("_streamlit_user")]


@pytest.mark.parametrize("sso_app", ["false"], indirect=True)
def test_with_password_login_off_only_the_provider_button_is_there(
    sso_app: support.AppServer, page: Page
) -> None:
    page.goto(sso_app.url)
    expect(page.get_by_role("button", name="Ingresar con Microsoft")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("textbox", name="Contraseña")).to_have_count(0)
