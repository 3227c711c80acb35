"""Benchmark: importing a large open-items file, against just reading the same file.

    .venv/bin/python bench/bench_import.py [--rows 50000] [--database-url URL]

Prints seconds and rows/second for reading the file alone (the baseline, same process, same
bytes), for the whole import as `lib.cli import` does it (read + validate + keep the replaced
items for Deshacer + replace, in one transaction), and for the Datos page's path (Importar's dry
run that shows the effect, then Confirmar), with their ratios to the read.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib import db, demo, importers, tables

T = TypeVar("T")
HEADERS = [c.title for c in importers.OPEN_ITEM_COLUMNS]


def build_file(rows: int, fmt: str) -> tuple[str, bytes]:
    data = demo.build(date(2026, 11, 28))
    items = data.open_items
    lines = []
    for n in range(rows):
        i = items[n % len(items)]
        lines.append(
            [
                i["company_code"],
                i["customer_no"],
                f"{i['doc_no']}{n}",
                i["doc_type"],
                i["doc_date"].strftime("%d/%m/%Y"),
                i["due_date"].strftime("%d/%m/%Y"),
                i["reference"],
                f"{i['amount']:,.2f}",
                f"{i['open_amount']:,.2f}",
                i["currency"],
            ]
        )
    if fmt == "xlsx":
        return "partidas.xlsx", tables.write_xlsx(HEADERS, lines)
    text = "\n".join(",".join(f'"{cell}"' for cell in line) for line in [HEADERS, *lines])
    return "partidas.csv", text.encode("utf-8")


def timed(action: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = db.create_engine_for(url)
        db.migrate(engine)
        sessions = db.session_factory(engine)
        with sessions() as session, session.begin():
            demo.load(session, date(2026, 11, 28))
        print(f"database: {engine.dialect.name}, rows: {args.rows:,}")
        for fmt in ("csv", "xlsx"):
            name, content = build_file(args.rows, fmt)
            read, _ = timed(partial(tables.read_table, name, content))
            run = partial(
                importers.import_file, sessions, "open-items", name, content, username="b"
            )
            full, result = timed(run)
            assert result.ok, result.errors[:3]
            look, preview = timed(partial(run, dry_run=True))
            confirm, applied = timed(partial(run, table=preview.table))
            assert preview.effects == applied.effects, "the last look shows what Confirmar does"
            page = look + confirm
            print(
                f"{fmt:>4}: read only {read:6.2f} s ({args.rows / read:9,.0f} rows/s) | "
                f"import {full:6.2f} s ({args.rows / full:9,.0f} rows/s, "
                f"{full / read:4.2f}× read) | "
                f"Datos page {page:6.2f} s (Importar {look:5.2f} s + Confirmar {confirm:5.2f} s, "
                f"{page / read:4.2f}× read)"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
