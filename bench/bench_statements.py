"""Benchmark: statements per second, xhtml2pdf (ours) against wkhtmltopdf on the same HTML.

    .venv/bin/python bench/bench_statements.py [--workers 2] [--memory 300]

Both engines use every core (`--workers` processes each); wkhtmltopdf is the engine ERPNext
and Odoo call once per customer (Debian package `wkhtmltopdf`; without it the comparison is
skipped with a message). Then the milliseconds per statement on one core (in this process),
and `--memory` statements rendered in one process with the resident memory before and after,
to show it stays flat.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib import statements
from lib.statements import pdf

SIZES = {20: 100, 300: 60}  # lines per statement: statements rendered per measurement
ROUNDS = 5  # each engine measured this many times, alternately; the medians are compared


def statement(lines: int) -> statements.Statement:
    rows = tuple(
        statements.Line(
            doc_no=f"90{n:08d}",
            doc_type="Factura" if n % 7 else "Nota de crédito",
            doc_date=date(2026, 1, 1) + timedelta(days=n % 300),
            due_date=date(2026, 2, 1) + timedelta(days=n % 300),
            reference=f"A-{n:05d}",
            days_overdue=(n * 7) % 150 - 20,
            amount=Decimal("12345.67"),
            open_amount=Decimal("10000.01"),
            currency="USD" if n % 5 == 0 else "MXN",
        )
        for n in range(lines)
    )
    return statements.Statement(
        statements.Party(
            "SM02",
            "Soluciones Hidráulicas del Bajío, S.A. de C.V.",
            "SHB950612AB3",
            "Av. Constituyentes 1020, Corregidora, Querétaro",
        ),
        statements.Party("1006210", "PEÑA & HIJOS <SA> DE CV", "PEH800101AB1", "Calle Ñandú 5"),
        date(2026, 11, 28),
        rows,
    )


def ours(lines: int) -> int:
    return len(pdf.render(statement(lines)))


def wkhtmltopdf(source: Path) -> int:
    target = source.with_suffix(".pdf")
    subprocess.run(
        ["wkhtmltopdf", "-q", "--page-size", "Letter", str(source), str(target)],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "XDG_RUNTIME_DIR": tempfile.gettempdir(),
        },
    )
    return target.stat().st_size


def warm_up() -> None:
    """Each worker process draws every size once first: imports, fonts, and the page count of
    each length, which a long-running send worker has learnt too."""
    for lines in SIZES:
        ours(lines)


def rate(pool: Executor, job: Callable[[Any], int], args: list) -> float:
    start = time.perf_counter()
    list(pool.map(job, args))
    return len(args) / (time.perf_counter() - start)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--memory", type=int, default=300)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {args.workers} workers per engine"
    )
    engine = shutil.which("wkhtmltopdf")
    if engine is None:
        print("wkhtmltopdf not found: comparison skipped (apt-get install wkhtmltopdf)")
    with (
        tempfile.TemporaryDirectory() as tmp,
        ProcessPoolExecutor(args.workers, initializer=warm_up) as processes,
        ThreadPoolExecutor(args.workers) as threads,
    ):
        list(processes.map(time.sleep, [0.5] * args.workers))  # every worker started and warm
        for lines, count in SIZES.items():
            sources = []
            for n in range(count if engine else 0):
                source = Path(tmp) / f"s{lines}_{n}.html"
                source.write_text(pdf.html(statement(lines)), encoding="utf-8")
                sources.append(source)
            mine, theirs = [], []
            for _ in range(ROUNDS):
                mine.append(rate(processes, ours, [lines] * count))
                if engine:
                    theirs.append(rate(threads, wkhtmltopdf, sources))
            line = f"{lines:>3} lines: xhtml2pdf {median(mine):6.2f} statements/s"
            if engine:
                ratio = median(mine) / median(theirs)
                line += f" | wkhtmltopdf {median(theirs):6.2f} statements/s | ratio {ratio:5.2f}x"
            spread = ", ".join(f"{m:.2f}" for m in mine)
            print(f"{line}  (ours per round: {spread})")
    for lines, count in SIZES.items():
        ours(lines)  # warm-up: imports, fonts, the page count of this length
        start = time.perf_counter()
        for _ in range(count):
            ours(lines)
        per_statement = (time.perf_counter() - start) / count * 1000
        print(f"{lines:>3} lines: {per_statement:6.1f} ms per statement on one core")
    before = rss_mb()
    for _ in range(args.memory):
        ours(20)
    print(f"memory: {before:.0f} MB before, {rss_mb():.0f} MB after {args.memory} statements")


if __name__ == "__main__":
    main()
