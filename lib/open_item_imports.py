"""What an open-items import does to each sociedad, and undoing the last one.

An open-items file is a full snapshot: it replaces every open item of the sociedades it names.
A user who uploads "just the new invoices" would lose all the others, so the page first shows
the effect (items and balance per currency, now → after) and the items an import replaced are
kept until the sociedad's next import, for **Deshacer última importación**.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.orm import Session

from lib import formatting
from lib.formatting import count, plural
from lib.models import AuditEvent, Company, Customer, OpenItem, OpenItemImport, ReplacedOpenItem
from lib.normalize import InvalidValue

BATCH = 5_000
ITEM_COLUMNS = (
    "company_code",
    "customer_no",
    "doc_no",
    "doc_type",
    "doc_date",
    "due_date",
    "reference",
    "cfdi_uuid",
    "amount",
    "open_amount",
    "currency",
)


@dataclass(frozen=True)
class Figures:
    """A sociedad's open items: how many, and the open balance per currency."""

    items: int = 0
    balance: dict[str, Decimal] = field(default_factory=dict)

    def describe(self) -> str:
        return formatting.balances(self.balance) if self.balance else "sin partidas"


@dataclass(frozen=True)
class Effect:
    """One sociedad of an import: its open items before and after."""

    code: str
    name: str
    before: Figures
    after: Figures

    def describe(self) -> str:
        """`SM02: 1,220 → 2 partidas; saldo MXN $10.00 → MXN $1.00`, for the command line."""
        return (
            f"{self.code}: {self.before.items:,} → {count(self.after.items, 'partida')}; "
            f"saldo {self.before.describe()} → {self.after.describe()}"
        )


@dataclass(frozen=True)
class LastImport:
    """The import that **Deshacer última importación** would undo for a sociedad."""

    code: str
    name: str
    at: datetime
    username: str
    filename: str
    replaced: int
    imported: int


@dataclass(frozen=True)
class Undone:
    code: str
    removed: int
    restored: int
    lost: int  # replaced items whose customer no longer exists

    def summary(self) -> str:
        removed = plural(self.removed, "se quitó", "se quitaron")
        restored = plural(self.restored, "se repuso", "se repusieron")
        text = (
            f"Importación deshecha en {self.code}: {removed} {count(self.removed, 'partida')} y "
            f"{restored} {count(self.restored, 'partida')}."
        )
        if self.lost:
            lost = count(self.lost, "partida no se repuso", "partidas no se repusieron")
            text += f" {lost} porque su cliente ya no existe."
        return text


def figures(session: Session, codes: Iterable[str]) -> dict[str, Figures]:
    """Two grouped queries whatever the number of items."""
    codes = sorted(set(codes))
    rows = session.execute(
        select(OpenItem.company_code, func.count())
        .where(OpenItem.company_code.in_(codes))
        .group_by(OpenItem.company_code)
    )
    counts = {code: count for code, count in rows}
    balance: dict[str, dict[str, Decimal]] = defaultdict(dict)
    sums = session.execute(
        select(OpenItem.company_code, OpenItem.currency, func.sum(OpenItem.open_amount))
        .where(OpenItem.company_code.in_(codes))
        .group_by(OpenItem.company_code, OpenItem.currency)
        .order_by(OpenItem.company_code, OpenItem.currency)
    )
    for code, currency, total in sums:
        balance[code][currency] = total
    return {code: Figures(counts.get(code, 0), dict(balance.get(code, {}))) for code in codes}


def replace(
    session: Session, records: list[dict[str, object]], *, username: str, filename: str
) -> tuple[int, list[Effect]]:
    """Swap the open items of the sociedades in `records` for them, keeping what they replace.

    Returns how many items were replaced and the effect per sociedad.
    """
    codes = sorted({str(r["company_code"]) for r in records})
    before = figures(session, codes)
    for code in codes:
        imported = sum(1 for r in records if r["company_code"] == code)
        _keep_replaced(session, code, before[code].items, imported, username, filename)
    replaced = session.execute(delete(OpenItem).where(OpenItem.company_code.in_(codes))).rowcount
    for start in range(0, len(records), BATCH):
        session.execute(insert(OpenItem), records[start : start + BATCH])
    after = figures(session, codes)
    names = _names(session, codes)
    return replaced, [Effect(c, names.get(c, c), before[c], after[c]) for c in codes]


def _keep_replaced(
    session: Session, code: str, replaced: int, imported: int, username: str, filename: str
) -> None:
    session.execute(delete(OpenItemImport).where(OpenItemImport.company_code == code))
    kept = OpenItemImport(
        company_code=code,
        username=username,
        filename=filename[:255],
        replaced=replaced,
        imported=imported,
    )
    session.add(kept)
    session.flush()
    columns = [getattr(OpenItem, c) for c in ITEM_COLUMNS]
    session.execute(
        insert(ReplacedOpenItem).from_select(
            ["import_id", *ITEM_COLUMNS],
            select(literal(kept.id), *columns).where(OpenItem.company_code == code),
        )
    )


def last_imports(session: Session) -> list[LastImport]:
    """The imports that can still be undone, one per sociedad at most, newest first."""
    rows = session.execute(
        select(OpenItemImport, Company.name)
        .join(Company, Company.code == OpenItemImport.company_code)
        .order_by(OpenItemImport.at.desc(), OpenItemImport.company_code)
    )
    return [
        LastImport(i.company_code, name, i.at, i.username, i.filename, i.replaced, i.imported)
        for i, name in rows
    ]


def undo(session: Session, code: str, *, username: str) -> Undone:
    """Put back the open items the sociedad's last import replaced, and forget that import.

    Items whose customer was removed since cannot come back (their customer is gone); the
    result says how many.
    """
    kept = session.scalar(
        select(OpenItemImport).where(OpenItemImport.company_code == code).with_for_update()
    )
    if kept is None:
        raise InvalidValue(f"la sociedad {code} no tiene una importación de partidas que deshacer")
    removed = session.execute(delete(OpenItem).where(OpenItem.company_code == code)).rowcount
    session.execute(
        insert(OpenItem).from_select(
            list(ITEM_COLUMNS),
            select(*[getattr(ReplacedOpenItem, c) for c in ITEM_COLUMNS])
            .join(
                Customer,
                (Customer.company_code == ReplacedOpenItem.company_code)
                & (Customer.customer_no == ReplacedOpenItem.customer_no),
            )
            .where(ReplacedOpenItem.import_id == kept.id),
        )
    )
    # Counted, not taken from rowcount: drivers do not all report it for INSERT … SELECT.
    restored = figures(session, [code])[code].items
    undone = Undone(code, removed, restored, kept.replaced - restored)
    session.add(_audit(kept, undone, username))
    session.execute(delete(OpenItemImport).where(OpenItemImport.id == kept.id))
    return undone


def _audit(kept: OpenItemImport, undone: Undone, username: str) -> AuditEvent:
    details = {
        "file": kept.filename,
        "imported_at": kept.at.isoformat(),
        "imported_by": kept.username,
        "removed": undone.removed,
        "restored": undone.restored,
        "lost": undone.lost,
    }
    return AuditEvent(
        username=username,
        action="undo_import",
        entity="open-items",
        entity_key=kept.company_code,
        details=json.dumps(details, ensure_ascii=False),
    )


def _names(session: Session, codes: list[str]) -> dict[str, str]:
    rows = session.execute(select(Company.code, Company.name).where(Company.code.in_(codes)))
    return {code: name for code, name in rows}
