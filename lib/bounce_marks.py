"""Bounce marks: catalog addresses that will not take mail, found by a send.

A stale address is the most common real failure and it comes back send after send until
someone fixes it. An address that bounced for good (a 5.x.x DSN) or that the server refused for
good (a 5xx reply at RCPT) is marked with the date and the reason; Búsqueda filters and exports
the marks, and the next Envío masivo warns before Procesar. The mark goes when an analyst
changes the customer's addresses so that it is no longer among them, and that is audited.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lib import formatting
from lib.models import AddressBounce, AuditEvent, Recipient

Key = tuple[str, str]
KEY_CHUNK = 500


@dataclass(frozen=True)
class Mark:
    address: str
    reason: str
    at: datetime
    run_id: int | None

    def text(self) -> str:
        """`<address> (<dd/mm/aaaa>: <reason>)`, as Búsqueda, the export and the warnings say."""
        return f"{self.address} ({formatting.day(self.at.date())}: {self.reason})"


def permanent(words: str) -> bool:
    """A refusal that will not change by itself: a 5xx reply (a 4xx one may pass tomorrow)."""
    return words.strip().startswith("5")


def flag(
    session: Session,
    key: Key,
    address: str,
    reason: str,
    at: datetime,
    run_id: int | None,
) -> None:
    """Mark the address (again, with the latest reason, when it was marked before)."""
    values = {
        "company_code": key[0],
        "customer_no": key[1],
        "address": address.lower(),
        "reason": reason,
        "at": at,
        "run_id": run_id,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(AddressBounce).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["company_code", "customer_no", "address"],
            set_={"reason": reason, "at": at, "run_id": run_id},
        )
    )


def of_customers(session: Session, keys: Iterable[Key]) -> dict[Key, list[Mark]]:
    """The marks of these customers, oldest first."""
    wanted = list(dict.fromkeys(keys))
    found: dict[Key, list[Mark]] = defaultdict(list)
    for start in range(0, len(wanted), KEY_CHUNK):
        chunk = wanted[start : start + KEY_CHUNK]
        rows = session.scalars(
            select(AddressBounce)
            .where(tuple_(AddressBounce.company_code, AddressBounce.customer_no).in_(chunk))
            .order_by(AddressBounce.at, AddressBounce.id)
        )
        for row in rows:
            found[(row.company_code, row.customer_no)].append(
                Mark(row.address, row.reason, row.at, row.run_id)
            )
    return dict(found)


def flagged_recipient() -> ColumnElement[bool]:
    """Búsqueda's "con rebotes": the catalog entry has at least one marked address."""
    return exists().where(
        AddressBounce.company_code == Recipient.company_code,
        AddressBounce.customer_no == Recipient.customer_no,
    )


def clear_fixed(
    session: Session, changes: Iterable[tuple[Key, tuple[str, ...]]], *, username: str
) -> int:
    """After the catalog changed: drop the marks of addresses a customer no longer has, each
    with an audit entry; returns how many went.
    """
    addresses = {key: {a.lower() for a in emails} for key, emails in changes}
    cleared = [
        (key, mark)
        for key, marks in of_customers(session, addresses).items()
        for mark in marks
        if mark.address not in addresses[key]
    ]
    for key, mark in cleared:
        session.execute(
            delete(AddressBounce).where(
                AddressBounce.company_code == key[0],
                AddressBounce.customer_no == key[1],
                AddressBounce.address == mark.address,
            )
        )
        session.add(
            AuditEvent(
                username=username,
                action="clear_bounce",
                entity="recipient",
                entity_key=f"{key[0]}/{key[1]}",
                details=json.dumps(
                    {"correo": mark.address, "rebote": mark.reason, "fecha": mark.at.isoformat()},
                    ensure_ascii=False,
                ),
            )
        )
    return len(cleared)
