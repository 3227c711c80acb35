"""Benchmark: bounces read and matched per second, for a mailbox of 10,000 of them.

    .venv/bin/python bench/bench_bounces.py [--messages 10000] [--database-url URL]
                                            [--no-imap] [--fetch-batch N]

Builds a run of that many sent customers (one address each, recorded accepted) and one bounce
per customer, cycling through the formats of tests/bounces/ (Postfix, Exchange Online, Gmail,
qmail, and the delay notice and auto-reply that are no bounce). Times `bounces.parse` alone
(the baseline) and parse + `addresses.record_bounce` + `addresses.recount` in one transaction
per message.

Then (`--imap`, on by default; needs root and Debian's dovecot-imapd) the whole check as a
worker and `lib.cli bounces --once` do it: the same messages, quoting a second run of the same
customers, delivered to the Maildir of a real Dovecot on loopback before timing, and read with
`Checker.check(force=True)` over IMAP with implicit TLS (BOUNCE_IMAP_SECURITY's default). That
second run's log counts as sent, so the check also mails its "Rebotes del envío núm. N" notice,
to an outbox folder. Reading the mailbox alone (`Imap.messages`, nothing processed) is timed
before the check (Dovecot indexes the fresh Maildir) and after it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from lib import config, db
from lib.mail import bounces, imap
from lib.mail.mailbox import Mailbox
from lib.models import SendAddress, SendItem, SendRun, utcnow
from lib.sending import addresses, bounce_check, worker
from lib.sending.status import AddressOutcome, ItemStatus, RunStatus
from tests import mailstack

FORMATS = Path(__file__).resolve().parent.parent / "tests" / "bounces"
CUTOFF = utcnow().date()


@dataclass
class ImapFigures:
    delivered_seconds: float
    first_read_seconds: float
    check_seconds: float
    notice_seconds: float
    second_read_seconds: float
    result: bounce_check.Result
    again: bounce_check.Result
    outbox: int


def build(url: str, count: int, company: str, *, log_sent: bool = False) -> list[bytes]:
    """A sent run, and the bounce messages that report on it (Message-IDs unique to the run)."""
    engine = db.create_engine_for(url)
    db.migrate(engine)
    templates = [path.read_bytes() for path in sorted(FORMATS.glob("*.eml"))]
    now = utcnow()
    told = now - timedelta(minutes=1) if log_sent else None
    with db.session_factory(engine)() as session, session.begin():
        run = SendRun(started_by="bench", notify_email="bench@example.com", cutoff_date=CUTOFF,
                      run_date=CUTOFF, status=RunStatus.DONE, total=count,
                      log_claimed_at=told, log_sent_at=told)  # fmt: skip
        session.add(run)
        session.flush()
        tag = f"r{run.id}"
        session.execute(insert(SendItem), [
            {"run_id": run.id, "company_code": company, "customer_no": f"{n}",
             "customer_name": f"CLIENTE {n}", "emails": f"c{n}@clientes.example",
             "status": ItemStatus.SENT, "message_id": f"<m{n}.{tag}@bench.example>",
             "sent_at": now}
            for n in range(count)
        ])  # fmt: skip
        ids = {
            number: key
            for number, key in session.execute(
                select(SendItem.customer_no, SendItem.id).where(SendItem.run_id == run.id)
            )
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
        .replace(b"@@MESSAGE_ID@@", f"<m{n}.{tag}@bench.example>".encode())
        for n in range(count)
    ]


def time_parse(messages: list[bytes]) -> tuple[float, int]:
    """Seconds to parse every message, and the bounces found."""
    started = time.perf_counter()
    parsed = [bounces.parse(raw) for raw in messages]
    return time.perf_counter() - started, sum(len(found) for found in parsed)


def time_record(url: str, messages: list[bytes]) -> tuple[float, int]:
    """Seconds to parse, match and record every message, one transaction each; how many matched."""
    engine = db.create_engine_for(url)
    sessions = db.session_factory(engine)
    matched = 0
    started = time.perf_counter()
    for raw in messages:
        with sessions() as session, session.begin():
            hits = [addresses.record_bounce(session, b, utcnow()) for b in bounces.parse(raw)]
            addresses.recount(session, (hit.run_id for hit in hits if hit is not None))
            matched += sum(hit is not None for hit in hits)
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, matched


def bounce_settings(url: str, folder: Path, port: int, user: str, password: str) -> config.Settings:
    """The settings of a worker reading that Dovecot, mailing its notices to an outbox."""
    return config.load_settings(
        secrets_file=folder / "no-secrets.toml",
        environ={
            "DATABASE_URL": url,
            "DATA_DIR": str(folder / "data"),
            "DEMO_DATA": "false",
            "MAIL_TRANSPORT": "outbox",
            "OUTBOX_DIR": str(folder / "outbox"),
            "BOUNCE_CHECK": "imap",
            "BOUNCE_IMAP_HOST": "127.0.0.1",
            "BOUNCE_IMAP_PORT": str(port),
            "BOUNCE_IMAP_SECURITY": "ssl",
            "BOUNCE_IMAP_USER": user,
            "BOUNCE_IMAP_PASSWORD": password,
        },
    )


def time_read(mailbox: Mailbox) -> tuple[float, int]:
    """Seconds to read the whole mailbox over IMAP without processing anything, and how many."""
    started = time.perf_counter()
    count = sum(1 for _ in mailbox.messages("", None))
    return time.perf_counter() - started, count


def timed_notices(checker: bounce_check.Checker) -> list[float]:
    """Have the checker note how long its notices take (the check calls them last)."""
    spent: list[float] = []
    send_notices = checker.send_notices

    def timed() -> list[int]:
        started = time.perf_counter()
        try:
            return send_notices()
        finally:
            spent.append(time.perf_counter() - started)

    checker.send_notices = timed  # type: ignore[method-assign]
    return spent


def deliver(dovecot: mailstack.Dovecot, messages: list[bytes]) -> float:
    """Seconds to put the messages in the Maildir, as an MTA would (set-up, not timed)."""
    started = time.perf_counter()
    for raw in messages:
        dovecot.deliver(raw)
    return time.perf_counter() - started


def imap_check(url: str, folder: Path, messages: list[bytes]) -> ImapFigures:
    """The messages in a real Dovecot's Maildir, read by the worker's bounce check."""
    dovecot = mailstack.Dovecot(folder)
    try:
        dovecot.start()
        os.environ["SSL_CERT_FILE"] = str(dovecot.certificate)
        delivered = deliver(dovecot, messages)
        settings = bounce_settings(
            url, folder, dovecot.ssl_port, mailstack.USER, mailstack.PASSWORD
        )
        engine = db.create_engine_for(url)
        checker = worker.Worker(db.session_factory(engine), settings).bounce_checker()
        if checker is None:
            raise RuntimeError("BOUNCE_CHECK=imap gave no bounce checker")
        first_read, _ = time_read(checker.mailbox)
        notices = timed_notices(checker)
        started = time.perf_counter()
        result = checker.check(force=True)
        checked = time.perf_counter() - started
        again = checker.check(force=True)
        second_read, _ = time_read(checker.mailbox)
        engine.dispose()
    finally:
        dovecot.stop()
    if result is None or again is None:
        raise RuntimeError("another reader held the bench's fresh mailbox")
    outbox = len(list((folder / "outbox").glob("*.eml")))
    return ImapFigures(
        delivered, first_read, checked, notices[0], second_read, result, again, outbox
    )


def report_imap(figures: ImapFigures, bounced: int, parse_seconds: float, count: int) -> bool:
    """Print the check's figures; False when it did not match what it should have."""
    result, seconds = figures.result, figures.check_seconds
    matched = len(result.matched)
    print(f"IMAP (Dovecot, implicit TLS, FETCH of {imap.FETCH_BATCH}): {count:,} messages "
          f"delivered in {figures.delivered_seconds:.1f} s (set-up, not timed)")  # fmt: skip
    print(f"IMAP read alone: {figures.first_read_seconds:.2f} s first (Dovecot indexing), "
          f"{figures.second_read_seconds:.2f} s again, "
          f"{count / figures.second_read_seconds:,.0f} messages/s")  # fmt: skip
    print(f"Checker.check over IMAP (read + parse + match + record + notice): {seconds:.2f} s, "
          f"{result.read / seconds:,.0f} messages/s, {matched / seconds:,.0f} bounces "
          f"recorded/s ({seconds / parse_seconds:.2f}× the baseline)")  # fmt: skip
    print(f"  of which the notice: {figures.notice_seconds:.2f} s "
          f"(runs {result.notices}, {figures.outbox} email(s) in the outbox)")  # fmt: skip
    good = (
        not result.error
        and result.read == count
        and matched == bounced
        and figures.again.read == 0
        and len(result.notices) == 1
    )
    print(f"  read {result.read:,}, matched {matched:,} of {bounced:,} bounces, "
          f"{result.unmatched:,} unmatched{', error: ' + result.error if result.error else ''}; "
          f"second check read {figures.again.read}: {'OK' if good else 'WRONG'}")  # fmt: skip
    return good


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--imap",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the whole check over a real Dovecot (needs root)",
    )
    parser.add_argument(
        "--fetch-batch",
        type=int,
        default=imap.FETCH_BATCH,
        help="UIDs per IMAP FETCH (lib.mail.imap.FETCH_BATCH)",
    )
    args = parser.parse_args()
    if args.imap and (missing := _dovecot_missing()):
        parser.error(f"--imap needs {missing}; or pass --no-imap")
    imap.FETCH_BATCH = args.fetch_batch
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
    folder = mailstack.make_folder()
    try:
        ok = run(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0 if ok else 1)


def run(args: argparse.Namespace, folder: Path) -> bool:
    url = args.database_url or f"sqlite:///{folder / 'envio.db'}"
    messages = build(url, args.messages, "BN01")
    parse_seconds, found = time_parse(messages)
    whole_seconds, matched = time_record(url, messages)
    print(f"{args.messages:,} messages ({found:,} bounces, the rest delay notices and "
          f"auto-replies) on {url.split(':')[0]}")  # fmt: skip
    print(f"parse only (baseline): {parse_seconds:.2f} s, {args.messages / parse_seconds:,.0f}/s")
    print(f"parse + match + record: {whole_seconds:.2f} s, {args.messages / whole_seconds:,.0f}/s "
          f"({whole_seconds / parse_seconds:.2f}× the baseline); {matched:,} matched")  # fmt: skip
    if not args.imap:
        return matched == found
    figures = imap_check(url, folder, build(url, args.messages, "BN02", log_sent=True))
    return report_imap(figures, found, parse_seconds, args.messages) and matched == found


def _dovecot_missing() -> str:
    if os.geteuid() != 0:
        return "root"
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin")
    return "" if found else "Debian's dovecot-imapd"


if __name__ == "__main__":
    main()
