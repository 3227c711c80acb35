from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from lib import db
from lib.models import Base, Company, CompanyTemplate, Customer, OpenItem, Recipient, User


def head_revision(engine: Engine) -> str:
    return ScriptDirectory.from_config(db.alembic_config(engine)).get_current_head()


def test_migrations_create_the_schema_the_models_describe(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    assert db.current_revision(engine) == head_revision(engine)


def test_migrating_twice_changes_nothing(engine: Engine) -> None:
    before = sorted(sa.inspect(engine).get_table_names())
    db.migrate(engine)
    assert sorted(sa.inspect(engine).get_table_names()) == before
    assert {
        "companies",
        "customers",
        "open_items",
        "recipients",
        "send_runs",
        "send_items",
        "users",
        "audit_events",
    } <= set(before)


def test_an_empty_database_has_no_revision_until_migrated(database_url: str) -> None:
    fresh = db.create_engine_for(database_url)
    assert db.current_revision(fresh) is None
    db.migrate(fresh)
    assert db.current_revision(fresh) == head_revision(fresh)
    fresh.dispose()


def add_customer(session: Session, code: str = "SM02", number: str = "1006210") -> None:
    session.add(Company(code=code, name="Soluciones Hidráulicas", tax_id="", address=""))
    session.add(Customer(company_code=code, customer_no=number, name="PEÑA & HIJOS <SA>"))
    session.flush()


def test_money_round_trips_exactly(sessions: sessionmaker[Session]) -> None:
    amounts = [Decimal("1234567890123.45"), Decimal("-0.01"), Decimal("0.10"), Decimal("99.99")]
    with sessions() as session, session.begin():
        add_customer(session)
        for index, amount in enumerate(amounts):
            session.add(
                OpenItem(
                    company_code="SM02",
                    customer_no="1006210",
                    doc_no=str(index),
                    doc_type="Factura",
                    doc_date=date(2020, 3, 2),
                    due_date=date(2020, 4, 1),
                    reference="",
                    amount=amount,
                    open_amount=amount,
                    currency="MXN",
                )
            )
    with sessions() as session:
        stored = list(session.scalars(sa.select(OpenItem.amount).order_by(OpenItem.doc_no)))
        total = session.scalar(sa.select(sa.func.sum(OpenItem.open_amount)))
    assert stored == amounts
    assert all(isinstance(value, Decimal) for value in stored)
    assert total == sum(amounts)


def test_money_with_fractions_of_a_cent_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        add_customer(session)
        session.add(
            OpenItem(
                company_code="SM02",
                customer_no="1006210",
                doc_no="1",
                doc_type="Factura",
                doc_date=date(2020, 3, 2),
                due_date=date(2020, 3, 2),
                amount=Decimal("1.005"),
                open_amount=Decimal("1.005"),
                currency="MXN",
            )
        )
        with pytest.raises(StatementError, match="more than two decimals"):
            session.flush()


def test_timestamps_come_back_in_utc(sessions: sessionmaker[Session]) -> None:
    mexico_city = timezone(timedelta(hours=-6))
    moment = datetime(2020, 3, 2, 9, 30, tzinfo=mexico_city)
    with sessions() as session, session.begin():
        session.add(
            User(
                username="ana",
                name="Ana",
                email="ana@empresa.example",
                password_hash="x",
                role="analista",
                last_login_at=moment,
            )
        )
    with sessions() as session:
        stored = session.scalar(sa.select(User.last_login_at))
    assert stored == moment
    assert stored.tzinfo == UTC


def test_foreign_keys_are_enforced(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.add(
            Recipient(
                company_code="XX01",
                customer_no="1",
                emails="a@b.mx",
                created_by="t",
                updated_by="t",
            )
        )
        with pytest.raises(IntegrityError):
            session.flush()


def test_one_catalog_entry_per_customer(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        add_customer(session)
        for emails in ("a@b.mx", "c@d.mx"):
            session.add(
                Recipient(
                    company_code="SM02",
                    customer_no="1006210",
                    emails=emails,
                    created_by="t",
                    updated_by="t",
                )
            )
        with pytest.raises(IntegrityError):
            session.flush()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    engine = db.create_engine_for(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_relative_sqlite_path_is_taken_from_the_project_root() -> None:
    engine = db.create_engine_for("sqlite:///data/envio.db")
    assert engine.url.database == str(db.PROJECT_ROOT / "data" / "envio.db")
    engine.dispose()


def insert_old_rows(engine: Engine, *, customer: bool) -> None:
    """SM02 (and its customer 1006210) written with the columns every revision has, as a
    database from before a migration holds them."""
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO companies (code, name, tax_id, address, currency) "
                "VALUES ('SM02', 'Bajío', '', '', 'MXN')"
            )
        )
        if customer:
            connection.execute(
                sa.text(
                    "INSERT INTO customers (company_code, customer_no, name, tax_id, address, "
                    "updated_at) VALUES ('SM02', '1006210', 'PEÑA & HIJOS', '', '', '2026-01-01')"
                )
            )


def test_upgrading_an_existing_database_fills_the_search_name(database_url: str) -> None:
    engine = db.create_engine_for(database_url)
    command.upgrade(db.alembic_config(engine), "0001")
    insert_old_rows(engine, customer=True)
    db.migrate(engine)
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT search_name FROM customers")) == "pena & hijos"
    engine.dispose()


def test_a_sociedad_from_before_0012_has_no_payment_details_and_quotes_its_no_cliente(
    database_url: str,
) -> None:
    engine = db.create_engine_for(database_url)
    command.upgrade(db.alembic_config(engine), "0011")
    insert_old_rows(engine, customer=False)
    db.migrate(engine)
    with Session(engine) as session:
        company = session.get_one(Company, "SM02")
        stored = (company.reply_to, company.bank, company.account, company.clabe)
        assert (*stored, company.payment_reference) == ("", "", "", "", "customer_no")
    command.downgrade(db.alembic_config(engine), "0011")
    assert "clabe" not in {c["name"] for c in sa.inspect(engine).get_columns("companies")}
    engine.dispose()


def test_a_customer_from_before_0013_gets_its_statement_in_spanish(database_url: str) -> None:
    engine = db.create_engine_for(database_url)
    command.upgrade(db.alembic_config(engine), "0012")
    insert_old_rows(engine, customer=True)
    db.migrate(engine)
    with Session(engine) as session:
        assert session.get_one(Customer, ("SM02", "1006210")).language == "es"
    command.downgrade(db.alembic_config(engine), "0012")
    assert "language" not in {c["name"] for c in sa.inspect(engine).get_columns("customers")}
    engine.dispose()


def test_0014_keeps_a_sociedads_customers_and_moves_its_templates_to_both_languages(
    database_url: str,
) -> None:
    engine = db.create_engine_for(database_url)
    command.upgrade(db.alembic_config(engine), "0013")
    insert_old_rows(engine, customer=True)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE companies SET email_subject_template = :subject, "
                "email_body_template = :body"
            ),
            {"subject": "Estado {{ no_cliente }}", "body": "Hola {{ cliente }}"},
        )
    db.migrate(engine)
    with Session(engine) as session:
        assert session.get_one(Customer, ("SM02", "1006210")).name == "PEÑA & HIJOS"
        company = session.get_one(Company, "SM02")
        assert (company.sender_email, company.cc, company.attach_invoices) == ("", "", False)
        templates = session.scalars(select(CompanyTemplate).order_by(CompanyTemplate.language))
        assert [(t.language, t.subject, t.text_body, t.html_body) for t in templates] == [
            ("en", "Estado {{ no_cliente }}", "Hola {{ cliente }}", ""),
            ("es", "Estado {{ no_cliente }}", "Hola {{ cliente }}", ""),
        ]
    command.downgrade(db.alembic_config(engine), "0013")
    with engine.connect() as connection:
        assert connection.execute(
            sa.text("SELECT email_subject_template, email_body_template FROM companies")
        ).one() == ("Estado {{ no_cliente }}", "Hola {{ cliente }}")
        assert connection.scalar(sa.text("SELECT count(*) FROM customers")) == 1
    engine.dispose()
