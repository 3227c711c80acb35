"""Real servers for tests: a throwaway PostgreSQL cluster and `streamlit run` on loopback."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from lib.config import PROJECT_ROOT
from lib.models import Company, Customer, Recipient


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


class LocalPostgres:
    """A PostgreSQL cluster in a temp folder on a free loopback port, stopped at the end."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="envio-pg-"))
        self.port = free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run it as the `postgres` system user.
            shutil.chown(self.root, "postgres", "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        data = self.root / "data"
        self.run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self.run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.root / "log"),
            "start",
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(
            [
                *self.prefix,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


STARTUP_SECONDS = 60


@dataclass
class AppServer:
    url: str
    process: subprocess.Popen[str]
    printed: str | None = None

    def output(self) -> str:
        """Stop the server (once) and return what it printed."""
        if self.printed is None:
            self.process.terminate()
            self.process.wait(20)
            # Its send worker processes finish their customer on their own; the test is over.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.printed, _ = self.process.communicate(timeout=20)
        return self.printed


def start_app(port: int, *, env: dict[str, str], options: tuple[str, ...] = ()) -> AppServer:
    """`streamlit run Home.py` as a user would start it, returned once its health check answers.

    `options` are more Streamlit command-line options, e.g. `--secrets.files=<file>`.
    """
    command = [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.headless=true",
               f"--server.port={port}", "--server.fileWatcherType=none", *options]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    server = AppServer(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if http_get(f"{server.url}/_stcore/health") == (200, "ok"):
                return server
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError(f"streamlit did not answer its health check:\n{server.output()}")


def http_get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode("utf-8", "replace")


def browser_executable() -> str:
    """Debian's chromium from the PATH; the suite never downloads a browser."""
    import pytest

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("chromium is required under CI=true; .ci/run should have installed it")
    pytest.skip("chromium not found (apt-get install chromium)")


SEEDED_CUSTOMERS = {
    "1006210": "PEÑA & HIJOS <SA>",
    "1004273": "PLUMBERS CENTER",
    "1000001": "ÑANDÚ SA",
}


def seed_catalog(sessions: sessionmaker[Session]) -> None:
    """Sociedades SM02 and SM05, three SM02 customers, and 1004273 in the catalog (old@y.mx)."""
    with sessions() as session, session.begin():
        session.add_all([Company(code="SM02", name="Bajío"), Company(code="SM05", name="Peñasco")])
        session.flush()
        for number, name in SEEDED_CUSTOMERS.items():
            session.add(Customer(company_code="SM02", customer_no=number, name=name))
        session.flush()
        session.add(
            Recipient(
                company_code="SM02",
                customer_no="1004273",
                emails="old@y.mx",
                created_by="seed",
                updated_by="seed",
            )
        )


class TcpProxy:
    """A loopback TCP relay to a server (here PostgreSQL) that a test can cut and restore: cut,
    every connection through it is closed and new ones are refused, as with a database that
    went down; restored, it accepts again on the same port.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            open_sockets, self._sockets = self._sockets, []
        for sock in [listener, *open_sockets]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def requirement_pins() -> dict[str, str]:
    """`name: version` of every `name==version` line of requirements.txt."""
    lines = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
