"""Benchmark: one customer's whole email as the worker builds it (`message.ready`), with the
sociedad's attachments against the statement alone.

    .venv/bin/python bench/bench_email.py [--rounds 5] [--invoice-files 50000]

For statements of 20 and 300 lines, the milliseconds per email (median of `--rounds`, in this
process) of: the PDF only (the baseline, measured in the same run), the PDF and the open items
as Excel, and the PDF, the Excel and every charge's invoice (.pdf of 150 KB) found in a folder
of `--invoice-files` files (the folder's index is built on the first email and reused, as a
worker does). The ratios say what each option costs a send.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_statements import statement
from lib import statements
from lib.statements import attachments, message

SIZES = {20: 40, 300: 8}  # lines per statement: emails built per measurement
INVOICE_BYTES = 150_000
SENT_ON = date(2026, 11, 28)


def per_email(built: statements.Statement, options: message.Options, count: int) -> float:
    """Milliseconds per email."""
    started = time.perf_counter()
    for _ in range(count):
        message.ready(built, ("cobranza@pena.example",), options=options, sent_on=SENT_ON)
    return (time.perf_counter() - started) * 1000 / count


def invoice_folder(root: Path, files: int, lines: tuple[statements.Line, ...]) -> Path:
    """`files` small unrelated files, plus one .pdf per charge of the statement."""
    folder = root / "facturas"
    for n in range(files):
        part = folder / f"{n // 1000:03d}"
        part.mkdir(parents=True, exist_ok=True)
        (part / f"X-{n:07d}.xml").write_bytes(b"<x/>")
    for line in lines:
        if not line.is_credit:
            (folder / f"{line.doc_no}.pdf").write_bytes(b"%PDF-1.4 " + b"0" * INVOICE_BYTES)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--invoice-files", type=int, default=50_000)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        for lines, count in SIZES.items():
            base = statement(lines)
            folder = invoice_folder(root / str(lines), args.invoice_files, base.lines)
            options = message.Options(root / "data", "Estados <e@bajio.example>", folder)
            cases = {
                "PDF only (baseline)": base,
                "PDF + Excel": replace(base, attach_open_items=True),
                "PDF + Excel + invoices": replace(
                    base, attach_open_items=True, attach_invoices=True
                ),
            }
            charges = sum(not line.is_credit for line in base.lines)
            started = time.perf_counter()
            attachments.find_invoices(base.lines, [folder])
            first = time.perf_counter() - started
            print(
                f"\n{lines} lines ({charges} charges with an invoice file among "
                f"{args.invoice_files:,} files; first look-up, building the folder's index: "
                f"{first * 1000:.0f} ms)"
            )
            results: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(args.rounds):
                for name, built in cases.items():
                    results[name].append(per_email(built, options, count))
            baseline = median(results["PDF only (baseline)"])
            for name, times in results.items():
                value = median(times)
                print(f"  {name:<24} {value:8.1f} ms/email   {value / baseline:5.2f}x")


if __name__ == "__main__":
    main()
