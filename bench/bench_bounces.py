"""Benchmark: bounces read and matched per second, for a mailbox of 10,000 of them.

    .venv/bin/python bench/bench_bounces.py [--messages 10000] [--database-url URL]

Builds a run of that many sent customers (one address each, recorded accepted) and one bounce
per customer, cycling through the formats of tests/bounces/ (Postfix, Exchange Online, Gmail,
qmail, and the delay notice and auto-reply that are no bounce). Times, in one process:
`bounces.parse` alone (the baseline); parse + `addresses.record_bounce` in one transaction per
message; and the whole check as a worker and `lib.cli bounces --once` do it,
`bounce_check.Checker.check` reading the messages over IMAP (TLS) from a real Dovecot on
loopback (tests/mailstack.py; needs root and Debian's dovecot-imapd), recording them 100 per
transaction with the bookmark, into a second database with the same run. Then the IMAP read
alone, and a second check (the bookmark: it reads nothing).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from lib import config, db
from lib.mail import bounces, outbox, pacing
from lib.mail.imap import Imap
from lib.models import SendAddress, SendItem, SendRun, utcnow
from lib.sending import addresses, bounce_check
from lib.sending.status import AddressOutcome, ItemStatus, RunStatus
from tests import mailstack

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


def through_imap(folder: Path, url: str, messages: list[bytes]) -> float:
    """The check over IMAP from a Dovecot mailbox holding `messages`, and the read alone."""
    mail_folder = mailstack.make_folder()
    dovecot = mailstack.Dovecot(mail_folder)
    dovecot.start()
    os.environ["SSL_CERT_FILE"] = str(dovecot.certificate)
    try:
        for raw in messages:
            dovecot.deliver(raw)
        imap = Imap("127.0.0.1", dovecot.ssl_port, "ssl", mailstack.USER,
                    password=mailstack.PASSWORD)  # fmt: skip
        engine = db.create_engine_for(url)
        sessions = db.session_factory(engine)
        settings = config.load_settings(folder / "none.toml", {"DATA_DIR": str(folder)})
        checker = bounce_check.Checker(sessions, settings, imap, name="bench",
                                       transport=outbox.Outbox(folder / "outbox"),
                                       pacer=pacing.Pacer(0))  # fmt: skip
        started = time.perf_counter()
        result = checker.check(force=True)
        check_seconds = time.perf_counter() - started
        again = checker.check(force=True)
        started = time.perf_counter()
        read = sum(1 for _ in imap.messages("", None))
        read_seconds = time.perf_counter() - started
        engine.dispose()
    finally:
        dovecot.stop()
        shutil.rmtree(mail_folder, ignore_errors=True)
    assert result is not None
    assert again is not None
    print(f"check over IMAP (Dovecot, TLS), as the worker does: {check_seconds:.2f} s, "
          f"{result.read / check_seconds:,.0f} messages/s, "
          f"{len(result.matched) / check_seconds:,.0f} bounces recorded/s; "
          f"{len(result.matched):,} matched, {result.unmatched} unmatched, "
          f"error {result.error or 'none'}")  # fmt: skip
    print(f"IMAP read alone (mailbox already indexed): {read_seconds:.2f} s, "
          f"{read / read_seconds:,.0f} messages/s")  # fmt: skip
    print(f"second check (bookmark): {again.read} messages read")
    return check_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--no-imap", action="store_true", help="skip the check over Dovecot")
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
                hits = [addresses.record_bounce(session, b, utcnow()) for b in bounces.parse(raw)]
                addresses.recount(session, (hit.run_id for hit in hits if hit is not None))
                matched += sum(hit is not None for hit in hits)
        whole_seconds = time.perf_counter() - started
        engine.dispose()
        found = sum(len(found) for found in parsed)
        print(f"{args.messages:,} messages ({found:,} bounces, the rest delay notices and "
              f"auto-replies) on {url.split(':')[0]}")  # fmt: skip
        print(f"parse only (baseline): {parse_seconds:.2f} s, "
              f"{args.messages / parse_seconds:,.0f}/s")  # fmt: skip
        ratio = whole_seconds / parse_seconds
        print(f"parse + match + record: {whole_seconds:.2f} s, "
              f"{args.messages / whole_seconds:,.0f}/s ({ratio:.2f}× the baseline); "
              f"{matched:,} matched")  # fmt: skip
        if not args.no_imap:
            # A fresh database with the same run: the one above has its bounces recorded.
            second = f"sqlite:///{Path(folder) / 'check.db'}"
            build(second, args.messages)
            check_seconds = through_imap(Path(folder), second, messages)
            print(f"check over IMAP: {check_seconds / parse_seconds:.2f}× the baseline")


if __name__ == "__main__":
    main()
