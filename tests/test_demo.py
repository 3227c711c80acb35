from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from lib import app, config, demo, emails, payments
from lib.models import Company, Customer, OpenItem, Recipient

TODAY = date(2026, 11, 28)


@pytest.fixture(scope="module")
def data() -> demo.DemoData:
    return demo.build(TODAY)


def test_demo_is_deterministic_for_a_date(data: demo.DemoData) -> None:
    assert demo.build(TODAY) == data
    assert demo.build(date(2026, 12, 1)).customers == data.customers


def test_demo_has_several_sociedades_and_about_500_customers(data: demo.DemoData) -> None:
    assert len(data.companies) >= 3
    assert 450 <= len(data.customers) <= 550
    keys = [(c["company_code"], c["customer_no"]) for c in data.customers]
    assert len(set(keys)) == len(keys)
    assert ("SM02", "1006210") in keys


def test_demo_names_carry_accents_enye_ampersand_and_angle_brackets(data: demo.DemoData) -> None:
    names = " ".join(c["name"] for c in data.customers)
    for needle in ("Ñ", "É", "&", "<"):
        assert needle in names
    assert all(len(c["tax_id"]) in (12, 13) for c in data.customers if c["tax_id"])


def test_demo_has_usd_items_and_every_kind_of_document(data: demo.DemoData) -> None:
    assert {i["currency"] for i in data.open_items} == {"MXN", "USD"}
    kinds = Counter(i["doc_type"] for i in data.open_items)
    assert set(kinds) == {"Factura", "Nota de crédito", "Pago"}
    assert all(i["open_amount"] < 0 for i in data.open_items if i["doc_type"] != "Factura")


def aging_bucket(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "por vencer"
    for limit, name in ((30, "1-30"), (60, "31-60"), (90, "61-90")):
        if days_overdue <= limit:
            return name
    return "+90"


def test_demo_fills_every_aging_bucket(data: demo.DemoData) -> None:
    invoices = [i for i in data.open_items if i["doc_type"] == "Factura"]
    buckets = Counter(aging_bucket((TODAY - i["due_date"]).days) for i in invoices)
    assert set(buckets) == {"por vencer", "1-30", "31-60", "61-90", "+90"}
    assert any(i["doc_date"] > TODAY for i in data.open_items)


def test_demo_has_customers_without_balance(data: demo.DemoData) -> None:
    balance: Counter = Counter()
    for i in data.open_items:
        balance[(i["company_code"], i["customer_no"])] += i["open_amount"]
    customers = {(c["company_code"], c["customer_no"]) for c in data.customers}
    without_items = customers - set(balance)
    settled = [k for k, v in balance.items() if v == Decimal("0.00")]
    assert without_items
    assert settled


def test_demo_catalog_addresses_are_valid(data: demo.DemoData) -> None:
    assert len(data.recipients) > 100
    for entry in data.recipients:
        for address in entry["emails"].split(";"):
            assert emails.address(address) == address
            assert address.endswith(".example")


def test_demo_sociedades_have_a_contact_and_payment_details_one_without_clabe(
    data: demo.DemoData,
) -> None:
    for company in data.companies:
        assert payments.reply_to(company["reply_to"]) == company["reply_to"]
        assert company["reply_to"].endswith(".example")
        assert company["bank"]
        assert company["account"]
        assert payments.clabe(company["clabe"]) == company["clabe"]
    without = [c["code"] for c in data.companies if not c["clabe"]]
    assert without == ["SU01"]
    references = {c["payment_reference"] for c in data.companies}
    assert references == {payments.CUSTOMER_NO, payments.TAX_ID}


def test_demo_us_sociedads_customers_get_english_statements_the_others_spanish(
    data: demo.DemoData,
) -> None:
    by_company: dict[str, set[str]] = {}
    for customer in data.customers:
        by_company.setdefault(customer["company_code"], set()).add(customer["language"])
    assert by_company == {"SM02": {"es"}, "SM05": {"es"}, "SU01": {"en"}}


def test_demo_loads_only_into_an_empty_database(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        demo.load(session, TODAY)
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 500
        with pytest.raises(ValueError, match="ya tiene sociedades"):
            demo.load(session, TODAY)


def count_rows(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(model))


def test_start_loads_demo_once_when_enabled(database_url: str, tmp_path) -> None:
    settings = config.load_settings(
        tmp_path / "none.toml",
        {"DATA_DIR": str(tmp_path), "DATABASE_URL": database_url, "DEMO_DATA": "true"},
    )
    engine = app.start(settings, today=TODAY)
    assert count_rows(engine, Company) == 3
    assert app.load_demo_if_empty(engine, today=TODAY) is False
    assert count_rows(engine, OpenItem) == len(demo.build(TODAY).open_items)
    assert count_rows(engine, Recipient) == len(demo.build(TODAY).recipients)
    assert settings.outbox_dir.is_dir()
    engine.dispose()


def test_start_leaves_the_database_empty_when_demo_is_off(database_url: str, tmp_path) -> None:
    """A DATABASE_URL other than the SQLite file in DATA_DIR gets no demo data by default."""
    settings = config.load_settings(
        tmp_path / "none.toml", {"DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url}
    )
    assert settings.demo_data is False
    engine = app.start(settings)
    assert count_rows(engine, Company) == 0
    engine.dispose()


def test_the_demo_gives_sm02_a_logo_and_leaves_ones_own_alone(tmp_path) -> None:
    [installed] = demo.install_logos(tmp_path)
    assert installed == tmp_path / "logos" / "SM02.png"
    assert installed.read_bytes().startswith(b"\x89PNG")
    installed.unlink()
    (tmp_path / "logos" / "SM02.jpg").write_bytes(b"own")
    assert demo.install_logos(tmp_path) == []
    assert (tmp_path / "logos" / "SM02.jpg").read_bytes() == b"own"
