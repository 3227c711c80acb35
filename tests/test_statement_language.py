"""The customer's language: an `en` customer's PDF and email in English (MM/DD/YYYY dates), a
Spanish one as before, whatever the way the email is built (send, Vista previa)."""

from datetime import date

import pytest
from sqlalchemy.orm import Session, sessionmaker

from lib import languages, statements
from lib.models import Customer
from lib.statements import labels, message, pdf
from tests.test_statements import (  # noqa: F401 (fixtures)
    CLABE,
    CONTACT,
    CUTOFF,
    build,
    email_of,
    ledger,
    own_template,
    parts,
    pay_to,
    paying,
    pdf_text,
    rows,
)

ISSUED = date(2020, 3, 5)


def speaks(sessions: sessionmaker[Session], customer: str, language: str) -> None:
    with sessions() as session, session.begin():
        session.get_one(Customer, ("SM02", customer)).language = language


@pytest.fixture
def english(sessions, ledger) -> None:  # noqa: F811
    """The ledger's 1006210 and 1000001 (no items) marked `en`; SM02 with payment details."""
    paying(sessions)
    speaks(sessions, "1006210", "en")
    speaks(sessions, "1000001", "en")


def spanish_only_labels() -> list[str]:
    """The Spanish words the English statement must not print (the ones the two share, such as
    CLABE or 1–30, and the format codes left out; `de` is in Nota de crédito, a value)."""
    es, en = labels.LABELS["es"], labels.LABELS["en"]
    skip = {"html_lang", "date_format", "of"}
    return [es[key] for key in es if key not in skip and es[key] != en[key]]


def test_every_language_has_every_label() -> None:
    assert set(labels.LABELS) == set(languages.NAMES)
    assert labels.LABELS["en"].keys() == labels.LABELS["es"].keys()
    for name in (*statements.BUCKETS, statements.CREDITS):
        assert name in labels.LABELS["en"]


def test_a_customer_is_spanish_unless_marked(sessions, ledger) -> None:  # noqa: F811
    assert build(sessions).language == "es"


def test_an_english_customers_pdf_has_english_labels_and_us_dates(sessions, english) -> None:
    statement = build(sessions)
    assert statement.language == "en"
    content = pdf.render(statement, issued=ISSUED)
    text = pdf_text(content)
    for expected in (
        "Account statement as of 03/02/2020 · issued 03/05/2020",
        f"Questions about this statement: {CONTACT}",
        "Customer No.",
        "Tax ID",
        "Address",
        "Open items",
        "Aging",
        "Not due",
        "Over 90",
        "Credits / unapplied payments",
        "Payment details\nBank: BBVA México\nAccount: 0118359012\n"
        f"CLABE: {CLABE}\nReference: 1006210\nWhen paying, please quote the reference",
        "Page 1 of 1",
        "02/01/2020",  # 9000000001's document date, 1 February 2020
        "$4,434.81",
        "-$300.25",
    ):
        assert expected in text, expected
    for spanish in spanish_only_labels():
        assert spanish not in text, spanish
    assert "02/03/2020" not in text  # the fecha de corte day first
    table = rows(content)
    (header,) = [row for row in table if row[0] == "Document"]
    assert header == ["Document", "Type", "Date", "Due date", "Reference",
                      "Days overdue", "Amount", "Balance", "Currency"]  # fmt: skip
    assert ["Total MXN", "$4,434.81", "MXN"] in table


def test_an_english_customer_without_items_has_no_balance_in_english(sessions, english) -> None:
    text = pdf_text(pdf.render(build(sessions, "1000001")))
    assert "No balance: no open items as of 03/02/2020." in text
    assert "Sin saldo" not in text


def test_a_spanish_customers_pdf_keeps_its_spanish_words(sessions, english) -> None:
    """1004273 is not marked: the same sociedad, the statement as it always was."""
    text = pdf_text(pdf.render(build(sessions, "1004273"), issued=ISSUED))
    assert "Estado de cuenta al 02/03/2020 · emitido el 05/03/2020" in text
    assert "Días vencidos" in text
    assert "Página 1 de 1" in text
    for english_word in ("Account statement", "Days overdue", "Page 1 of", "Payment details"):
        assert english_word not in text, english_word


def test_an_english_customers_email_is_in_english(sessions, english, tmp_path) -> None:
    ready = email_of(build(sessions), tmp_path)
    parsed, text, html = parts(ready)
    assert parsed["Subject"] == ("Account statement as of 03/02/2020 - PEÑA & HIJOS <SA> (1006210)")
    assert text.startswith("Dear PEÑA & HIJOS <SA>:\n\n")
    assert "as of 03/02/2020 (Customer No. 1006210)" in text
    assert "Balance: MXN $4,434.81 · USD $99.99." in text
    block = (
        "Payment details:\nBank: BBVA México\nAccount: 0118359012\n"
        f"CLABE: {CLABE}\nReference: 1006210\n"
        "When paying, please quote the reference so that we can identify your payment.\n"
    )
    assert f"\n\n{block}\n" in text
    assert f"please reply to this email or write to {CONTACT}." in text
    assert '<html lang="en">' in html
    for spanish in ("Estimado", "Saldo", "Datos para pago", "Atentamente", "02/03/2020"):
        assert spanish not in text, spanish
    assert ready.attachment_name == "1006210_20261128.pdf"
    assert parsed["Reply-To"] == CONTACT


def test_a_spanish_customers_email_is_unchanged(sessions, english, tmp_path) -> None:
    _parsed, text, html = parts(email_of(build(sessions, "1004273"), tmp_path))
    assert text.startswith("Estimado cliente OTRO CLIENTE:\n\n")
    assert "Datos para pago:\nBanco: BBVA México\n" in text
    assert '<html lang="es">' in html


def test_a_sociedad_template_for_english_serves_english_customers_with_their_date(
    sessions, english, tmp_path
) -> None:
    own_template(sessions, "es", text_body="Hola {{ cliente }}, corte {{ fecha_corte }}.")
    assert email_of(build(sessions), tmp_path).body.startswith("Dear PEÑA")
    own_template(sessions, "en", text_body="Hi {{ cliente }}, cut-off {{ fecha_corte }}.")
    assert email_of(build(sessions), tmp_path).body == "Hi PEÑA & HIJOS <SA>, cut-off 03/02/2020.\n"


def test_vista_previa_uses_the_customers_language(sessions, english, tmp_path) -> None:
    with sessions() as session:
        shown = message.preview(
            session,
            "SM02",
            "1006210",
            CUTOFF,
            options=message.Options(tmp_path, "a@b.mx"),
            today=date(2026, 11, 28),
        )
    assert shown.subject.startswith("Account statement as of 03/02/2020")
    assert "Account statement as of 03/02/2020" in pdf_text(shown.pdf)
