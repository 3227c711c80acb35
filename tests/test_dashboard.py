from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from lib import dashboard, formatting
from lib.models import Company, Customer, OpenItem, Recipient


def test_summaries_count_per_sociedad_and_keep_currencies_apart(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        session.add_all([Company(code="SM05", name="Peñasco"), Company(code="SM02", name="Bajío")])
        session.flush()
        session.add_all(
            [Customer(company_code="SM05", customer_no=str(n), name=f"C{n}") for n in (1, 2, 3)]
        )
        session.flush()
        session.add(
            Recipient(
                company_code="SM05",
                customer_no="1",
                emails="a@b.mx",
                created_by="t",
                updated_by="t",
            )
        )
        for number, amount, currency in (
            (1, "100.10", "MXN"),
            (2, "-0.10", "MXN"),
            (3, "5", "USD"),
        ):
            session.add(
                OpenItem(
                    company_code="SM05",
                    customer_no=str(number),
                    doc_no="1",
                    doc_type="Factura",
                    doc_date=date(2020, 1, 1),
                    due_date=date(2020, 1, 1),
                    amount=Decimal(amount),
                    open_amount=Decimal(amount),
                    currency=currency,
                )
            )
    with sessions() as session:
        bajio, penasco = dashboard.company_summaries(session)
    assert (bajio.code, bajio.customers, bajio.catalog_entries, bajio.balance) == ("SM02", 0, 0, {})
    assert (penasco.customers, penasco.catalog_entries, penasco.open_items) == (3, 1, 3)
    assert penasco.balance == {"MXN": Decimal("100.00"), "USD": Decimal("5.00")}
    assert formatting.balances(penasco.balance) == "MXN $100.00 · USD $5.00"


def test_money_and_dates_use_mexican_formats() -> None:
    assert formatting.money(Decimal("1234567.891")) == "$1,234,567.89"
    assert formatting.money(Decimal("-0.005")) == "-$0.01"
    assert formatting.money(Decimal("0")) == "$0.00"
    assert formatting.day(date(2020, 3, 2)) == "02/03/2020"
    noon_utc = datetime(2026, 11, 28, 18, 5, tzinfo=UTC)
    assert formatting.moment(noon_utc, ZoneInfo("America/Mexico_City")) == "28/11/2026 12:05"
