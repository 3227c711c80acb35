"""Benchmark: catalog validation, saving and search at the sizes the issue names.

    .venv/bin/python bench/bench_catalog.py [--customers 100000] [--rows 10000] [--database-url URL]

A database with N customers, all in the catalog, gets a paste of M rows (new addresses for
existing customers, as in a real bulk update). Prints seconds for: cleaning the rows
(`from_pasted`), reviewing them (`review`, a fixed number of queries), saving (`apply`), and
searches, and **Exportar a Excel** of one sociedad and of the whole catalog. Baselines in the
same process: reviewing the same rows with one query per row; for the export, openpyxl writing
the same rows as plain cells (no formula neutralising, no bounce marks, no query).
"""

from __future__ import annotations

import argparse
import io
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import openpyxl
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib import catalog, db
from lib.models import Company, Customer, Recipient, search_name, utcnow

T = TypeVar("T")
COMPANIES = ("SM02", "SM05", "SU01", "SM07")


def timed(action: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def populate(sessions, customers: int) -> None:
    now = utcnow()
    with sessions() as session, session.begin():
        session.execute(
            sa.insert(Company), [{"code": c, "name": f"Sociedad {c}"} for c in COMPANIES]
        )
        people = [
            {
                "company_code": COMPANIES[n % 4],
                "customer_no": str(1_000_000 + n),
                "name": f"CLIENTE NÚMERO {n} SA DE CV",
                "search_name": search_name(f"CLIENTE NÚMERO {n} SA DE CV"),
                "updated_at": now,
            }
            for n in range(customers)
        ]
        session.execute(sa.insert(Customer), people)
        session.execute(
            sa.insert(Recipient),
            [
                {
                    "company_code": p["company_code"],
                    "customer_no": p["customer_no"],
                    "emails": f"cobranza{n}@cliente{n}.mx",
                    "created_by": "bench",
                    "updated_by": "bench",
                    "created_at": now,
                    "updated_at": now,
                }
                for n, p in enumerate(people)
            ],
        )


def per_row_review(session, batch: catalog.Batch) -> int:
    """The naive baseline: two lookups per row."""
    found = 0
    for row in batch.rows:
        key = row.entry.key
        found += session.get(Customer, key) is not None
        found += (
            session.scalar(
                sa.select(Recipient.emails).where(
                    Recipient.company_code == key[0], Recipient.customer_no == key[1]
                )
            )
            is not None
        )
    return found


def plain_xlsx(rows: list[list[object]]) -> bytes:
    """The export's baseline: the same cells through openpyxl with nothing else done."""
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def exports(sessions) -> None:
    for label, criteria in (("one sociedad", {"company": "SM05"}), ("whole catalog", {})):
        seconds, content = timed(lambda c=criteria: catalog.export_file(sessions, **c))
        rows = [list(r) for r in openpyxl.load_workbook(io.BytesIO(content)).active.values]
        baseline, _ = timed(lambda r=rows: plain_xlsx(r))
        print(
            f"Exportar a Excel, {label}: {len(rows) - 1:,} rows in {seconds:.2f} s "
            f"({(len(rows) - 1) / seconds:,.0f} rows/s); plain openpyxl {baseline:.2f} s; "
            f"ratio {seconds / baseline:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.create_engine_for(args.database_url or f"sqlite:///{tmp}/bench.db")
        db.migrate(engine)
        sessions = db.session_factory(engine)
        populate(sessions, args.customers)
        print(f"database: {engine.dialect.name}, {args.customers:,} customers in the catalog")
        step = args.customers // args.rows
        pasted = [
            [COMPANIES[n % 4].lower(), f"000{1_000_000 + n}", f"Nuevo{n}@Cliente{n}.MX; x{n}@c.mx"]
            for n in range(0, step * args.rows, step)
        ]
        clean, batch = timed(lambda: catalog.from_pasted(pasted))
        with sessions() as session:
            review, verdicts = timed(lambda: catalog.review(session, batch))
            naive, _ = timed(lambda: per_row_review(session, batch))
        assert all(v.status == catalog.UPDATE for v in verdicts), verdicts[:3]
        with sessions() as session, session.begin():
            save, _ = timed(lambda: catalog.apply(session, batch, username="bench"))
        print(
            f"{args.rows:,} pasted rows: clean {clean:.3f} s, review {review:.3f} s "
            f"(clean+review {clean + review:.3f} s), save (review again + write) {save:.3f} s"
        )
        print(
            f"baseline review with one query per row: {naive:.3f} s; "
            f"batched review is {naive / review:.1f}x faster"
        )
        with sessions() as session:
            for label, criteria in (
                ("by name part", {"name": "número 99999"}),
                ("by sociedad (first 100 + count)", {"company": "SM05"}),
                ("by No. Cliente", {"customer": "1050000"}),
                ("by email part", {"name": "cobranza4242@"}),
            ):
                catalog.search(session, **criteria)
                runs = [timed(lambda c=criteria: catalog.search(session, **c))[0] for _ in range(5)]
                print(f"search {label}: best of 5 {min(runs) * 1000:.1f} ms")
        exports(sessions)
        engine.dispose()


if __name__ == "__main__":
    main()
