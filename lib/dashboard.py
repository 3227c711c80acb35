"""Figures per sociedad for the Home page: customers, catalog entries and open balance, and
the colours of its chart of outcomes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from lib.models import Company, Customer, OpenItem, Recipient
from lib.sending.status import ItemStatus


@dataclass(frozen=True)
class CompanySummary:
    code: str
    name: str
    customers: int
    catalog_entries: int
    open_items: int
    balance: dict[str, Decimal] = field(default_factory=dict)


def company_summaries(session: Session) -> list[CompanySummary]:
    """One row per sociedad, in code order; three grouped queries whatever the data size."""
    customers = _counts(session, Customer.company_code)
    catalog = _counts(session, Recipient.company_code)
    items = _counts(session, OpenItem.company_code)
    balance: dict[str, dict[str, Decimal]] = defaultdict(dict)
    rows = session.execute(
        select(OpenItem.company_code, OpenItem.currency, func.sum(OpenItem.open_amount)).group_by(
            OpenItem.company_code, OpenItem.currency
        )
    )
    for code, currency, total in rows:
        balance[code][currency] = total
    return [
        CompanySummary(
            code=company.code,
            name=company.name,
            customers=customers.get(company.code, 0),
            catalog_entries=catalog.get(company.code, 0),
            open_items=items.get(company.code, 0),
            balance=balance.get(company.code, {}),
        )
        for company in session.scalars(select(Company).order_by(Company.code))
    ]


def _counts(session: Session, column: InstrumentedAttribute[str]) -> dict[str, int]:
    return dict(session.execute(select(column, func.count()).group_by(column)).all())


def outcome_colors(shown: Iterable[str]) -> dict[str, str]:
    """The colour of each outcome the chart shows, in the states' order. Fixed per outcome
    (errors red, sin saldo grey) rather than by position, which would change with the days.
    """
    wanted = set(shown)
    return {status.outcome: status.color for status in ItemStatus if status.outcome in wanted}
