"""A send of a sociedad that attaches its open items and invoices, through the real worker to
a real SMTP server on loopback: the files that fit go, the one over MAIL_MAX_MB is named in the
email and in the run's row, a missing invoice is said in the row, and the Excel is typed."""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from lib import config
from lib.mail import pacing
from lib.models import Company, SendItem
from lib.sending import runs, worker
from lib.ui import items_table
from tests.mailserver import MailServer
from tests.test_sending import (  # noqa: F401 (fixtures)
    catalog,
    server,
    smtp_to,
    start_run,
    statement_mails,
    work_until_idle,
)

BIG = 1_200_000  # over MAIL_MAX_MB=1 once in base64


@pytest.fixture
def attaching(catalog: sessionmaker[Session], tmp_path: Path) -> config.Settings:
    invoices = tmp_path / "facturas-erp"
    invoices.mkdir()
    (invoices / "F-1006210.xml").write_bytes(b"<cfdi:Comprobante Folio='F-1006210'/>")
    (invoices / "F-1006210.pdf").write_bytes(b"%PDF-1.4 factura F-1006210")
    (invoices / "F-1000001.pdf").write_bytes(b"%PDF-1.4 " + b"x" * BIG)
    with catalog() as session, session.begin():
        company = session.get_one(Company, "SM02")
        company.attach_open_items = True
        company.attach_invoices = True
    return config.load_settings(
        tmp_path / "no-secrets.toml",
        {
            "DATA_DIR": str(tmp_path / "data"),
            "MAIL_FROM": "Cobranza <cobranza@bajio.example>",
            "INVOICES_DIR": str(invoices),
            "MAIL_MAX_MB": "1",
        },
    )


def send(catalog, settings, server: MailServer, numbers: list[str]) -> dict[str, SendItem]:
    run_id = start_run(catalog, numbers)
    runner = worker.Worker(catalog, settings, transport=smtp_to(server.port), pacer=pacing.Pacer(0))
    work_until_idle(runner, run_id)
    with catalog() as session:
        return {item.customer_no: item for item in runs.items(session, run_id)}


def mail_to(server: MailServer, address: str):
    [received] = [m for m in statement_mails(server) if address in m.recipients]
    return received.message


def test_the_invoices_and_the_excel_go_with_the_statement(
    catalog,
    attaching,
    server: MailServer,
) -> None:
    items = send(catalog, attaching, server, ["1006210"])
    email = mail_to(server, "pagos@pena.example")
    names = [part.get_filename() for part in email.iter_attachments()]
    assert re.fullmatch(r"1006210_\d{8}\.pdf", names[0])
    assert re.fullmatch(r"1006210_\d{8}\.xlsx", names[1])
    assert sorted(names[2:]) == ["F-1006210.pdf", "F-1006210.xml"]
    assert items["1006210"].status == "sent"
    assert items["1006210"].note == ""
    workbook = openpyxl.load_workbook(io.BytesIO(next(
        p.get_content() for p in email.iter_attachments() if p.get_filename().endswith(".xlsx")
    )))  # fmt: skip
    cells = [row for row in workbook.active.iter_rows(values_only=True) if "F-1006210" in row]
    [row] = cells
    assert any(isinstance(value, datetime) for value in row)
    assert any(isinstance(value, float | int) and round(value, 2) == 1500.25 for value in row)


def test_an_invoice_over_the_budget_is_named_in_the_email_and_the_row(
    catalog,
    attaching,
    server: MailServer,
) -> None:
    items = send(catalog, attaching, server, ["1000001"])
    email = mail_to(server, "nandu@nandu.example")
    names = [part.get_filename() for part in email.iter_attachments()]
    assert "F-1000001.pdf" not in names
    text = email.get_body(preferencelist=("plain",)).get_content()
    html = email.get_body(preferencelist=("html",)).get_content()
    assert "F-1000001.pdf" in text
    assert "F-1000001.pdf" in html
    assert len(email.as_bytes()) < 1_000_000
    item = items["1000001"]
    assert item.status == "sent"
    assert "No adjuntas por tamaño (límite 1 MB): F-1000001.pdf." in item.note
    assert "F-1000001.pdf" in items_table([item])["Mensaje"][0]


def test_a_missing_invoice_is_said_in_the_row_not_to_the_customer(
    catalog,
    attaching,
    server: MailServer,
) -> None:
    items = send(catalog, attaching, server, ["1000003"])
    email = mail_to(server, "tubos@norte.example")
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert "F-1000003" not in text
    assert items["1000003"].status == "sent"
    assert items["1000003"].note == "Facturas no encontradas: F-1000003."
