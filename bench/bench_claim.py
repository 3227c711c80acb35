"""Benchmark: claiming a send item costs the same at any queue size (migration 0005).

    .venv/bin/python bench/bench_claim.py [--sizes 1000,10000,100000,1000000] [--claims 200]
        [--left half,1000] [--databases sqlite,postgresql] [--database-url URL]

One send run grows to each size in turn (pending items written with one INSERT ... SELECT
each, not through `runs.create_run`; `send_items` has no foreign key to the catalog, so the
items carry customer numbers, names and addresses of their own). At each size the real
`queue.claim(...)` is timed as a worker calls it: a fresh session and transaction per claim,
committed; the median of `--claims` claims after 5 untimed ones. Each claimed item is then
moved to `sending` (`queue.to_sending`, untimed) as the worker does, so claimed items do not
pile up in the queue; afterwards they are put back, so the next measurement sees the same
queue. Both ways a worker claims: from any run
(`lib.cli worker`) and from one run (`lib.cli send`, the app's run). The baseline, in the
same process and on the same rows: the same claims with the two partial indexes of migration
0005 dropped (they are created again afterwards). Then the largest run later on, its first
items sent and `--left` still pending: half of it, then 1,000 (the shape late in a big run).
On PostgreSQL each of those is measured twice: right after the items were marked sent (the
claimable index still holds their dead entries; autovacuum is off for the table during the
benchmark, so it cannot step in at a random moment) and after VACUUM. The claim's query plans
(EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE in a rolled-back transaction on PostgreSQL) are
printed for the largest size and each later shape, with and without the indexes.

SQLite: a file in a temp folder, opened by `lib.db` (WAL). PostgreSQL: `--database-url` (a
database with no send runs in it: it is migrated, its two indexes dropped and created again,
and `send_items` / `send_runs` are emptied at the end), else a throwaway cluster started from
the local binaries as the tests do (`tests.support.LocalPostgres`); without either it is
skipped. Tables are ANALYZEd on PostgreSQL after each build (autovacuum would have); SQLite
gets no ANALYZE, as the app never runs one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from statistics import median

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib import db
from lib.models import SendItem, SendRun, utcnow
from lib.sending import queue
from lib.sending.status import RunStatus
from tests import support

WORKER = "bench-host:1:claim"
WARMUP = 5
LABEL = 40  # width of the table's first column
MIN_CLAIMS = 20
CUTOFF = date(2026, 11, 28)
PARTIAL_INDEXES = {
    "ix_send_items_claimable": "send_items (id)",
    "ix_send_items_claimable_run": "send_items (run_id, id)",
}
CLAIMABLE_SQL = "status = 'pending' AND claimed_by IS NULL"

# Items first..last of run :run, pending and free, as `runs.create_run` writes them.
BUILD = {
    "sqlite": """
        WITH RECURSIVE numbers(n) AS
            (SELECT :first UNION ALL SELECT n + 1 FROM numbers WHERE n < :last)
        INSERT INTO send_items (run_id, company_code, customer_no, customer_name, emails,
                                attachment_name, status, error, attempts)
        SELECT CAST(:run AS INTEGER), 'BN01', CAST(1000000 + n AS TEXT),
               'CLIENTE ' || CAST(1000000 + n AS TEXT) || ' SA DE CV',
               'cxp' || CAST(1000000 + n AS TEXT) || '@clientes.example', '', 'pending', '', 0
        FROM numbers
    """,
    "postgresql": """
        INSERT INTO send_items (run_id, company_code, customer_no, customer_name, emails,
                                attachment_name, status, error, attempts)
        SELECT CAST(:run AS INTEGER), 'BN01', CAST(1000000 + n AS TEXT),
               'CLIENTE ' || CAST(1000000 + n AS TEXT) || ' SA DE CV',
               'cxp' || CAST(1000000 + n AS TEXT) || '@clientes.example', '', 'pending', '', 0
        FROM generate_series(CAST(:first AS INTEGER), CAST(:last AS INTEGER)) AS numbers(n)
    """,
}
# What a sent item keeps: its claimer, one attempt, when, the Message-ID.
MARK_SENT = (
    "UPDATE send_items SET status = 'sent', claimed_by = 'old-host:1:gone', "
    "claimed_at = :now, sent_at = :now, finished_at = :now, attempts = 1, "
    "attachment_name = 'EstadoCuenta_BN01_' || customer_no || '.pdf', "
    "message_id = '<' || CAST(id AS TEXT) || '.bench@clientes.example>' "
    "WHERE run_id = :run AND id <= :last AND status = 'pending'"
)


@dataclass
class Row:
    label: str
    pending: int
    in_table: int
    figures: dict[tuple[str, bool], tuple[float, int]]  # (kind, indexed) -> (median ms, claims)


class Bench:
    def __init__(self, engine: Engine, claims: int, budget: float) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.sessions: sessionmaker[Session] = db.session_factory(engine)
        self.claims = claims
        self.budget = budget
        self.run_id = 0
        self.items = 0
        self.full_plans = False

    def execute(self, statement: str, **params: object) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.text(statement), params)

    def maintenance(self, statement: str) -> None:
        """VACUUM and ANALYZE refuse to run inside a transaction on PostgreSQL."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text(statement))

    def start(self) -> None:
        with self.sessions() as session:
            if session.scalar(sa.select(sa.func.count()).select_from(SendRun)):
                raise SystemExit("the database already has send runs; give an empty one")
        with self.sessions() as session, session.begin():
            run = SendRun(started_by="bench", notify_email="bench@example.com",
                          company_code="BN01", cutoff_date=CUTOFF, run_date=CUTOFF,
                          status=RunStatus.PENDING, total=0)  # fmt: skip
            session.add(run)
            session.flush()
            self.run_id = run.id
        if self.dialect == "postgresql":
            self.execute("ALTER TABLE send_items SET (autovacuum_enabled = false)")

    def finish(self) -> None:
        self.create_indexes()
        if self.dialect == "postgresql":
            self.execute("ALTER TABLE send_items RESET (autovacuum_enabled)")
            self.execute("TRUNCATE send_items, send_runs CASCADE")
        self.engine.dispose()

    def grow(self, size: int) -> float:
        """Seconds to add pending items until the run has `size`."""
        started = time.perf_counter()
        if size > self.items:
            self.execute(BUILD[self.dialect], run=self.run_id, first=self.items + 1, last=size)
            self.execute("UPDATE send_runs SET total = :size WHERE id = :run", size=size,
                         run=self.run_id)  # fmt: skip
            self.items = size
        self.analyze()
        return time.perf_counter() - started

    def mark_sent(self, keep: int) -> float:
        """All the run's items but the last `keep` sent; seconds it took."""
        started = time.perf_counter()
        with self.sessions() as session:
            last = session.scalar(sa.select(sa.func.max(SendItem.id))) - keep
        self.execute(MARK_SENT, now=utcnow().replace(tzinfo=None), run=self.run_id, last=last)
        self.analyze()
        return time.perf_counter() - started

    def analyze(self) -> None:
        if self.dialect == "postgresql":
            self.maintenance("ANALYZE send_items")

    def vacuum(self) -> None:
        self.maintenance("VACUUM ANALYZE send_items")

    def counts(self) -> tuple[int, int]:
        with self.sessions() as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(SendItem))
            pending = session.scalar(
                sa.select(sa.func.count()).select_from(SendItem).where(*queue.CLAIMABLE)
            )
        return pending, total

    def drop_indexes(self) -> None:
        for name in PARTIAL_INDEXES:
            self.execute(f"DROP INDEX IF EXISTS {name}")
        self.analyze()

    def create_indexes(self) -> None:
        for name, where in PARTIAL_INDEXES.items():
            self.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {where} WHERE {CLAIMABLE_SQL}")
        self.analyze()

    def release(self) -> None:
        """The benchmark's items back in the queue, free: as they were before its claims."""
        self.execute(
            "UPDATE send_items SET status = 'pending', claimed_by = NULL, claimed_at = NULL, "
            "attempts = 0 WHERE claimed_by = :worker",
            worker=WORKER,
        )

    def claim_ms(self, run_id: int | None) -> tuple[float, int]:
        """Median milliseconds of one claim, and how many claims were timed."""
        times: list[float] = []
        deadline = time.perf_counter() + self.budget
        for n in range(WARMUP + self.claims):
            started = time.perf_counter()
            with self.sessions() as session, session.begin():
                claimed = queue.claim(session, WORKER, utcnow(), run_id)
            elapsed = time.perf_counter() - started
            if claimed is None:
                raise SystemExit("nothing left to claim: --claims is larger than the queue")
            # Out of `pending` at once, as the worker moves it (untimed): claimed items do
            # not pile up in the queue, as they would not with real workers.
            with self.sessions() as session, session.begin():
                queue.to_sending(session, claimed.item_id, WORKER)
            if n >= WARMUP:
                times.append(elapsed * 1000)
                if len(times) >= MIN_CLAIMS and time.perf_counter() > deadline:
                    break
        self.release()
        return median(times), len(times)

    def measure(self, label: str, plans: bool) -> Row:
        """Claims with the partial indexes, then without them (dropped, created again after);
        the plans of both ways of claiming in each state when `plans`."""
        pending, total = self.counts()
        figures = {}
        for indexed in (True, False):
            if not indexed:
                self.drop_indexes()
            figures[("any", indexed)] = self.claim_ms(None)
            figures[("run", indexed)] = self.claim_ms(self.run_id)
            if plans:
                self.plans(label, indexed)
            if not indexed:
                self.create_indexes()
        return Row(label, pending, total, figures)

    def plans(self, label: str, indexed: bool) -> None:
        """The plan of the claim's UPDATE, as `queue.claim` sends it, from any run and from
        this run."""
        state = "with" if indexed else "without"
        for run_id in (None, self.run_id):
            statement, parameters = self.claim_statement(run_id)
            which = "any run" if run_id is None else "one run"
            lines = self.explain(statement, parameters)
            if self.full_plans:
                print(f"  plan, {label}, {which}, {state} the partial indexes:")
                print("\n".join(f"    {line}" for line in lines))
            else:
                print(f"  plan, {label}, {which}, {state}: {summary(lines)}")

    def claim_statement(self, run_id: int | None) -> tuple[str, object]:
        """The first statement of a real claim (the item's UPDATE), rolled back."""
        seen: list[tuple[str, object]] = []

        def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
            seen.append((statement, parameters))

        sa.event.listen(self.engine, "before_cursor_execute", record)
        try:
            with self.sessions() as session:
                queue.claim(session, WORKER, utcnow(), run_id)
                session.rollback()
        finally:
            sa.event.remove(self.engine, "before_cursor_execute", record)
        return next((s, p) for s, p in seen if s.lstrip().upper().startswith("UPDATE SEND_ITEMS"))

    def explain(self, statement: str, parameters: object) -> list[str]:
        prefix = (
            "EXPLAIN QUERY PLAN "
            if self.dialect == "sqlite"
            else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
        )
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(prefix + statement, parameters).all()
            connection.rollback()
        if self.dialect == "sqlite":
            return [str(row[-1]) for row in rows]
        return [str(row[0]) for row in rows]


def summary(plan: list[str]) -> str:
    """One line of a plan: how the claim's subquery finds the item, and what that cost.
    SQLite's EXPLAIN QUERY PLAN is short and kept whole."""
    if not any("Execution Time" in line for line in plan):
        return " / ".join(plan)
    subquery = plan[next(n for n, line in enumerate(plan) if "InitPlan" in line) :]
    scans = [line.strip().removeprefix("->  ").split(" (actual")[0] for line in subquery
             if "Scan" in line or "Sort Key" in line][:2]  # fmt: skip
    removed = [line.strip() for line in subquery if "Rows Removed" in line][:1]
    buffers = next(line.strip() for line in plan if "Buffers" in line)
    timing = next(line.strip() for line in plan if "Execution Time" in line)
    return "; ".join([*scans, *removed, buffers, timing])


def later_shapes(spec: str, size: int) -> list[int]:
    """Pending items left in the largest run, most first (each shape follows the one before)."""
    lefts = {size // 2 if part == "half" else int(part) for part in spec.split(",") if part}
    return sorted((left for left in lefts if 0 < left < size), reverse=True)


def fmt(figure: tuple[float, int] | None, wanted: int) -> str:
    if figure is None:
        return f"{'':>14}"
    ms, claims = figure
    mark = "" if claims >= wanted else f" n={claims}"
    return f"{ms:>7.3f}{mark:<7}"


def ratio(row: Row, kind: str) -> str:
    with_index, without = row.figures.get((kind, True)), row.figures.get((kind, False))
    if with_index is None or without is None:
        return f"{'':>7}"
    return f"{without[0] / with_index[0]:>6.1f}x"


def table(rows: list[Row], wanted: int) -> None:
    print(f"{'':<{LABEL}} {'':>9} {'':>9} | claim from any run (lib.cli worker) "
          f"| claim from one run (lib.cli send)")  # fmt: skip
    print(f"{'queue':<{LABEL}} {'pending':>9} {'in table':>9} | {'with':>14} {'without':>14} "
          f"{'ratio':>7} | {'with':>14} {'without':>14} {'ratio':>7}")  # fmt: skip
    for row in rows:
        cells = []
        for kind in ("any", "run"):
            cells.append(f"{fmt(row.figures.get((kind, True)), wanted)} "
                         f"{fmt(row.figures.get((kind, False)), wanted)} "
                         f"{ratio(row, kind)}")  # fmt: skip
        counts = f"{row.pending:>9,} {row.in_table:>9,}"
        print(f"{row.label:<{LABEL}} {counts} | {cells[0]} | {cells[1]}")
    print("(median ms of one claim, fresh session and transaction each, committed; "
          "'with'/'without' the partial indexes of migration 0005; n= fewer claims timed "
          "when the budget ran out)")  # fmt: skip


def benchmark(url: str, sizes: list[int], args: argparse.Namespace) -> None:
    engine = db.create_engine_for(url)
    db.migrate(engine)
    bench = Bench(engine, args.claims, args.budget)
    bench.full_plans = args.full_plans
    with engine.connect() as connection:
        version = (
            sqlite3.sqlite_version
            if bench.dialect == "sqlite"
            else connection.execute(sa.text("SHOW server_version")).scalar()
        )
    print(f"\n== {bench.dialect} {version} ==")
    bench.start()
    rows: list[Row] = []
    try:
        for size in sizes:
            seconds = bench.grow(size)
            print(f"built {size:,} pending items in {seconds:.1f} s (cumulative insert)")
            rows.append(bench.measure(f"{size:,} pending", args.plans and size == sizes[-1]))
        for left in later_shapes(args.left, sizes[-1]):
            seconds = bench.mark_sent(left)
            print(f"marked sent all but {left:,} of {sizes[-1]:,} items in {seconds:.1f} s")
            label = f"{sizes[-1]:,} in run, {left:,} left"
            if bench.dialect == "postgresql":
                # The claimable index keeps the sent items' dead entries until VACUUM; the
                # baseline's drop and re-creation of the indexes leaves clean ones.
                rows.append(bench.measure(label + ", no vacuum", args.plans))
                bench.vacuum()
                label += ", vacuumed"
            rows.append(bench.measure(label, args.plans))
    finally:
        bench.finish()
    table(rows, args.claims)


@contextlib.contextmanager
def postgres_url(given: str | None) -> Iterator[str | None]:
    if given:
        yield given
        return
    bindir = support.pg_bindir()
    if bindir is None:
        print("\nPostgreSQL: no --database-url and no local binaries; skipped")
        yield None
        return
    server = support.LocalPostgres(bindir)
    try:
        url = server.start()
        print(f"\nPostgreSQL: throwaway cluster from {bindir} (fsync=off), as the tests start it")
        yield url
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--claims", type=int, default=200, help="claims timed per figure")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds per figure after which timing stops "
                             "(at least 20 claims are timed)")  # fmt: skip
    parser.add_argument("--left", default="half,1000",
                        help="later in the largest run: items left pending, each shape in turn "
                             "('half': half the run; '' for none)")  # fmt: skip
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--database-url", help="PostgreSQL database to use (default: throwaway)")
    parser.add_argument("--no-plans", dest="plans", action="store_false")
    parser.add_argument("--full-plans", action="store_true", help="whole plans, not one line")
    args = parser.parse_args()
    sizes = sorted(int(part) for part in args.sizes.split(","))
    wanted = args.databases.split(",")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.platform()}, Python {platform.python_version()}, "
          f"SQLAlchemy {sa.__version__}")  # fmt: skip
    if "sqlite" in wanted:
        with tempfile.TemporaryDirectory(prefix="bench-claim-") as folder:
            benchmark(f"sqlite:///{folder}/envio.db", sizes, args)
    if "postgresql" in wanted:
        with postgres_url(args.database_url) as url:
            if url:
                benchmark(url, sizes, args)


if __name__ == "__main__":
    main()
