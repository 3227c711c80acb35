"""Benchmark: bounces read and matched per second, for a mailbox of 10,000 of them.

    .venv/bin/python bench/bench_bounces.py [--messages 10000] [--database-url URL]

Builds a run of that many sent customers (one address each, recorded accepted) and one bounce
per customer, cycling through the formats of tests/bounces/ (Postfix, Exchange Online, Gmail,
qmail, and the delay notice and auto-reply that are no bounce). Times `bounces.parse` alone
(the baseline) and parse + `addresses.record_bounce` in one transaction per message, as a
reader does. Reading the messages from the mailbox (IMAP or Graph) is not included: that
reader is not built yet.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from lib import db
from lib.mail import bounces
from lib.models import SendAddress, SendItem, SendRun, utcnow
from lib.sending import addresses
from lib.sending.status import AddressOutcome, ItemStatus, RunStatus

FORMATS = Path(__file__).resolve().parent.parent / "tests" / "bounces"
CUTOFF = utcnow().date()


def build(url: str, count: int) -> list[bytes]:
    """The sent run, and the bounce messages that report on it."""
    engine = db.create_engine_for(url)
    db.migrate(engine)
    templates = [path.read_bytes() for path in sorted(FORMATS.glob("*.eml"))]
    now = utcnow()
    with db.session_factory(engine)() as session, session.begin():
        run = SendRun(started_by="bench", notify_email="bench@example.com", cutoff_date=CUTOFF,
                      run_date=CUTOFF, status=RunStatus.DONE, total=count)  # fmt: skip
        session.add(run)
        session.flush()
        session.execute(insert(SendItem), [
            {"run_id": run.id, "company_code": "BN01", "customer_no": f"{n}",
             "customer_name": f"CLIENTE {n}", "emails": f"c{n}@clientes.example",
             "status": ItemStatus.SENT, "message_id": f"<m{n}@bench.example>", "sent_at": now}
            for n in range(count)
        ])  # fmt: skip
        ids = {
            number: key
            for number, key in session.execute(select(SendItem.customer_no, SendItem.id))
        }
        session.execute(insert(SendAddress), [
            {"item_id": ids[f"{n}"], "address": f"c{n}@clientes.example",
             "outcome": AddressOutcome.ACCEPTED, "reason": "", "at": now}
            for n in range(count)
        ])  # fmt: skip
    engine.dispose()
    return [
        templates[n % len(templates)]
        .replace(b"@@ADDRESS@@", f"c{n}@clientes.example".encode())
        .replace(b"@@MESSAGE_ID@@", f"<m{n}@bench.example>".encode())
        for n in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'envio.db'}"
        messages = build(url, args.messages)
        started = time.perf_counter()
        parsed = [bounces.parse(raw) for raw in messages]
        parse_seconds = time.perf_counter() - started
        engine = db.create_engine_for(url)
        sessions = db.session_factory(engine)
        matched = 0
        started = time.perf_counter()
        for raw in messages:
            with sessions() as session, session.begin():
                for bounce in bounces.parse(raw):
                    matched += addresses.record_bounce(session, bounce, utcnow()) is not None
        whole_seconds = time.perf_counter() - started
        engine.dispose()
    found = sum(len(found) for found in parsed)
    print(f"{args.messages:,} messages ({found:,} bounces, the rest delay notices and "
          f"auto-replies) on {url.split(':')[0]}")  # fmt: skip
    print(f"parse only (baseline): {parse_seconds:.2f} s, {args.messages / parse_seconds:,.0f}/s")
    print(f"parse + match + record: {whole_seconds:.2f} s, {args.messages / whole_seconds:,.0f}/s "
          f"({whole_seconds / parse_seconds:.2f}× the baseline); {matched:,} matched")  # fmt: skip


if __name__ == "__main__":
    main()
