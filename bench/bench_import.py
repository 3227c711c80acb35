"""Benchmark: importing a large open-items file, against just reading the same file.

    .venv/bin/python bench/bench_import.py [--rows 50000] [--database-url URL]

Prints seconds and rows/second for reading the file alone (the baseline, same process, same
bytes) and for the whole import (read + validate + replace in one transaction), and their ratio.
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
            full, result = timed(
                partial(importers.import_file, sessions, "open-items", name, content, username="b")
            )
            assert result.ok, result.errors[:3]
            print(
                f"{fmt:>4}: read only {read:6.2f} s ({args.rows / read:9,.0f} rows/s) | "
                f"import {full:6.2f} s ({args.rows / full:9,.0f} rows/s) | "
                f"import/read ratio {full / read:4.2f}"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
