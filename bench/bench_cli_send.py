"""Benchmark: the cron path, `python -m lib.cli send` with its defaults, against wkhtmltopdf.

    .venv/bin/python bench/bench_cli_send.py [--rounds 3] [--sizes 20:400,300:60]

For each size (lines per statement : customers) a SQLite database gets that many catalog
customers with that many open items each, and `lib.cli send --sociedad BN01 --user bench` runs
as cron would (no `--procesos`: one worker process per core), sending to an aiosmtpd server on
loopback in this process that only counts, `MAIL_RATE_PER_MINUTE=0`. The whole command is timed,
start-up included, and checked: every customer sent, the server got one message more (the log).
The baseline, in the same run: the statements' very same HTML (`pdf.html`) drawn by
`wkhtmltopdf` (the engine ERPNext and Odoo call once per customer), one process per core at a
time; it only draws, it sends nothing. Rounds alternate between the two; medians are compared.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller
from sqlalchemy import insert

from bench.bench_send import Counter
from bench.bench_statements import wkhtmltopdf
from lib import db, statements, users
from lib.config import PROJECT_ROOT
from lib.models import Company, Customer, OpenItem, Recipient
from lib.statements import pdf
from tests.support import free_port

CUTOFF = date(2026, 11, 28)


def open_items(number: str, lines: int) -> list[dict[str, object]]:
    return [
        {"company_code": "BN01", "customer_no": number, "doc_no": f"90{n:08d}",
         "doc_type": "Factura" if n % 7 else "Nota de crédito",
         "doc_date": CUTOFF - timedelta(days=10 + n % 300),
         "due_date": CUTOFF - timedelta(days=n % 300 - 20), "reference": f"A-{n:05d}",
         "amount": Decimal("12345.67"), "open_amount": Decimal("10000.01"),
         "currency": "USD" if n % 5 == 0 else "MXN"}
        for n in range(lines)
    ]  # fmt: skip


def build_database(url: str, customers: int, lines: int) -> list[str]:
    engine = db.create_engine_for(url)
    db.migrate(engine)
    numbers = [f"{1_000_000 + n}" for n in range(customers)]
    with db.session_factory(engine)() as session, session.begin():
        session.add(Company(code="BN01", name="Benchmark, S.A. de C.V.", tax_id="BEN010101AAA"))
        session.flush()
        session.execute(insert(Customer), [
            {"company_code": "BN01", "customer_no": n, "name": f"CLIENTE {n} SA DE CV",
             "search_name": f"cliente {n} sa de cv", "tax_id": "", "address": ""}
            for n in numbers
        ])  # fmt: skip
        session.execute(insert(Recipient), [
            {"company_code": "BN01", "customer_no": n, "emails": f"cxp{n}@clientes.example",
             "created_by": "bench", "updated_by": "bench"}
            for n in numbers
        ])  # fmt: skip
        session.execute(insert(OpenItem), [row for n in numbers for row in open_items(n, lines)])
        users.create_user(
            session,
            username="bench",
            name="Bench",
            email="bench@example.com",
            role="analista",
            password="clave-de-bench-1",
            created_by="bench",
        )
    engine.dispose()
    return numbers


def html_files(url: str, numbers: list[str], folder: Path) -> list[Path]:
    """The HTML xhtml2pdf is given for each of these statements, as files for wkhtmltopdf."""
    engine = db.create_engine_for(url)
    sources = []
    with db.session_factory(engine)() as session:
        for number in numbers:
            source = folder / f"{number}.html"
            built = statements.build(session, "BN01", number, CUTOFF)
            source.write_text(pdf.html(built), encoding="utf-8")
            sources.append(source)
    engine.dispose()
    return sources


def cli_send(url: str, data_dir: Path, port: int) -> float:
    """Seconds of one whole `lib.cli send`, as cron starts it."""
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(data_dir), "DEMO_DATA": "false",
           "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port),
           "SMTP_SECURITY": "none", "MAIL_RATE_PER_MINUTE": "0"}  # fmt: skip
    command = [sys.executable, "-m", "lib.cli", "send", "--sociedad", "BN01", "--user", "bench",
               "--fecha-corte", CUTOFF.isoformat()]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def ours(folder: Path, customers: int, lines: int, counter: Counter, port: int) -> float:
    """Statements per second of one `lib.cli send` over a fresh database."""
    url = f"sqlite:///{folder}/envio.db"
    Path(folder, "envio.db").unlink(missing_ok=True)
    build_database(url, customers, lines)
    before = counter.messages
    elapsed = cli_send(url, folder, port)
    if counter.messages - before != customers + 1:
        raise SystemExit(f"received {counter.messages - before} of {customers} + 1 messages")
    return customers / elapsed


def theirs(sources: list[Path]) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(wkhtmltopdf, sources))
    return len(sources) / (time.perf_counter() - started)


def measure(lines: int, customers: int, rounds: int) -> None:
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cli-send-") as tmp:
            folder = Path(tmp)
            numbers = build_database(f"sqlite:///{folder}/html.db", customers, lines)
            sources = html_files(f"sqlite:///{folder}/html.db", numbers, folder)
            mine, baseline = [], []
            for _ in range(rounds):
                mine.append(ours(folder, customers, lines, counter, controller.port))
                baseline.append(theirs(sources))
    finally:
        controller.stop()
    spread = ", ".join(f"{m:.1f}" for m in mine)
    print(f"{lines:>3} lines, {customers} customers: lib.cli send {median(mine):6.2f} emails/s | "
          f"wkhtmltopdf {median(baseline):6.2f} statements/s | "
          f"ratio {median(mine) / median(baseline):5.2f}x  (ours per round: {spread})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="20:400,300:60", help="lines:customers,...")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; lib.cli send with its default --procesos "
          f"{os.cpu_count()}, wkhtmltopdf {os.cpu_count()} at a time")  # fmt: skip
    for size in args.sizes.split(","):
        lines, customers = (int(part) for part in size.split(":"))
        measure(lines, customers, args.rounds)


if __name__ == "__main__":
    main()
