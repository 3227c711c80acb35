"""Worker processes: the app's pool starts WORKERS of them, starts one again when it dies, and
they send; WORKERS=0 starts none."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.orm import Session, sessionmaker

from lib import config
from lib.sending import processes, runs
from lib.sending.status import RunStatus
from tests import support

T = TypeVar("T")


def worker_children() -> set[int]:
    """Pids of this process's children running `lib.sending.processes`."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines())
            command = (status.parent / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if int(fields.get("PPid", "0")) == os.getpid() and b"lib.sending.processes" in command:
            found.add(int(status.parent.name))
    return found


def wait_for(condition: Callable[[], T], seconds: float = 60) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s")


def finished(sessions: sessionmaker[Session], run_id: int) -> bool:
    with sessions() as session:
        return runs.progress(session, run_id).finished


def test_a_dead_worker_process_is_started_again_and_the_pool_sends(
    app_env: dict[str, str], database: sessionmaker[Session]
) -> None:
    support.seed_catalog(database)
    pool = processes.Pool(processes.Job(), 1)
    stop = threading.Event()
    watcher = threading.Thread(target=pool.run, args=(stop,))
    watcher.start()
    try:
        (first,) = wait_for(worker_children)
        os.kill(first, signal.SIGKILL)
        (second,) = wait_for(lambda: worker_children() - {first})
        with database() as session, session.begin():
            run = runs.create_run(session, username="ana", notify_email="ana@e.example",
                                  keys=[("SM02", "1004273")], cutoff=date(2026, 11, 28),
                                  run_date=date(2026, 11, 29))  # fmt: skip
        wait_for(lambda: finished(database, run.id))
    finally:
        stop.set()
        watcher.join(60)
    assert second != first
    assert worker_children() == set()  # stopped with the pool
    outbox = config.load_settings().outbox_dir
    assert len(list(outbox.glob("*.eml"))) == 2  # the statement and the log
    with database() as session:
        assert runs.progress(session, run.id).run.status == RunStatus.DONE


def test_no_worker_processes_with_workers_0(app_env: dict[str, str]) -> None:
    assert config.load_settings().workers == 0
    assert processes.start_background(config.load_settings()) is None


@pytest.mark.parametrize(("value", "expected"), [("3", 3), ("0", 0)])
def test_workers_setting(tmp_path: Path, value: str, expected: int) -> None:
    settings = config.load_settings(
        tmp_path / "none.toml", {"DATA_DIR": str(tmp_path), "WORKERS": value}
    )
    assert settings.workers == expected


def test_workers_default_to_the_cpus(tmp_path: Path) -> None:
    settings = config.load_settings(tmp_path / "none.toml", {"DATA_DIR": str(tmp_path)})
    assert settings.workers == (os.cpu_count() or 1)


def test_a_negative_workers_setting_is_refused_in_spanish(tmp_path: Path) -> None:
    with pytest.raises(config.SettingsError, match="WORKERS debe ser al menos 0"):
        config.load_settings(tmp_path / "none.toml", {"DATA_DIR": str(tmp_path), "WORKERS": "-1"})
