"""Estado de cuenta: a customer's open items at a fecha de corte, aged, with totals per currency.

Amounts stay `Decimal` and are rounded only when shown; currencies are never added together.
Credit notes and payments are open items with negative amounts and reduce the balance.

Aging: what the customer owes (a positive open amount) is aged by its due date; payments and
credit notes not yet applied (a negative open amount) owe nothing and have no age, so they
are one line of their own, CREDITS, instead of a negative amount in a bucket that a customer
would phone about. The buckets plus that line make the balance, per currency.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from lib import emails, languages, normalize, payments
from lib.models import Company, CompanyTemplate, Customer, OpenItem

NOT_DUE = "Por vencer"
BUCKETS = (NOT_DUE, "1–30", "31–60", "61–90", "Más de 90")
BUCKET_LIMITS = ((0, NOT_DUE), (30, "1–30"), (60, "31–60"), (90, "61–90"))
CREDITS = "Saldos a favor / pagos por aplicar"
ZERO = Decimal("0")


@dataclass(frozen=True)
class Party:
    """The sociedad or the customer as printed on the statement."""

    code: str
    name: str
    tax_id: str
    address: str


@dataclass(frozen=True)
class Payment:
    """Datos para pago: where to pay and what to quote. Only the sociedad's values that are set
    are printed; a sociedad with none has no `Payment` at all."""

    bank: str
    account: str
    clabe: str
    reference: str  # the customer's No. Cliente or RFC, as the sociedad asks

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        """(label key, value) in print order, without the empty ones; `labels.payment_rows`
        gives them their words."""
        fields = (
            ("bank", self.bank),
            ("account", self.account),
            ("clabe", self.clabe),
            ("payment_reference", self.reference),
        )
        return tuple((key, value) for key, value in fields if value)


@dataclass(frozen=True)
class Template:
    """A sociedad's own email for the customer's language; "" is the default file's."""

    subject: str = ""
    text_body: str = ""
    html_body: str = ""


@dataclass(frozen=True)
class Sender:
    """Who the email is from and who else gets it: the sociedad's From ("" is MAIL_FROM's), its
    CC and BCC. The customer's status is about the customer's addresses only."""

    name: str = ""
    email: str = ""
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()


@dataclass(frozen=True)
class Line:
    doc_no: str
    doc_type: str
    doc_date: date
    due_date: date
    reference: str
    days_overdue: int
    amount: Decimal
    open_amount: Decimal
    currency: str
    cfdi_uuid: str = ""

    @property
    def bucket(self) -> str:
        return bucket(self.days_overdue)

    @property
    def is_credit(self) -> bool:
        """A payment or credit note not yet applied: it reduces the balance, owes nothing."""
        return self.open_amount < ZERO


@dataclass(frozen=True)
class Statement:
    company: Party
    customer: Party
    cutoff_date: date
    lines: tuple[Line, ...]
    # The sociedad's own email (Jinja2) for the customer's language, where it has one.
    template: Template = Template()
    sender: Sender = Sender()
    # The sociedad's choice of what goes with the PDF (`lib.statements.attachments`).
    attach_open_items: bool = False
    attach_invoices: bool = False
    payment: Payment | None = None
    # The sociedad's contact: printed on the statement, the email's Reply-To.
    reply_to: str = ""
    # The customer's language (`lib.languages`): the statement's words and the email template.
    language: str = languages.DEFAULT

    @property
    def currencies(self) -> list[str]:
        return sorted({line.currency for line in self.lines})

    @property
    def totals(self) -> dict[str, Decimal]:
        """Balance per currency."""
        sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for line in self.lines:
            sums[line.currency] += line.open_amount
        return dict(sorted(sums.items()))

    @property
    def overdue(self) -> dict[str, Decimal]:
        """Per currency, what is past its due date (charges only); no entry for none."""
        sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for line in self.lines:
            if not line.is_credit and line.days_overdue > 0:
                sums[line.currency] += line.open_amount
        return {currency: total for currency, total in sorted(sums.items()) if total != ZERO}

    @property
    def credits(self) -> dict[str, Decimal]:
        """Per currency, the payments and credit notes not applied yet (negative); no entry for
        none. Buckets plus these make the balance, so an overdue amount above the balance is
        explained by them."""
        sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for line in self.lines:
            if line.is_credit:
                sums[line.currency] += line.open_amount
        return dict(sorted(sums.items()))

    @property
    def aging_rows(self) -> tuple[str, ...]:
        """The buckets, and CREDITS when any line is a payment or credit note not applied."""
        return (*BUCKETS, CREDITS) if any(line.is_credit for line in self.lines) else BUCKETS

    @property
    def aging(self) -> dict[str, dict[str, Decimal]]:
        """Per currency, the open amount in each of `aging_rows` (all present, in order)."""
        rows = self.aging_rows
        table = {currency: dict.fromkeys(rows, ZERO) for currency in self.currencies}
        for line in self.lines:
            table[line.currency][CREDITS if line.is_credit else line.bucket] += line.open_amount
        return table

    @property
    def has_balance(self) -> bool:
        return any(total != ZERO for total in self.totals.values())


def bucket(days_overdue: int) -> str:
    """0 days or less is not due yet; 1–30, 31–60, 61–90 and more than 90 days overdue."""
    for limit, name in BUCKET_LIMITS:
        if days_overdue <= limit:
            return name
    return BUCKETS[-1]


def build(
    session: Session,
    company: str,
    customer_no: str,
    cutoff: date,
    *,
    draft: Company | None = None,
    drafts: dict[str, CompanyTemplate] | None = None,
) -> Statement:
    """The statement of one customer; an unknown customer is a user error, said in Spanish.

    Administración › Sociedades previews what its form says before it is saved: `draft` (a
    `Company` not in the session) and `drafts` (its templates by language) stand in for what
    the database holds.
    """
    code, number = normalize.company_code(company), normalize.customer_no(customer_no)
    found = session.execute(
        select(Company, Customer)
        .join(Customer, Customer.company_code == Company.code)
        .where(Customer.company_code == code, Customer.customer_no == number)
    ).first()
    if found is None:
        raise normalize.InvalidValue(
            f"el cliente {number} no está dado de alta en la sociedad {code}"
        )
    sociedad, customer = found
    sociedad = draft or sociedad
    if drafts is None:
        template = session.get(CompanyTemplate, (sociedad.code, customer.language))
    else:
        template = drafts.get(customer.language)
    items = session.scalars(
        select(OpenItem)
        .where(
            OpenItem.company_code == code,
            OpenItem.customer_no == number,
            OpenItem.doc_date <= cutoff,
        )
        .order_by(OpenItem.currency, OpenItem.due_date, OpenItem.doc_no)
    )
    return Statement(
        company=Party(sociedad.code, sociedad.name, sociedad.tax_id, sociedad.address),
        customer=Party(customer.customer_no, customer.name, customer.tax_id, customer.address),
        cutoff_date=cutoff,
        lines=tuple(_line(item, cutoff) for item in items),
        template=Template(template.subject, template.text_body, template.html_body)
        if template is not None
        else Template(),
        sender=sender(sociedad),
        attach_open_items=sociedad.attach_open_items,
        attach_invoices=sociedad.attach_invoices,
        payment=payment(sociedad, customer),
        reply_to=sociedad.reply_to,
        language=customer.language,
    )


def sender(sociedad: Company) -> Sender:
    return Sender(
        name=sociedad.sender_name or "",
        email=sociedad.sender_email or "",
        cc=emails.split(sociedad.cc or ""),
        bcc=emails.split(sociedad.bcc or ""),
    )


def payment(sociedad: Company, customer: Customer) -> Payment | None:
    """The sociedad's payment details with the customer's reference, or None when it has none.

    The reference is the customer's RFC when the sociedad asks for it and the customer has one,
    and its No. Cliente otherwise: a customer always has something to quote.
    """
    if not (sociedad.bank or sociedad.account or sociedad.clabe):
        return None
    wants_rfc = sociedad.payment_reference == payments.TAX_ID and customer.tax_id
    return Payment(
        bank=sociedad.bank,
        account=sociedad.account,
        clabe=sociedad.clabe,
        reference=customer.tax_id if wants_rfc else customer.customer_no,
    )


def _line(item: OpenItem, cutoff: date) -> Line:
    return Line(
        doc_no=item.doc_no,
        doc_type=item.doc_type,
        doc_date=item.doc_date,
        due_date=item.due_date,
        reference=item.reference,
        days_overdue=(cutoff - item.due_date).days,
        amount=item.amount,
        open_amount=item.open_amount,
        currency=item.currency,
        cfdi_uuid=item.cfdi_uuid,
    )
