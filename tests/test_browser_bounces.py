"""Delivery truth in a real browser: the app's own worker sends the demo data's SU01 through
a real Postfix on loopback, which refuses one address at RCPT and bounces another later with
its own RFC 3464 report into the sender mailbox; `lib.cli bounces --once` reads it over IMAP
(Dovecot). The run, the catalog, the analyst's mail and `lib.cli log` all say so.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from lib.models import Recipient, User
from tests import mailstack
from tests.mailstack import ANALYST, PASSWORD, REFUSED, SENDER, STALE, USER
from tests.support import AppServer
from tests.test_browser import settle
from tests.test_browser_envio import (
    figure,
    open_send_page,
    search,
    send_first_run,
    su01_catalog,
)
from tests.test_imap_bounces import run_cli


@pytest.fixture
def through_postfix(
    with_demo_data: None, relay: mailstack.Postfix, monkeypatch: pytest.MonkeyPatch
) -> mailstack.Postfix:
    """The app (and lib.cli) sending through Postfix and reading SENDER's mailbox over IMAP."""
    settings = {"MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(relay.port),
                "SMTP_SECURITY": "none", "MAIL_FROM": f"Cobranza <{SENDER}>",
                "MAIL_RATE_PER_MINUTE": "0", "WORKERS": "1", "BOUNCE_CHECK": "imap",
                "BOUNCE_IMAP_HOST": "127.0.0.1", "BOUNCE_IMAP_PORT": str(relay.dovecot.ssl_port),
                "BOUNCE_IMAP_USER": USER, "BOUNCE_IMAP_PASSWORD": PASSWORD,
                "SSL_CERT_FILE": str(relay.dovecot.certificate)}  # fmt: skip
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return relay


def readdress_su01(database: sessionmaker[Session]) -> tuple[str, str]:
    """Every SU01 customer at a clientes.test address (Postfix delivers those), the first one
    also at REFUSED, the second only at STALE; their numbers.
    """
    catalog = su01_catalog(database)
    with database() as session, session.begin():
        session.execute(update(User).where(User.username == "ana").values(email=ANALYST))
        for index, customer in enumerate(catalog):
            emails = f"c{index}@clientes.test"
            if index == 0:
                emails += f";{REFUSED}"
            elif index == 1:
                emails = STALE
            session.execute(
                update(Recipient)
                .where(Recipient.company_code == "SU01")
                .where(Recipient.customer_no == customer.customer_no)
                .values(emails=emails)
            )
    return catalog[0].customer_no, catalog[1].customer_no


def test_a_refused_and_a_bounced_address_show_on_the_run_the_catalog_and_reach_the_analyst(
    through_postfix: mailstack.Postfix,
    people: dict[str, str],
    app_server: AppServer,
    page: Page,
    database,
    tmp_path: Path,
) -> None:
    open_send_page(page, app_server, people)  # the app loads its demo data on the first page
    refused_customer, bounced_customer = readdress_su01(database)
    total = len(su01_catalog(database))
    search(page, "SU01")
    send_first_run(page)
    expect(figure(page, "Parciales")).to_have_text("1")
    mailstack.wait_for(
        lambda: through_postfix.dovecot.count() == 1, 15, "the bounce", through_postfix
    )

    code, out, err = run_cli("bounces", "--once")

    assert code == 0, err
    assert out.splitlines()[0].startswith(f"SU01 | {bounced_customer} | {STALE} | 5.1.1 ")
    page.reload()
    settle(page)
    expect(page.get_by_role("heading", name="Envío núm. 1 · Terminado")).to_be_visible()
    expect(figure(page, "Parciales")).to_have_text("1")
    expect(figure(page, "Rebotados")).to_have_text("1")
    expect(figure(page, "Enviados")).to_have_text(str(total - 2))
    page.screenshot(path=str(tmp_path / "rebotes_envio.png"), full_page=True)

    page.goto(f"{app_server.url}/catalogo_individual")
    settle(page)
    page.get_by_text("Solo con rebotes").click()
    page.get_by_role("button", name="Buscar").click()
    settle(page)
    expect(page.get_by_text("Mostrando 1–2 de 2.")).to_be_visible()
    page.screenshot(path=str(tmp_path / "rebotes_catalogo.png"), full_page=True)

    page.goto(f"{app_server.url}/envio_masivo")
    settle(page)
    search(page, "SU01")
    warning = page.get_by_text("2 de los clientes seleccionados tienen correos que rebotaron")
    expect(warning).to_be_visible()
    warning.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "rebotes_aviso.png"), full_page=True)

    mailstack.wait_for(lambda: len(relay_mail(through_postfix)) == 2, 10, "the analyst's mail")
    subjects = sorted(str(m["Subject"]) for m in relay_mail(through_postfix))
    assert subjects[1] == "Rebotes del envío núm. 1"
    assert subjects[0].startswith("Log de envío masivo")
    code, out, _ = run_cli("log", "1")
    lines = {customer_of(line): line for line in out.splitlines()[:-1]}
    assert f"Enviado: parcial: {REFUSED}: rechazado: 550 5.1.1" in lines[refused_customer]
    assert f"Enviado: error: {STALE}: rebotó: 5.1.1" in lines[bounced_customer]
    assert "parciales 1, rebotados 1" in out.splitlines()[-1]


def relay_mail(relay: mailstack.Postfix) -> list:
    return [message_from_bytes(raw, policy=policy.default) for raw in relay.analyst_mail()]


def customer_of(line: str) -> str:
    found = re.search(r"NoCliente: (\d+)", line)
    assert found is not None, line
    return found.group(1)
