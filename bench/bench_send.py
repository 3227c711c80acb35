"""Benchmark: a whole send run to a real SMTP server on loopback, rate limit off.

    .venv/bin/python bench/bench_send.py [--customers 2000] [--workers 2] [--memory 500,5000]

Builds a SQLite database with that many catalog customers (five open items each), writes one
run for all of them, and times `python -m lib.cli worker --once` processes (as an operator
starts them) until the run is done, against an aiosmtpd server in this process that counts
what it receives. Then the same with the `--memory` sizes, printing each worker's peak resident
memory, to show it does not grow with the size of the run. The baseline is the same run with a
single worker, measured in the same invocation.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller
from sqlalchemy import insert

from lib import db
from lib.config import PROJECT_ROOT
from lib.models import Company, Customer, OpenItem, Recipient
from lib.sending import runs
from tests.support import free_port

CUTOFF = date(2026, 11, 28)


class Counter:
    """Counts messages; keeps no content, so the server's memory is not the measurement."""

    def __init__(self) -> None:
        self.messages = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages += 1
        return "250 OK"


def build_database(url: str, customers: int) -> list[tuple[str, str]]:
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
        session.execute(insert(OpenItem), [
            {"company_code": "BN01", "customer_no": n, "doc_no": f"F{n}{k}", "doc_type": "Factura",
             "doc_date": CUTOFF - timedelta(days=20 * k + 5),
             "due_date": CUTOFF - timedelta(days=20 * k - 25), "reference": f"OC-{k}",
             "amount": Decimal("1234.56"), "open_amount": Decimal("1234.56"), "currency": "MXN"}
            for n in numbers for k in range(5)
        ])  # fmt: skip
        keys = [("BN01", n) for n in numbers]
        runs.create_run(session, username="bench", notify_email="bench@example.com",
                           keys=keys, cutoff=CUTOFF, run_date=CUTOFF)  # fmt: skip
    engine.dispose()
    return keys


def run_workers(url: str, data_dir: Path, port: int, workers: int) -> tuple[float, list[int]]:
    """Seconds until every worker is done, and each worker's peak RSS in MB."""
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(data_dir), "DEMO_DATA": "false",
           "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port),
           "SMTP_SECURITY": "none", "MAIL_RATE_PER_MINUTE": "0"}  # fmt: skip
    command = [sys.executable, "-m", "lib.cli", "worker", "--once"]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    peaks = []
    for process in processes:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise SystemExit(f"worker {process.pid} failed with {status}")
        peaks.append(usage.ru_maxrss // 1024)
    return time.perf_counter() - started, peaks


def measure(customers: int, workers: int) -> tuple[float, list[int]]:
    with tempfile.TemporaryDirectory(prefix="bench-send-") as folder:
        url = f"sqlite:///{folder}/envio.db"
        build_database(url, customers)
        counter = Counter()
        controller = Controller(counter, hostname="127.0.0.1", port=free_port())
        controller.start()
        try:
            elapsed, peaks = run_workers(url, Path(folder), controller.port, workers)
        finally:
            controller.stop()
        engine = db.create_engine_for(url)
        with db.session_factory(engine)() as session:
            run = runs.progress(session, 1).run
        engine.dispose()
        if run.sent != customers or counter.messages != customers + 1:
            raise SystemExit(f"sent {run.sent}, received {counter.messages} of {customers}+1")
        return elapsed, peaks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--memory", default="500,5000", help="run sizes for the memory figure")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip

    base, _ = measure(args.customers, 1)
    print(f"{args.customers} customers, 1 worker (baseline): {base:.1f} s, "
          f"{args.customers / base:.1f} emails/s")  # fmt: skip
    total, _ = measure(args.customers, args.workers)
    print(f"{args.customers} customers, {args.workers} workers: {total:.1f} s, "
          f"{args.customers / total:.1f} emails/s, {base / total:.2f}x the baseline "
          f"(target: <= 60 s)")  # fmt: skip

    for size in (int(part) for part in args.memory.split(",")):
        elapsed, peaks = measure(size, args.workers)
        print(f"{size} customers, {args.workers} workers: {elapsed:.1f} s, "
              f"peak RSS per worker {max(peaks)} MB (target: flat, <= 300 MB)")  # fmt: skip
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"benchmark process itself (builds the data): peak {self_peak} MB")


if __name__ == "__main__":
    main()
