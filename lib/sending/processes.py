"""Worker processes: the heavy part of a send (statement, PDF, email) runs outside the web server
and on every core.

xhtml2pdf draws one document at a time per process and holds the GIL while it does, so a worker
thread in the Streamlit process would slow the analysts' pages and use one core. Instead the
app supervises WORKERS processes (`start_background`), and `lib.cli send` / `lib.cli worker`
run `--procesos N` of them (`Pool.run`). Each process is `python -m lib.sending.processes`: it
loads the same settings as its parent (same environment, same secrets file), runs one worker
loop, starts that loop again after an error, and ends when its parent is gone. A process that
dies is started again; its claims are recovered by the next worker that looks (see
`lib.sending.worker`). The sender mailbox's limits hold across all of them: its pacing is
shared through the database (`lib.mail.pacing`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lib import config, db
from lib.config import PROJECT_ROOT, Settings
from lib.sending import worker

log = logging.getLogger(__name__)

RESTART_SECONDS = 5.0
WATCH_SECONDS = 0.1
# A command waiting for its run to end looks more often than the app's workers do.
UNTIL_IDLE_POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 120.0  # a customer being delivered finishes (SMTP retries included)


def default_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Job:
    """What every process of a pool does."""

    run_id: int | None = None
    until_idle: bool = False

    def arguments(self, parent: int) -> list[str]:
        """The command line of a process: the parent's pid and secrets file come along."""
        args = ["--parent", str(parent)]
        args += ["--secrets", str(config.DEFAULT_SECRETS_FILE)]
        if self.run_id is not None:
            args += ["--run", str(self.run_id)]
        return [*args, "--until-idle"] if self.until_idle else args


def work(settings: Settings, job: Job, stop: threading.Event) -> None:
    """One process's life: a worker loop, started again after an error (a database away for a
    while must not end it), until `stop` or, for an `until_idle` job, until nothing is left.
    """
    engine = db.create_engine_for(settings.database_url)
    runner = worker.Worker(db.session_factory(engine), settings)
    poll = UNTIL_IDLE_POLL_SECONDS if job.until_idle else worker.POLL_SECONDS
    try:
        while not stop.is_set():
            try:
                runner.run(stop, run_id=job.run_id, until_idle=job.until_idle, poll=poll)
            except Exception:
                log.exception("send worker stopped by an error; starting again")
                stop.wait(RESTART_SECONDS)
                continue
            if job.until_idle:
                return
    finally:
        engine.dispose()


class Pool:
    """`count` worker processes doing `job`; one that dies is started again while wanted."""

    def __init__(self, job: Job, count: int) -> None:
        self.job = job
        self.count = count

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set, or, for an `until_idle` job, until every process ended well.
        Stopping asks each process to finish the customer it has (SIGTERM), then waits for it.
        """
        processes = [self._start() for _ in range(self.count)]
        started = [time.monotonic()] * self.count
        try:
            while not stop.wait(WATCH_SECONDS):
                for index, process in enumerate(processes):
                    code = process.poll()
                    if code is None or (code == 0 and self.job.until_idle):
                        continue
                    # One that cannot even start (say, bad settings) is not started in a loop.
                    if time.monotonic() - started[index] < RESTART_SECONDS:
                        continue
                    log.warning(
                        "send worker process %d ended (%s); starting another", process.pid, code
                    )
                    processes[index], started[index] = self._start(), time.monotonic()
                if self.job.until_idle and all(p.poll() == 0 for p in processes):
                    return
        finally:
            _stop_all(processes)

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            path for path in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if path
        )
        command = [sys.executable, "-m", "lib.sending.processes", *self.job.arguments(os.getpid())]
        return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)


def _stop_all(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("send worker process %d did not stop; killing it", process.pid)
            process.kill()
            process.wait()


_background: dict[str, threading.Thread] = {}
_background_lock = threading.Lock()


def start_background(settings: Settings) -> threading.Thread | None:
    """The app's WORKERS processes (one pool per database), watched by a thread of the web
    server that makes no `st.*` call; None with WORKERS=0.
    """
    if settings.workers <= 0:
        return None
    with _background_lock:
        thread = _background.get(settings.database_url)
        if thread is not None and thread.is_alive():
            return thread
        pool = Pool(Job(), settings.workers)
        thread = threading.Thread(
            target=pool.run, args=(threading.Event(),), name="envio-masivo-workers", daemon=True
        )
        thread.start()
        _background[settings.database_url] = thread
        return thread


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.sending.processes")
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--secrets", type=Path, required=True)
    parser.add_argument("--run", type=int)
    parser.add_argument("--until-idle", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    threading.Thread(target=_end_with_parent, args=(args.parent, stop), daemon=True).start()
    work(config.load_settings(args.secrets), Job(args.run, args.until_idle), stop)
    return 0


def _end_with_parent(parent: int, stop: threading.Event) -> None:
    """A worker outliving the app (killed, crashed) stops after the customer it has."""
    while not stop.wait(1.0):
        if os.getppid() != parent:
            log.warning("parent process %d is gone; stopping", parent)
            stop.set()


if __name__ == "__main__":
    sys.exit(main())
