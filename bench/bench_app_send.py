"""Benchmark: the app's own send path (Procesar in a browser, the app's worker processes) and the
Búsqueda latency of the people using the app meanwhile.

    .venv/bin/python bench/bench_app_send.py [--customers 2000] [--memory 500,5000]
        [--searches 20] [--sessions 5] [--warmup 20]

`streamlit run Home.py` is started the way a user starts it (`tests.support.start_app`), with its
default WORKERS (one `lib.sending.processes` worker process per core, supervised by the app),
on a SQLite database in a temp folder holding N catalog customers of one sociedad with five open
items each (`bench_cli_send.build_database`). It sends over SMTP to an aiosmtpd server on
loopback in this process that only counts, with MAIL_RATE_PER_MINUTE=0. Debian's chromium,
driven by Playwright from this process, plays the users; each session is a browser context
logged in as the analista `bench`.

Procesar: one session opens Envío masivo, picks the sociedad, Buscar, Seleccionar todos, and
clicks Procesar and Enviar at its question. The run is timed from that click until the
database has it closed with its log sent (polled every 0.25 s), then checked: every customer
`sent`, and the server got N + 1 messages (the log). Before anything is measured, a warm-up run
of a few customers, written straight to the database, has every worker process draw its first
statements.

Búsqueda: sessions in Catálogo › Individual type a term ("SA" matches every customer), click
Buscar and wait for "Mostrando 1–100 de …". The latency runs from the click to that text in the
page, both taken by the page itself (a click listener and a MutationObserver, performance.now()),
so polling from here adds nothing to it. Each timed Búsqueda comes after an untimed one that
finds nothing, so the previous results have left the page; a session waits for the app to be
idle after each. Medians: (a) idle, one session (the baseline); (b) one session searching in a
loop during a Procesar of N customers; (c) --sessions sessions searching in a loop during
another. Only Búsquedas clicked after Procesar and shown before the run closed count. The run's
rate with nobody searching (the Procesar figure) is the baseline for the other two. Each run
also prints where the CPU went meanwhile (from /proc: the worker processes, the app server,
Chromium, Playwright's driver, this process, and the rest of the machine, e.g. anything else
running on it), since on a small machine they all share the same cores.

Memory: for each --memory size, a fresh app and database and one Procesar of that many
customers; then each worker process's peak resident memory (VmHWM in /proc/<pid>/status: the
workers live as long as the app, so it is read once the run is closed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.bench_cli_send import build_database
from bench.bench_send import Counter
from lib import config, db
from lib.models import Recipient, SendRun
from lib.sending import runs
from lib.sending.status import ItemStatus
from tests.conftest import LAUNCH_ARGS
from tests.support import AppServer, free_port, start_app
from tests.test_browser import log_in, settle
from tests.test_browser_envio import search as choose_sociedad
from tests.test_concurrency import form, idle, summary

# The analista and the sociedad `bench_cli_send.build_database` creates.
USER, PASSWORD, SOCIEDAD = "bench", "clave-de-bench-1", "BN01"
LINES = 5  # open items per customer: one-page statements, as in bench_send
# Settings of the shell that would change the app's defaults or how it reaches our server.
NOT_INHERITED = ("WORKERS", "SMTP_AUTH", "SMTP_USER", "SMTP_PASSWORD", "PASSWORD_LOGIN",
                 "OUTBOX_DIR", "AUTH_COOKIE_KEY", "MAIL_RATE_PER_MINUTE")  # fmt: skip

NO_MATCH = "zz sin resultados"
SHOWN = re.compile(r"^Mostrando \d")
EMPTY = "No hay clientes en el catálogo con esos datos."
STEP_SECONDS = 120.0  # one step of one Búsqueda, however busy the machine
WORKERS_SECONDS = 60.0
POLL_SECONDS = 0.02
DB_POLL_SECONDS = 0.25
# Armed just before a timed click: the page notes the click and when the results text appears.
ARM_TIMER = """() => {
  const shown = () => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .some(e => /^Mostrando \\d/.test(e.textContent.trim()));
  const timer = {clicked: null, shown: null};
  window.benchSearch = timer;
  document.addEventListener('click', () => { timer.clicked ??= performance.now(); },
                            {capture: true, once: true});
  const observer = new MutationObserver(() => {
    if (timer.clicked === null || !shown()) return;
    timer.shown = performance.now();
    observer.disconnect();
  });
  observer.observe(document.body, {childList: true, subtree: true, characterData: true});
}"""
READ_TIMER = """() => { const t = window.benchSearch;
  return t && t.shown !== null ? t.shown - t.clicked : null; }"""


@dataclass
class App:
    server: AppServer
    sessions: sessionmaker[Session]
    counter: Counter
    workers: int  # the WORKERS the app's settings come to (its default: one per core)

    def worker_pids(self) -> list[int]:
        """The app's worker processes: its children running `lib.sending.processes`."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.server.process.pid and b"lib.sending.processes" in command:
                found.append(int(entry.name))
        return sorted(found)

    def wait_for_workers(self) -> list[int]:
        deadline = time.monotonic() + WORKERS_SECONDS
        while len(pids := self.worker_pids()) != self.workers:
            if time.monotonic() > deadline or self.server.process.poll() is not None:
                raise SystemExit(f"the app has {len(pids)} worker processes, not its WORKERS "
                                 f"{self.workers}, {WORKERS_SECONDS:.0f} s after the first "
                                 "login")  # fmt: skip
            time.sleep(0.2)
        return pids


def cpu_split(server: int) -> dict[str, float]:
    """CPU seconds used so far by the app's worker processes, the app server, Chromium,
    Playwright's driver, this process, and by the whole machine."""
    tick = os.sysconf("SC_CLK_TCK")
    parents, used = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    split = dict.fromkeys(("workers", "app server", "chromium", "driver", "this process"), 0.0)
    me = os.getpid()
    for pid, seconds in used.items():
        if pid in (me, server):
            split["this process" if pid == me else "app server"] += seconds
        elif parents[pid] == server:
            split["workers"] += seconds
        else:
            ancestor = parents[pid]
            while ancestor not in (me, server, 0, 1) and ancestor in parents:
                ancestor = parents[ancestor]
            if ancestor == me:
                with contextlib.suppress(OSError):
                    command = Path(f"/proc/{pid}/cmdline").read_bytes()
                    split["chromium" if b"chrom" in command else "driver"] += seconds
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    split["machine"] = (sum(ticks) - ticks[3] - ticks[4]) / tick  # all but idle and iowait
    return split


def peak_mb(pid: int) -> int:
    """VmHWM, the process's peak resident memory so far, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise SystemExit(f"no VmHWM for process {pid}")


def app_env(url: str, folder: Path, smtp_port: int) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    env.update({"DATABASE_URL": url, "DATA_DIR": str(folder), "DEMO_DATA": "false",
                "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port),
                "SMTP_SECURITY": "none", "MAIL_RATE_PER_MINUTE": "0"})  # fmt: skip
    return env


def stop_app(server: AppServer) -> None:
    """`AppServer.output()` stops the app and kills its process group (the worker processes)."""
    try:
        server.output()
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(20)


@contextlib.contextmanager
def running_app(customers: int) -> Iterator[App]:
    """A database of `customers`, its SMTP counter and the app on them; all gone at the end."""
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-app-send-")))
        url = f"sqlite:///{folder}/envio.db"
        build_database(url, customers, LINES)
        counter = Counter()
        controller = Controller(counter, hostname="127.0.0.1", port=free_port())
        controller.start()
        stack.callback(controller.stop)
        env = app_env(url, folder, controller.port)
        workers = config.load_settings(environ=env).workers
        server = start_app(free_port(), env=env)
        stack.callback(stop_app, server)
        engine = db.create_engine_for(url)
        stack.callback(engine.dispose)
        try:
            yield App(server, db.session_factory(engine), counter, workers)
        except BaseException:
            stop_app(server)
            tail = "\n".join((server.printed or "").splitlines()[-30:])
            print(f"--- last lines the app printed ---\n{tail}", file=sys.stderr)
            raise


def open_session(browser: Browser, app: App, path: str, heading: str) -> Page:
    context: BrowserContext = browser.new_context(
        viewport={"width": 1400, "height": 900}, locale="es-MX"
    )
    page = context.new_page()
    page.goto(f"{app.server.url}/{path}")
    log_in(page, USER, PASSWORD)
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    return page


def close_sessions(pages: list[Page]) -> None:
    for page in pages:
        if page.locator('[data-testid="stException"]').count():
            raise SystemExit(f"a traceback is on {page.url}")
        page.context.close()


def warm_up(app: App, customers: int, timeout: float) -> None:
    """A run of the first `customers`, written as Procesar does, sent and closed."""
    with app.sessions() as session, session.begin():
        keys = session.execute(
            select(Recipient.company_code, Recipient.customer_no)
            .order_by(Recipient.customer_no)
            .limit(customers)
        ).all()
        runs.create_run(session, username="warmup", notify_email="bench@example.com",
                        keys=[tuple(key) for key in keys], cutoff=date.today(),
                        run_date=date.today())  # fmt: skip
    watch = Watch(app, customers, timeout)
    watch.begin(previous=0)
    while not watch.closed():
        time.sleep(DB_POLL_SECONDS)
    watch.check()


@dataclass
class Watch:
    """The next run in the database from `begin()` on, polled at most every DB_POLL_SECONDS."""

    app: App
    customers: int
    timeout: float
    started: float = 0.0
    run_id: int | None = None
    closed_at: float | None = None
    previous: int = 0
    messages: int = 0
    last: runs.Progress | None = None
    checked: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def begin(self, previous: int | None = None) -> None:
        if previous is None:
            with self.app.sessions() as session:
                previous = session.scalar(select(func.max(SendRun.id))) or 0
        self.previous, self.messages = previous, self.app.counter.messages
        self.cpu = cpu_split(self.app.server.process.pid)
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        assert self.closed_at is not None
        return self.closed_at - self.started

    def closed(self) -> bool:
        """Whether the run is done with its log sent; SystemExit past the timeout."""
        now = time.perf_counter()
        if self.closed_at is not None:
            return True
        if now - self.checked < DB_POLL_SECONDS:
            return False
        self.checked = now
        if now - self.started > self.timeout:
            counts = self.last.counts if self.last else "not created"
            waiting = f", waiting: {self.last.waiting}" if self.last and self.last.waiting else ""
            raise SystemExit(f"run {self.run_id} not closed {self.timeout:.0f} s after it was "
                             f"started: {counts}{waiting}")  # fmt: skip
        with self.app.sessions() as session:
            if self.run_id is None:
                newer = select(func.min(SendRun.id)).where(SendRun.id > self.previous)
                if (found := session.scalar(newer)) is None:
                    return False
                self.run_id = found
            self.last = runs.progress(session, self.run_id)
        if self.last.finished and self.last.run.log_sent_at is not None:
            self.closed_at = now
            after = cpu_split(self.app.server.process.pid)
            self.cpu = {name: after[name] - self.cpu[name] for name in after}
        return self.closed_at is not None

    def check(self) -> None:
        """Every customer sent, and the server got one message each and the log."""
        shown = self.last
        assert shown is not None
        if shown.run.total != self.customers or shown.counts != {ItemStatus.SENT: self.customers}:
            raise SystemExit(f"run {self.run_id}: {shown.run.total} customers, {shown.counts}, "
                             f"expected {self.customers} sent")  # fmt: skip
        deadline = time.monotonic() + 30
        while self.app.counter.messages - self.messages < self.customers + 1:
            if time.monotonic() > deadline:
                raise SystemExit(f"run {self.run_id}: the server received "
                                 f"{self.app.counter.messages - self.messages} messages, "
                                 f"expected {self.customers} + 1")  # fmt: skip
            time.sleep(0.1)

    @property
    def rate(self) -> float:
        return self.customers / self.seconds

    def cpu_line(self) -> str:
        """Where the machine's CPU went during the run."""
        ours = {name: value for name, value in self.cpu.items() if name != "machine"}
        rest = self.cpu["machine"] - sum(ours.values())
        spent = ", ".join(f"{name} {value:.1f}" for name, value in ours.items())
        return (f"  CPU seconds in the run (of {os.cpu_count()} cores x {self.seconds:.1f} s): "
                f"{spent}, rest of the machine {max(rest, 0):.1f}")  # fmt: skip


@dataclass(frozen=True)
class Search:
    clicked: float  # perf_counter here, to tell which searches fell within a run
    seen: float
    seconds: float  # click → results, as the page timed it


@dataclass
class Searcher:
    """A session in Catálogo › Individual doing Búsquedas in a loop, advanced one step per call:
    one that finds nothing (untimed, so the previous results leave the page), then the timed
    one, each followed by the app going idle."""

    page: Page
    name: str
    term: str
    state: str = "ready"
    since: float = field(default_factory=time.perf_counter)
    clicked: float = 0.0
    done: list[Search] = field(default_factory=list)

    def step(self) -> None:
        now = time.perf_counter()
        if now - self.since > STEP_SECONDS:
            raise SystemExit(f"{self.name}: Búsqueda still '{self.state}' after {STEP_SECONDS:.0f} "
                             f"s (page {self.page.url})")  # fmt: skip
        page = self.page
        if self.state == "ready":
            self._buscar(NO_MATCH, timed=False)
            self._enter("clearing")
        elif self.state == "clearing":
            if (
                page.get_by_text(EMPTY).is_visible()
                and page.get_by_text(SHOWN).count() == 0
                and idle(page)
            ):
                self._buscar(self.term, timed=True)
                self._enter("searching")
        elif self.state == "searching":
            if (milliseconds := page.evaluate(READ_TIMER)) is not None:
                self.done.append(Search(self.clicked, now, milliseconds / 1000))
                self._enter("settling")
        elif idle(page):
            self._enter("ready")

    @property
    def resting(self) -> bool:
        return self.state == "ready"

    def _buscar(self, term: str, *, timed: bool) -> None:
        search = form(self.page, 1)
        search.get_by_role("textbox", name="Nombre o correo contiene").fill(term)
        if timed:
            self.page.evaluate(ARM_TIMER)
        self.clicked = time.perf_counter()
        search.get_by_role("button", name="Buscar").click()

    def _enter(self, state: str) -> None:
        self.state, self.since = state, time.perf_counter()


def drive(searchers: list[Searcher], until: Callable[[], bool]) -> None:
    """Advance every session until `until()`, then until each has finished its Búsqueda."""
    while not until():
        for searcher in searchers:
            searcher.step()
        time.sleep(POLL_SECONDS)
    while not all(searcher.resting for searcher in searchers):
        for searcher in searchers:
            if not searcher.resting:
                searcher.step()
        time.sleep(POLL_SECONDS)


def procesar(
    app: App, send_page: Page, customers: int, timeout: float, searchers: list[Searcher]
) -> tuple[Watch, list[Search]]:
    """Procesar of every customer while `searchers` search in a loop; the closed run and the
    latency of each Búsqueda clicked after Procesar and shown before the run closed.
    """
    choose(send_page)
    send_page.get_by_role("button", name="Seleccionar todos").click()
    settle(send_page)
    expect(
        send_page.get_by_text(f"{customers:,} de {customers:,} clientes seleccionados")
    ).to_be_visible()
    # Every session is in its loop, past its first Búsqueda, before the click.
    marks = [len(searcher.done) + 1 for searcher in searchers]
    drive(searchers, lambda: all(len(s.done) >= m for s, m in zip(searchers, marks, strict=True)))

    watch = Watch(app, customers, timeout)
    watch.begin()
    send_page.get_by_role("button", name="Procesar", exact=True).click()
    send_page.get_by_role("button", name="Enviar", exact=True).click()
    drive(searchers, watch.closed)
    watch.check()
    expect(
        send_page.get_by_role("heading", name=f"Envío núm. {watch.run_id} · Terminado")
    ).to_be_visible(timeout=60_000)
    # The live fragment drew it, then asks for one full rerun: let that one end too.
    settle(send_page)
    send_page.wait_for_timeout(1_500)
    settle(send_page)
    assert watch.closed_at is not None
    within = [
        search
        for searcher in searchers
        for search in searcher.done
        if search.clicked >= watch.started and search.seen <= watch.closed_at
    ]
    return watch, within


def choose(send_page: Page) -> None:
    """The sociedad chosen and Buscar (`test_browser_envio.search`), tried once more when the
    Sociedad list did not open: after a run, about one click in four focuses the box without
    opening it, with the app idle (seen in headless Chromium; the second click opens it)."""
    for attempt in (1, 2):
        try:
            choose_sociedad(send_page, SOCIEDAD)
            return
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise SystemExit(f"Envío masivo: could not choose {SOCIEDAD} and Buscar") from None
            print("note: the Sociedad list did not open; clicking once more", file=sys.stderr)
            send_page.keyboard.press("Escape")
            settle(send_page)


def run_timeout(customers: int) -> float:
    return 120 + customers / 2  # 2 emails/s at the very least


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise SystemExit("chromium not found (apt-get install chromium)")
    return found


def peaks_line(app: App, pids: list[int]) -> str:
    now = app.worker_pids()
    note = "" if now == pids else f" (worker processes changed: {pids} -> {now})"
    workers = ", ".join(f"{peak_mb(pid)}" for pid in now)
    server = peak_mb(app.server.process.pid)
    return f"peak RSS per worker {workers} MB, app server {server} MB{note}"


def latency_line(label: str, searches: list[Search], base: float | None = None) -> str:
    """Median and spread as the page timed them; the median as polled from here, to compare."""
    if not searches:
        return f"Búsqueda, {label}: none fell within the run"
    times = [search.seconds for search in searches]
    polled = statistics.median(search.seen - search.clicked for search in searches)
    versus = f", {statistics.median(times) / base:.2f}x idle (target: <= 1.5x)" if base else ""
    return (f"Búsqueda, {label}: {summary(times)} over {len(times)}{versus} "
            f"[polled from here: median {polled:.2f} s]")  # fmt: skip


def main_figures(browser: Browser, args: argparse.Namespace) -> None:
    customers, timeout = args.customers, run_timeout(args.customers)
    with running_app(customers) as app:
        send_page = open_session(browser, app, "envio_masivo", "Envío masivo estado de cuenta")
        pids = app.wait_for_workers()
        warm_up(app, min(args.warmup, customers), run_timeout(args.warmup))
        pages = [
            open_session(browser, app, "catalogo_individual", "Catálogo Envío Masivo › Individual")
            for _ in range(args.sessions)
        ]
        searchers = [Searcher(page, f"session {i + 1}", args.term) for i, page in enumerate(pages)]
        print(f"app: streamlit run Home.py, WORKERS default = {len(pids)} worker processes; "
              f"catalog of {customers:,} customers of {SOCIEDAD}, {LINES} open items each; "
              f"warm-up run of {min(args.warmup, customers)} customers sent")  # fmt: skip

        first = searchers[0]
        drive([first], lambda: len(first.done) >= args.searches + 1)
        idle_searches = first.done[1:]  # the session's first Búsqueda warms it up
        base = statistics.median(search.seconds for search in idle_searches)
        total = first.page.get_by_text(SHOWN).inner_text()
        print(f"Búsqueda '{args.term}' ({total}): Buscar clicked → results text shown, "
              "timed in the page")  # fmt: skip
        print(latency_line("idle, 1 session (baseline)", idle_searches))

        alone, _ = procesar(app, send_page, customers, timeout, [])
        print(f"Procesar {customers:,} customers, nobody searching: {alone.seconds:.1f} s "
              f"from the click to the run closed (target: <= 40 s), {alone.rate:.1f} emails/s, "
              f"{customers + 1} messages received; {peaks_line(app, pids)}")  # fmt: skip
        print(alone.cpu_line())

        loads = {}
        for count in dict.fromkeys((1, args.sessions)):
            label = f"{count} session{'s' if count > 1 else ''} searching"
            watch, searches = procesar(app, send_page, customers, timeout, searchers[:count])
            loads[label] = watch
            print(latency_line(f"during a run, {label}", searches, base))
            print(watch.cpu_line())
        for label, watch in loads.items():
            print(f"Run rate with {label}: {watch.seconds:.1f} s, {watch.rate:.1f} emails/s, "
                  f"{watch.rate / alone.rate:.0%} of the rate with nobody searching "
                  f"({alone.rate:.1f} emails/s; target: >= 80%)")  # fmt: skip
        print(f"after the runs: {peaks_line(app, pids)}")
        close_sessions([send_page, *pages])


def memory_figures(browser: Browser, args: argparse.Namespace) -> None:
    for size in (int(part) for part in args.memory.split(",") if part.strip()):
        with running_app(size) as app:
            send_page = open_session(browser, app, "envio_masivo", "Envío masivo estado de cuenta")
            pids = app.wait_for_workers()
            warm_up(app, min(args.warmup, size), run_timeout(args.warmup))
            watch, _ = procesar(app, send_page, size, run_timeout(size), [])
            print(f"{size:,} customers, fresh app: {watch.seconds:.1f} s, {watch.rate:.1f} "
                  f"emails/s; {peaks_line(app, pids)} (target: flat)")  # fmt: skip
            print(watch.cpu_line())
            close_sessions([send_page])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000, help="customers of the Procesar")
    parser.add_argument("--memory", default="500,5000", help="run sizes for the memory figure")
    parser.add_argument("--searches", type=int, default=20, help="timed Búsquedas when idle")
    parser.add_argument("--sessions", type=int, default=5, help="sessions searching at once")
    parser.add_argument("--warmup", type=int, default=20, help="customers of the warm-up run")
    parser.add_argument("--term", default="SA", help="what the Búsqueda looks for")
    args = parser.parse_args()
    if args.customers < 1 or args.searches < 1 or args.sessions < 1 or args.warmup < 1:
        parser.error("--customers, --searches, --sessions and --warmup must be at least 1")
    sys.stdout.reconfigure(line_buffering=True)  # each figure as soon as it is measured
    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=LAUNCH_ARGS)
        try:
            print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} "
                  f"cores, Python {platform.python_version()}, Streamlit {streamlit.__version__}, "
                  f"Chromium {browser.version} (headless, same machine); SQLite; SMTP on "
                  "loopback that only counts; MAIL_RATE_PER_MINUTE=0")  # fmt: skip
            main_figures(browser, args)
            memory_figures(browser, args)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
