"""Benchmark: a whole send run to a real SMTP server on loopback, rate limit off.

    .venv/bin/python bench/bench_send.py [--customers 2000] [--workers 2] [--memory 500,5000]
        [--database-url URL | --local-postgres]
    .venv/bin/python bench/bench_send.py --workers 1,2,3 [--customers 2000] [...]

Builds a database with that many catalog customers (five open items each), writes one run for
all of them, and times `python -m lib.cli worker --once --procesos 1` processes (as an operator
starts them, one sending process each) until the run is done, against an aiosmtpd server in
this process that counts what it receives. Then the same with the `--memory` sizes, printing
each worker's peak resident memory, to show it does not grow with the size of the run. The
baseline is the same run with a single worker, measured in the same invocation.

`--workers 1,2,3` (a list): the run once per worker count, throughput of each against one
worker (measured first, even when 1 is not in the list); no memory figures unless `--memory`
is given.

Every run is checked, so more workers cannot buy speed with duplicates: every item `sent`
with one attempt, the server received exactly N + 1 messages (the log), no Message-ID twice
(the counter keeps each message's Message-ID header, not its content), and every item's
recorded Message-ID among those received.

SQLite by default (a file in a temp folder, WAL, as `lib.db` opens it). PostgreSQL:
`--database-url URL` of a server whose user may create databases (a fresh database is
created for each run and dropped after it, as the tests do), or `--local-postgres` for a
throwaway cluster from the local binaries (`tests.support.LocalPostgres`, fsync=off).
A run still going after `--timeout` seconds is killed and reported with the end of a worker's
log (each worker's stderr goes to a file in the run's temp folder). MAIL_DAILY_LIMIT is left
as configured (default 10,000 recipients: a larger run would pause at it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter as Tally
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from lib import db
from lib.config import PROJECT_ROOT
from lib.models import Company, Customer, OpenItem, Recipient, SendItem, SendRun
from lib.sending import runs
from tests.support import LocalPostgres, free_port, pg_bindir

CUTOFF = date(2026, 11, 28)
HEADERS_END = re.compile(rb"\r?\n\r?\n")


class Counter:
    """Counts messages and keeps each one's Message-ID header; no content, so the server's
    memory is not the measurement."""

    def __init__(self) -> None:
        self.messages = 0
        self.message_ids: Tally[str | None] = Tally()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        head = HEADERS_END.split(content, maxsplit=1)[0]
        headers = BytesHeaderParser(policy=default_policy).parsebytes(head + b"\r\n\r\n")
        message_id = headers.get("Message-ID")
        with self.lock:
            self.messages += 1
            self.message_ids[str(message_id).strip() if message_id else None] += 1
        return "250 OK"


def build_database(url: str, customers: int) -> list[tuple[str, str]]:
    """The catalog and one run for all of it (also used by bench_pacing)."""
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


def run_workers(
    url: str, data_dir: Path, port: int, workers: int, timeout: float = 3600.0
) -> tuple[float, list[int]]:
    """Seconds until every worker is done, and each worker's peak RSS in MB. Workers still
    running after `timeout` seconds are killed with their sending processes."""
    env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(data_dir), "DEMO_DATA": "false",
           "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port),
           "SMTP_SECURITY": "none", "MAIL_RATE_PER_MINUTE": "0"}  # fmt: skip
    # One sending process per command: `lib.cli worker` would start one per core otherwise.
    command = [sys.executable, "-m", "lib.cli", "worker", "--once", "--procesos", "1"]
    logs = [data_dir / f"worker-{n}.log" for n in range(workers)]
    started = time.perf_counter()
    processes = []
    for log in logs:
        with log.open("wb") as output:
            process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, start_new_session=True,
                                       stdout=subprocess.DEVNULL, stderr=output)  # fmt: skip
        processes.append(process)
    peaks: dict[int, int] = {}
    deadline = started + timeout
    while len(peaks) < len(processes):
        for process, log in zip(processes, logs, strict=True):
            if process.pid in peaks:
                continue
            # The peak of the command and of its sending process, which it waited for.
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid == 0:
                continue
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode:
                stop_all(processes)
                tail = log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"worker {process.pid} failed with {status}:\n{tail}")
            peaks[process.pid] = usage.ru_maxrss // 1024
        if time.perf_counter() > deadline:
            stop_all(processes)
            tail = logs[0].read_text(errors="replace")[-3000:]
            raise SystemExit(f"workers still running after {timeout:.0f} s; killed. "
                             f"The first one's log ends:\n{tail}")  # fmt: skip
        time.sleep(0.05)
    return time.perf_counter() - started, [peaks[process.pid] for process in processes]


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """Each `lib.cli worker` still running, and the sending processes it started, killed."""
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass(frozen=True)
class Result:
    seconds: float
    peaks: list[int]
    check: str  # what was checked, for the printout


def check(url: str, run_id: int, customers: int, counter: Counter) -> str:
    """Every item sent once, every message received once; raises SystemExit otherwise."""
    engine = db.create_engine_for(url)
    with db.session_factory(engine)() as session:
        run = runs.progress(session, run_id).run
        items = session.execute(
            sa.select(SendItem.status, SendItem.attempts, SendItem.message_id).where(
                SendItem.run_id == run_id
            )
        ).all()
    engine.dispose()
    problems = []
    once = sum(1 for status, attempts, _ in items if status == "sent" and attempts == 1)
    if run.sent != customers or once != customers or len(items) != customers:
        problems.append(f"{once} of {len(items)} items sent with one attempt, run.sent "
                        f"{run.sent}, of {customers}")  # fmt: skip
    if counter.messages != customers + 1:
        problems.append(f"received {counter.messages} messages, not {customers} + 1")
    twice = {mid: n for mid, n in counter.message_ids.items() if n > 1}
    if twice or None in counter.message_ids:
        problems.append(f"Message-IDs received more than once or missing: {list(twice)[:5]}")
    recorded = [mid for _, _, mid in items]
    if len(set(recorded)) != customers or not set(recorded) <= set(counter.message_ids):
        problems.append("items' recorded Message-IDs not distinct or not all received")
    if problems:
        raise SystemExit("; ".join(problems))
    return (f"0 duplicates: {customers} items sent once each, {counter.messages} messages, "
            f"{len(counter.message_ids)} distinct Message-IDs")  # fmt: skip


@contextlib.contextmanager
def fresh_database(folder: str, server: str | None) -> Iterator[str]:
    """A SQLite file in `folder`, or a new database on the PostgreSQL `server`, dropped after."""
    if server is None:
        yield f"sqlite:///{folder}/envio.db"
        return
    name = f"bench_send_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(
    customers: int, workers: int, server: str | None = None, timeout: float | None = None
) -> Result:
    with (
        tempfile.TemporaryDirectory(prefix="bench-send-") as folder,
        fresh_database(folder, server) as url,
    ):
        build_database(url, customers)
        engine = db.create_engine_for(url)
        with engine.connect() as connection:
            run_id = connection.execute(sa.select(sa.func.max(SendRun.id))).scalar_one()
        engine.dispose()
        counter = Counter()
        controller = Controller(counter, hostname="127.0.0.1", port=free_port())
        controller.start()
        try:
            limit = timeout if timeout is not None else 300 + customers
            elapsed, peaks = run_workers(url, Path(folder), controller.port, workers, limit)
        finally:
            controller.stop()
        return Result(elapsed, peaks, check(url, run_id, customers, counter))


@contextlib.contextmanager
def postgres_server(args: argparse.Namespace) -> Iterator[str | None]:
    if args.database_url or not args.local_postgres:
        yield args.database_url
        return
    bindir = pg_bindir()
    if bindir is None:
        raise SystemExit("--local-postgres: no PostgreSQL binaries found (initdb)")
    cluster = LocalPostgres(bindir)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def describe(server: str | None) -> str:
    if server is None:
        return "SQLite (file in a temp folder, WAL)"
    engine = sa.create_engine(server)
    with engine.connect() as connection:
        version = connection.execute(sa.text("SHOW server_version")).scalar()
    engine.dispose()
    where = make_url(server).render_as_string(hide_password=True)
    return f"PostgreSQL {version} at {where}, a fresh database per run"


def compare(customers: int, counts: list[int], server: str | None, timeout: float | None) -> None:
    """Throughput of each worker count against one worker."""
    base = measure(customers, 1, server, timeout)
    print(f"{customers} customers, 1 worker (baseline): {base.seconds:.1f} s, "
          f"{customers / base.seconds:.1f} emails/s; {base.check}", flush=True)  # fmt: skip
    for workers in counts:
        if workers == 1:
            continue
        result = measure(customers, workers, server, timeout)
        print(f"{customers} customers, {workers} workers: {result.seconds:.1f} s, "
              f"{customers / result.seconds:.1f} emails/s, {base.seconds / result.seconds:.2f}x "
              f"the 1-worker throughput (at most {min(workers, os.cpu_count() or 1)}x on "
              f"{os.cpu_count()} cores); {result.check}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--workers", default=str(os.cpu_count() or 2),
                        help="worker processes; a list (1,2,3) compares each with 1")  # fmt: skip
    parser.add_argument("--memory", help="run sizes for the memory figure (default 500,5000; "
                        "none in list mode)")  # fmt: skip
    parser.add_argument("--database-url", help="PostgreSQL server (its user creates databases)")
    parser.add_argument("--local-postgres", action="store_true",
                        help="a throwaway PostgreSQL cluster from the local binaries")  # fmt: skip
    parser.add_argument("--timeout", type=float,
                        help="seconds a run may take before its workers are killed "
                             "(default: 300 + 1 per customer)")  # fmt: skip
    args = parser.parse_args()
    listed = "," in args.workers
    counts = [int(part) for part in args.workers.split(",") if part]
    memory = args.memory if args.memory is not None else ("" if listed else "500,5000")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip

    with postgres_server(args) as server:
        print(f"database: {describe(server)}")
        if listed:
            compare(args.customers, counts, server, args.timeout)
            workers = max(counts)
        else:
            workers = counts[0]
            base = measure(args.customers, 1, server, args.timeout)
            print(f"{args.customers} customers, 1 worker (baseline): {base.seconds:.1f} s, "
                  f"{args.customers / base.seconds:.1f} emails/s")  # fmt: skip
            total = measure(args.customers, workers, server, args.timeout)
            print(f"{args.customers} customers, {workers} workers: {total.seconds:.1f} s, "
                  f"{args.customers / total.seconds:.1f} emails/s, "
                  f"{base.seconds / total.seconds:.2f}x the baseline (target: <= 60 s); "
                  f"{total.check}")  # fmt: skip

        for size in (int(part) for part in memory.split(",") if part):
            result = measure(size, workers, server, args.timeout)
            print(f"{size} customers, {workers} workers: {result.seconds:.1f} s, peak RSS per "
                  f"worker {max(result.peaks)} MB (target: flat, <= 300 MB)")  # fmt: skip
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"benchmark process itself (builds the data): peak {self_peak} MB")


if __name__ == "__main__":
    main()
