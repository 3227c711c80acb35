"""Database tables as SQLAlchemy 2.0 typed models.

Money is stored as integer cents (exact on SQLite and PostgreSQL alike, and summed exactly in
SQL); timestamps are stored as naive UTC and handed back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from lib import normalize

CENT = Decimal("0.01")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Money(TypeDecorator[Decimal]):
    """A `Decimal` amount with two decimals, kept as integer cents."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: object) -> int | None:
        if value is None:
            return None
        cents = Decimal(value) / CENT
        if cents != cents.to_integral_value():
            raise ValueError(f"amount {value} has more than two decimals")
        return int(cents)

    def process_result_value(self, value: int | None, dialect: object) -> Decimal | None:
        return None if value is None else (Decimal(int(value)) * CENT)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Company(Base):
    """A sociedad: legal entity, keyed by its SAP company code."""

    __tablename__ = "companies"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tax_id: Mapped[str] = mapped_column(String(20), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    currency: Mapped[str] = mapped_column(String(3), default="MXN")
    # The statement email's From (empty: the MAIL_FROM setting) and the sociedad's own copies;
    # CC and BCC are `emails.SEPARATOR`-joined addresses checked like catalog ones.
    sender_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    sender_email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    cc: Mapped[str] = mapped_column(Text, default="", server_default="")
    bcc: Mapped[str] = mapped_column(Text, default="", server_default="")
    # What goes with the statement PDF: the open items as Excel, the invoices' files.
    attach_open_items: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attach_invoices: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Where the customer's replies go (the statement email's Reply-To), printed on the statement
    # as the sociedad's contact; checked like a catalog address (`lib.payments`).
    reply_to: Mapped[str] = mapped_column(String(254), default="", server_default="")
    # Datos para pago, printed on the statement and in the email; empty ones are left out.
    bank: Mapped[str] = mapped_column(String(100), default="", server_default="")
    account: Mapped[str] = mapped_column(String(40), default="", server_default="")
    clabe: Mapped[str] = mapped_column(String(18), default="", server_default="")
    # Which of the customer's values they quote when paying: `customer_no` or `tax_id`.
    payment_reference: Mapped[str] = mapped_column(
        String(20), default="customer_no", server_default="customer_no"
    )


class CompanyTemplate(Base):
    """A sociedad's own email for customers of one language; an empty field is the default
    file's (`lib/templates/`). Typed in Administración › Sociedades and checked there before
    it is saved (`lib.mail_templates`)."""

    __tablename__ = "company_templates"

    company_code: Mapped[str] = mapped_column(
        ForeignKey("companies.code", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(2), primary_key=True)
    subject: Mapped[str] = mapped_column(Text, default="", server_default="")
    text_body: Mapped[str] = mapped_column(Text, default="", server_default="")
    html_body: Mapped[str] = mapped_column(Text, default="", server_default="")


class Customer(Base):
    __tablename__ = "customers"

    company_code: Mapped[str] = mapped_column(
        ForeignKey("companies.code", ondelete="CASCADE"), primary_key=True
    )
    customer_no: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The name folded (lower case, no accents) so a search for "pena" finds "PEÑA" quickly
    # on any database; filled by `search_name()` wherever customers are written.
    search_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    tax_id: Mapped[str] = mapped_column(String(20), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    # The language of the customer's statement and email: `es` or `en` (`lib.languages`).
    language: Mapped[str] = mapped_column(String(2), default="es", server_default="es")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def search_name(name: str) -> str:
    return normalize.fold(name)


@event.listens_for(Customer, "before_insert")
@event.listens_for(Customer, "before_update")
def _fill_search_name(_mapper: object, _connection: object, customer: Customer) -> None:
    customer.search_name = search_name(customer.name)


class OpenItemFields:
    """An open item's columns, the same for the live ones and for those an import replaced."""

    company_code: Mapped[str] = mapped_column(String(10))
    customer_no: Mapped[str] = mapped_column(String(20))
    doc_no: Mapped[str] = mapped_column(String(40))
    doc_type: Mapped[str] = mapped_column(String(40))
    doc_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(100), default="")
    # The CFDI's folio fiscal (UUID), when the import has it: an invoice file may be named by it.
    cfdi_uuid: Mapped[str] = mapped_column(String(36), default="", server_default="")
    amount: Mapped[Decimal] = mapped_column(Money)
    open_amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))


class OpenItem(OpenItemFields, Base):
    """An open item (partida abierta) of a customer: invoice, credit note or payment."""

    __tablename__ = "open_items"
    __table_args__ = (
        ForeignKeyConstraint(
            ["company_code", "customer_no"],
            ["customers.company_code", "customers.customer_no"],
            ondelete="CASCADE",
        ),
        Index("ix_open_items_customer", "company_code", "customer_no"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class OpenItemImport(Base):
    """The last open-items import of a sociedad, kept with the items it replaced so that it
    can be undone: an import is a full snapshot, and a file of "just the new invoices" would
    otherwise lose every other open item for good. One per sociedad; a newer import drops it.
    """

    __tablename__ = "open_item_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("companies.code", ondelete="CASCADE"), unique=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    username: Mapped[str] = mapped_column(String(80))
    filename: Mapped[str] = mapped_column(String(255))
    replaced: Mapped[int] = mapped_column(Integer)
    imported: Mapped[int] = mapped_column(Integer)


class ReplacedOpenItem(OpenItemFields, Base):
    """An open item as it was before the import `import_id` replaced it."""

    __tablename__ = "replaced_open_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(
        ForeignKey("open_item_imports.id", ondelete="CASCADE"), index=True
    )


class Recipient(Base):
    """A catalog entry: this customer gets its statement at these `;`-separated addresses."""

    __tablename__ = "recipients"
    __table_args__ = (
        ForeignKeyConstraint(
            ["company_code", "customer_no"],
            ["customers.company_code", "customers.customer_no"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("company_code", "customer_no", name="uq_recipients_customer"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_code: Mapped[str] = mapped_column(String(10))
    customer_no: Mapped[str] = mapped_column(String(20))
    emails: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SendRun(Base):
    """One bulk send (envío masivo): who asked, for what, and how it is going."""

    __tablename__ = "send_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_by: Mapped[str] = mapped_column(String(80))
    notify_email: Mapped[str] = mapped_column(String(254))
    company_code: Mapped[str | None] = mapped_column(String(10))
    customer_filter: Mapped[str | None] = mapped_column(Text)
    cutoff_date: Mapped[date] = mapped_column(Date)
    # The day the send runs, in the app's time zone: it names the attachments and the log.
    run_date: Mapped[date] = mapped_column(Date)
    skip_zero_balance: Mapped[bool] = mapped_column(Boolean, default=False)
    retry_of: Mapped[int | None] = mapped_column(ForeignKey("send_runs.id", ondelete="SET NULL"))
    # Set when a schedule (Programados) created the run rather than a person's Procesar.
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    # Why a run has nobody in it, or who it left out: said on screen and in the log email.
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    # Counts are final figures written when the run ends; progress is counted from the items.
    total: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    uncertain: Mapped[int] = mapped_column(Integer, default=0)
    partial: Mapped[int] = mapped_column(Integer, default=0)
    # Customers whose every address bounced after the server took the message.
    bounced: Mapped[int] = mapped_column(Integer, default=0)
    log_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    log_error: Mapped[str] = mapped_column(Text, default="")
    # The worker that closed the run sends its log. If it is gone before recording the outcome,
    # another worker sends the log again: the analyst may get it twice, never not at all.
    log_claimed_by: Mapped[str | None] = mapped_column(String(100))
    log_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


CLAIMABLE = text("status = 'pending' AND claimed_by IS NULL")


class SendItem(Base):
    """One customer of a send run: pending → sending → sent | partial | failed | uncertain, or
    skipped."""

    __tablename__ = "send_items"
    __table_args__ = (
        UniqueConstraint("run_id", "company_code", "customer_no", name="uq_send_items_customer"),
        Index("ix_send_items_run_status", "run_id", "status"),
        Index("ix_send_items_status", "status"),
        # Only the items a worker can claim, in claim order: a claim reads the first entry.
        Index("ix_send_items_claimable", "id", sqlite_where=CLAIMABLE, postgresql_where=CLAIMABLE),
        Index(
            "ix_send_items_claimable_run",
            "run_id",
            "id",
            sqlite_where=CLAIMABLE,
            postgresql_where=CLAIMABLE,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("send_runs.id", ondelete="CASCADE"))
    company_code: Mapped[str] = mapped_column(String(10))
    customer_no: Mapped[str] = mapped_column(String(20))
    customer_name: Mapped[str] = mapped_column(String(200))
    emails: Mapped[str] = mapped_column(Text, default="")
    attachment_name: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error: Mapped[str] = mapped_column(Text, default="")
    # What the email lacked though it went out (an invoice not found, or over MAIL_MAX_MB).
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A bounce quotes it: the item it reports on is found by it.
    message_id: Mapped[str | None] = mapped_column(String(250), index=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))


class SendAddress(Base):
    """What became of one address of a send item: the server took it, refused it (at RCPT), or
    took it and a bounce came back later. `reason` keeps the server's or the DSN's words.
    """

    __tablename__ = "send_addresses"
    __table_args__ = (UniqueConstraint("item_id", "address", name="uq_send_addresses_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("send_items.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A bounce that arrived after the run's log went out is told in a "Rebotes del envío"
    # email; set when that email (or the log itself) told the analyst.
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AddressBounce(Base):
    """A catalog address that bounced for good or was refused for good: the catalog and the
    next send warn about it until an analyst changes the customer's addresses.
    """

    __tablename__ = "address_bounces"
    __table_args__ = (
        UniqueConstraint("company_code", "customer_no", "address", name="uq_address_bounces_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_code: Mapped[str] = mapped_column(String(10))
    customer_no: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("send_runs.id", ondelete="SET NULL"))


class MailboxCheck(Base):
    """The bounce reader of one sender mailbox: how far it has read (`cursor`, the reader's
    own bookmark), when it reads next, and which worker reads it now (one at a time, across
    processes and machines).
    """

    __tablename__ = "mailbox_checks"

    mailbox: Mapped[str] = mapped_column(String(300), primary_key=True)
    cursor: Mapped[str] = mapped_column(Text, default="")
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str] = mapped_column(Text, default="")


class MailboxPace(Base):
    """The next moment a message may leave a sender mailbox: one row per From address, taken
    under a lock by whichever worker sends next, on any machine.
    """

    __tablename__ = "mailbox_pace"

    mailbox: Mapped[str] = mapped_column(String(254), primary_key=True)
    next_slot: Mapped[datetime] = mapped_column(UTCDateTime)


class MailboxUse(Base):
    """Recipients a sender mailbox was given at a moment, kept for a day: its daily limit
    counts them over the last 24 hours.
    """

    __tablename__ = "mailbox_use"
    __table_args__ = (Index("ix_mailbox_use_mailbox_at", "mailbox", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(254))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    recipients: Mapped[int] = mapped_column(Integer)


class Schedule(Base):
    """A send the workers start by themselves (Envío masivo › Programados): which customers,
    which fecha de corte, and when, in the app's TIMEZONE. Its runs are started by, and their
    logs go to, its owner. Deleted ones stay (status `deleted`) so their runs still say
    "programado".
    """

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_due", "status", "next_run_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_code: Mapped[str] = mapped_column(
        String(10), ForeignKey("companies.code", ondelete="CASCADE")
    )
    # `;`-separated No. Cliente; empty for every catalog customer of the sociedad.
    customers: Mapped[str] = mapped_column(Text, default="")
    cutoff_rule: Mapped[str] = mapped_column(String(20))
    cutoff_day: Mapped[int | None] = mapped_column(Integer)
    skip_zero_balance: Mapped[bool] = mapped_column(Boolean, default=False)
    frequency: Mapped[str] = mapped_column(String(10))
    day_of_month: Mapped[int | None] = mapped_column(Integer)
    weekday: Mapped[int | None] = mapped_column(Integer)  # 0 is Monday
    once_on: Mapped[date | None] = mapped_column(Date)
    at_time: Mapped[time] = mapped_column(Time)  # wall-clock time in TIMEZONE
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    # The next occurrence not yet run or skipped; None once nothing is left to run.
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduleOccurrence(Base):
    """What became of one due moment of a schedule: the run it created, or why none. Unique
    per schedule and moment, so two workers cannot both run it.
    """

    __tablename__ = "schedule_occurrences"
    __table_args__ = (
        UniqueConstraint("schedule_id", "due_at", name="uq_schedule_occurrences_due"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("send_runs.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    worker: Mapped[str] = mapped_column(String(100), default="")


class AuditEvent(Base):
    """Who changed what and when (catalog, users, imports), kept for later questions."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_key: Mapped[str] = mapped_column(String(100), default="")
    details: Mapped[str] = mapped_column(Text, default="")
