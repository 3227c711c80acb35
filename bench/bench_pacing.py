"""Benchmark: how closely several worker processes hold one sender mailbox's rate.

    .venv/bin/python bench/bench_pacing.py [--customers 60] [--rate 120] [--processes 1,2,3]

Builds a SQLite database with that many catalog customers and one run for them
(`bench_send.build_database`), then runs `python -m lib.cli worker --once --procesos P` with
`MAIL_RATE_PER_MINUTE` set, against an aiosmtpd server in this process that notes when each
statement arrives. Prints the rate the server saw against the configured one (the baseline)
and the spread of the gaps between messages, for each process count.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller

from bench.bench_send import build_database
from lib.config import PROJECT_ROOT
from tests.support import free_port

MAILBOX = "cobranza@bench.example"


class Arrivals:
    """When each statement arrived (the log email, to bench@example.com, is left out)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if "bench@example.com" not in envelope.rcpt_tos:
            with self.lock:
                self.times.append(time.monotonic())
        return "250 OK"


def measure(customers: int, rate: int, processes: int) -> tuple[float, float, float]:
    """Rate seen by the server per minute, and the smallest and largest gap in seconds."""
    arrivals = Arrivals()
    port = free_port()
    controller = Controller(arrivals, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'envio.db'}"
            build_database(url, customers)
            env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": folder, "DEMO_DATA": "false",
                   "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port),
                   "SMTP_SECURITY": "none", "MAIL_RATE_PER_MINUTE": str(rate),
                   "MAIL_FROM": f"Cobranza <{MAILBOX}>"}  # fmt: skip
            command = ["-m", "lib.cli", "worker", "--once", "--procesos", str(processes)]
            subprocess.run(
                [sys.executable, *command], cwd=PROJECT_ROOT, env=env, check=True,
                stdout=subprocess.DEVNULL, timeout=customers * 60 / rate + 120,
            )  # fmt: skip
    finally:
        controller.stop()
    times = sorted(arrivals.times)
    if len(times) != customers:
        raise SystemExit(f"expected {customers} statements, the server got {len(times)}")
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return (len(times) - 1) / (times[-1] - times[0]) * 60, min(gaps), max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=60)
    parser.add_argument("--rate", type=int, default=120, help="MAIL_RATE_PER_MINUTE")
    parser.add_argument("--processes", default="1,2,3")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    interval = 60 / args.rate
    print(f"{args.customers} statements from one mailbox at MAIL_RATE_PER_MINUTE={args.rate} "
          f"(a message every {interval:.3f} s); SQLite")  # fmt: skip
    for count in [int(part) for part in args.processes.split(",")]:
        seen, shortest, longest = measure(args.customers, args.rate, count)
        print(f"{count} processes: {seen:.1f} a minute = {seen / args.rate:.3f}× the configured "
              f"rate; gaps {shortest:.3f}–{longest:.3f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
