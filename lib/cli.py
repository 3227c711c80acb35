"""Command line: `python -m lib.cli --help`.

Same services as the web app, same settings. Exit codes: 0 done, 1 the input or the
configuration is wrong (one line says why), 2 bad command line (argparse), 3 our own failure
(logged with its traceback).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lib import (
    app,
    catalog,
    config,
    db,
    demo,
    emails,
    formatting,
    importers,
    models,
    normalize,
    open_item_imports,
    statements,
    tables,
    users,
)
from lib.formatting import count
from lib.mail import errors, probe, transports
from lib.normalize import InvalidValue
from lib.scheduling import due, schedules
from lib.scheduling.schedules import OccurrenceOutcome, ScheduleStatus
from lib.sending import addresses, bounce_check, processes, queue, runs, worker
from lib.sending import log as runlog
from lib.sending.status import RunStatus
from lib.statements import message, pdf

log = logging.getLogger("lib.cli")
DATE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4})$")
INTERRUPTED = "envío interrumpido (se detuvo lib.cli send antes de enviarlo)"


class CommandError(Exception):
    """A failure the user can fix; its message is printed as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = parser.parse_args(argv)
        return args.handler(args)
    except (CommandError, config.SettingsError, InvalidValue) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:
        print(f"error: no se pudo usar la base de datos: {db.reason(exc)}", file=sys.stderr)
        return 1
    except Exception:
        log.exception("unexpected failure")
        return 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lib.cli", description="Envío masivo de estados de cuenta: administración."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMANDO")

    init = commands.add_parser("init", help="crea o actualiza el esquema de la base de datos")
    init.set_defaults(handler=_init)

    demo_cmd = commands.add_parser("demo", help="carga los datos de demostración en una base vacía")
    demo_cmd.add_argument(
        "--fecha",
        type=_day,
        default=None,
        help="fecha de referencia AAAA-MM-DD o DD/MM/AAAA para las partidas (por omisión, hoy)",
    )
    demo_cmd.set_defaults(handler=_demo)

    first = commands.add_parser(
        "first-admin",
        help="sin usuarios, crea 'admin' e imprime su contraseña (scripts/run, antes de iniciar)",
    )
    first.set_defaults(handler=_first_admin)

    users_cmd = commands.add_parser("users", help="usuarios de la aplicación")
    users_sub = users_cmd.add_subparsers(dest="users_command", required=True, metavar="ACCIÓN")
    add = users_sub.add_parser("add", help="crea un usuario")
    add.add_argument("username", help="nombre de usuario (minúsculas)")
    add.add_argument("--name", required=True, help="nombre completo")
    add.add_argument("--email", required=True, help="correo: ahí llega el log de cada envío")
    add.add_argument("--role", required=True, choices=users.ROLES, help="rol")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="lee la contraseña de la entrada estándar en lugar de preguntarla",
    )
    add.set_defaults(handler=_users_add)

    _catalog_commands(commands)

    statement = commands.add_parser(
        "statement", help="escribe el estado de cuenta de un cliente (PDF o el HTML del PDF)"
    )
    statement.add_argument("company", metavar="SOCIEDAD")
    statement.add_argument("customer", metavar="NOCLIENTE")
    statement.add_argument(
        "--fecha-corte",
        type=_day,
        default=None,
        help="AAAA-MM-DD o DD/MM/AAAA (por omisión, hoy)",
    )
    statement.add_argument("--format", choices=("pdf", "html"), default="pdf")
    statement.add_argument(
        "-o",
        dest="output",
        type=Path,
        default=None,
        help="archivo de salida (por omisión <NoCliente>_<AAAAMMDD>.pdf en esta carpeta)",
    )
    statement.set_defaults(handler=_statement)

    _send_commands(commands)

    import_cmd = commands.add_parser("import", help="importa un archivo .xlsx o .csv")
    import_sub = import_cmd.add_subparsers(dest="kind", required=True, metavar="TIPO")
    for kind, spec in importers.KINDS.items():
        columns = ", ".join(c.title for c in spec.columns)
        sub = import_sub.add_parser(
            kind,
            help=f"importa {spec.label.lower()}",
            description=f"Columnas: {columns}. {spec.rule}",
        )
        sub.add_argument("file", type=Path, metavar="FILE", help="archivo .xlsx o .csv")
        sub.set_defaults(handler=_import)
    undo = import_sub.add_parser(
        "undo-open-items",
        help="deshace la última importación de partidas abiertas de una sociedad",
        description="Vuelven las partidas que esa importación reemplazó y se quitan las que trajo.",
    )
    undo.add_argument("company", metavar="SOCIEDAD")
    undo.set_defaults(handler=_undo_open_items)
    return parser


def _catalog_commands(commands: argparse._SubParsersAction) -> None:
    catalog_cmd = commands.add_parser("catalog", help="catálogo de envío masivo")
    sub = catalog_cmd.add_subparsers(dest="catalog_command", required=True, metavar="ACCIÓN")
    load = sub.add_parser(
        "import",
        help="da de alta o actualiza desde .xlsx/.csv (Sociedad, NoCliente, Correo)",
        description="Una línea por fila: 'fila N: <mensaje>'. Sale con 1 si alguna fila fue "
        "rechazada; las válidas se guardan igual.",
    )
    load.add_argument("file", type=Path, metavar="FILE")
    load.set_defaults(handler=_catalog_import)
    export = sub.add_parser("export", help="escribe el catálogo completo a un .xlsx")
    export.add_argument("file", type=Path, metavar="FILE")
    export.set_defaults(handler=_catalog_export)
    add = sub.add_parser("add", help="alta individual (o actualiza los correos)")
    add.add_argument("company", metavar="SOCIEDAD")
    add.add_argument("customer", metavar="NOCLIENTE")
    add.add_argument("emails", metavar="EMAILS", help="correos separados por ;")
    add.add_argument(
        "--idioma",
        choices=("es", "en"),
        help="idioma del estado de cuenta y su correo (es español, en inglés); sin él, el "
        "cliente queda con el que tiene",
    )
    add.set_defaults(handler=_catalog_add)
    remove = sub.add_parser("delete", help="borra un cliente del catálogo")
    remove.add_argument("company", metavar="SOCIEDAD")
    remove.add_argument("customer", metavar="NOCLIENTE")
    remove.set_defaults(handler=_catalog_delete)


def _send_commands(commands: argparse._SubParsersAction) -> None:
    send = commands.add_parser(
        "send",
        help="envía los estados de cuenta del catálogo y espera a que termine (para cron)",
        description="Una línea por cliente en el formato del log y un resumen; el log llega "
        "por correo al usuario. Sale con 1 si algún cliente no se envió por error.",
    )
    send.add_argument("--sociedad", default=None, metavar="S")
    send.add_argument("--cliente", default=None, metavar="N")
    send.add_argument(
        "--fecha-corte", type=_day, default=None, help="AAAA-MM-DD o DD/MM/AAAA (por omisión, hoy)"
    )
    send.add_argument(
        "--user", required=True, metavar="USERNAME", help="quien envía: recibe el log"
    )
    send.add_argument(
        "--omitir-sin-saldo",
        action="store_true",
        help="no envía a los clientes sin saldo (quedan en el log como 'sin saldo')",
    )
    _processes_option(send)
    send.set_defaults(handler=_send)

    mail_test = commands.add_parser(
        "mail-test", help="envía un correo de prueba con el transporte configurado"
    )
    mail_test.add_argument("--to", required=True, metavar="ADDRESS", help="destinatario")
    mail_test.set_defaults(handler=_mail_test)

    work = commands.add_parser(
        "worker", help="procesa los envíos pendientes (varios pueden compartir PostgreSQL)"
    )
    work.add_argument("--once", action="store_true", help="termina cuando no queda nada por enviar")
    _processes_option(work)
    work.set_defaults(handler=_worker)

    run_log = commands.add_parser(
        "log",
        help="imprime el log de un envío tal como está ahora",
        description="Las mismas líneas que el LogEnvioMasivo_<AAAAMMDD>.txt del correo, con el "
        "resultado actual de cada cliente.",
    )
    run_log.add_argument("run_id", type=_positive, metavar="RUN_ID", help="núm. del envío")
    run_log.set_defaults(handler=_log)

    bounce_cmd = commands.add_parser(
        "bounces",
        help="lee los rebotes del buzón remitente (BOUNCE_CHECK) y los registra",
        description="Una línea por rebote registrado (Sociedad | NoCliente | correo | motivo) "
        "y un resumen. Sin --once, sigue leyendo cada BOUNCE_CHECK_MINUTES hasta Ctrl+C.",
    )
    bounce_cmd.add_argument(
        "--once", action="store_true", help="lee una vez ahora, sin esperar el horario, y termina"
    )
    bounce_cmd.set_defaults(handler=_bounces)
    _schedule_commands(commands)


def _schedule_commands(commands: argparse._SubParsersAction) -> None:
    schedules_cmd = commands.add_parser("schedules", help="envíos programados (Programados)")
    sub = schedules_cmd.add_subparsers(dest="schedules_command", required=True, metavar="ACCIÓN")
    listing = sub.add_parser(
        "list",
        help="los programados, con su próximo envío",
        description="Una línea por programado: Núm. | Sociedad | Clientes | Frecuencia | "
        "Fecha de corte | Próximo envío | Estado | Dueño.",
    )
    listing.set_defaults(handler=_schedules_list)
    run_due = sub.add_parser(
        "run-due",
        help="crea ahora los envíos de los programados que ya tocan (los workers los envían)",
        description="Lo mismo que hacen los workers cada 20 segundos; cada ocurrencia crea un "
        "solo envío aunque varios lo hagan a la vez.",
    )
    run_due.set_defaults(handler=_schedules_run_due)


def _processes_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--procesos",
        type=_positive,
        default=processes.default_count(),
        metavar="N",
        help="procesos de envío (por omisión, uno por núcleo: %(default)s); "
        "MAIL_RATE_PER_MINUTE es del buzón, para todos juntos",
    )


def _day(text: str) -> date:
    """`2026-11-28` or `28/11/2026` (how the tool prints dates). Not argparse's own error,
    which is English and exit 2: a bad date is input, exit 1 with a Spanish line.
    """
    if not DATE_RE.match(text.strip()):
        raise CommandError(f"fecha no válida: '{text}' (usa AAAA-MM-DD o DD/MM/AAAA)")
    try:
        return normalize.day(text)
    except InvalidValue:
        raise CommandError(f"fecha no válida: '{text}' (usa AAAA-MM-DD o DD/MM/AAAA)") from None


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"debe ser un número entero mayor que 0, no '{text}'")
    return int(text)


def _send(args: argparse.Namespace) -> int:
    settings = config.load_settings()
    engine = _engine()
    sessions = db.session_factory(engine)
    cutoff = args.fecha_corte or settings.today()
    with sessions() as session, session.begin():
        user = users.find(session, args.user)
        if not user.active:
            raise CommandError(f"el usuario '{user.username}' está desactivado")
        found = runs.candidates(session, args.sociedad, args.cliente, cutoff)
        if not found:
            raise CommandError("no hay clientes en el catálogo de envío con esos filtros")
        run = runs.create_run(
            session,
            username=user.username,
            notify_email=user.email,
            keys=[candidate.key for candidate in found],
            cutoff=cutoff,
            run_date=settings.today(),
            skip_zero_balance=args.omitir_sin_saldo,
            company_filter=args.sociedad and normalize.company_code(args.sociedad),
            customer_filter=args.cliente and normalize.customer_no(args.cliente),
        )
    print(f"envío núm. {run.id}: {count(run.total, 'cliente')}, fecha de corte {cutoff:%d/%m/%Y}")
    job = processes.Job(run_id=run.id, until_idle=True)
    with _stop_on_signals() as stop:
        processes.Pool(job, args.procesos).run(stop)
    if stop.is_set():
        stopped = _interrupt(sessions, settings, run.id)
        print(
            f"envío núm. {run.id} interrumpido: "
            f"{count(stopped, 'cliente quedó', 'clientes quedaron')} sin enviar "
            "(Reintentar fallidos, en Historial de envíos, los envía)"
        )
        return 1
    with sessions() as session:
        finished = runs.progress(session, run.id).run
        for item in runs.items(session, run.id):
            print(runlog.line(finished, item))
    print(runlog.summary(finished))
    if finished.log_error:
        print(f"el log no se pudo enviar a {finished.notify_email}: {finished.log_error}")
    unsent = finished.failed or finished.uncertain or finished.partial
    return 1 if unsent or queue.stopped(finished) else 0


def _log(args: argparse.Namespace) -> int:
    with db.session_factory(_engine())() as session:
        run = runs.progress(session, args.run_id).run
        print(runlog.text(session, run).replace("\r\n", "\n"), end="")
        if run.status == RunStatus.DONE:
            print(runlog.summary(run))
    return 0


def _bounces(args: argparse.Namespace) -> int:
    settings = config.load_settings()
    if not settings.bounces.enabled:
        raise CommandError(
            "BOUNCE_CHECK=off: para leer los rebotes configure BOUNCE_CHECK=imap o graph "
            "(docs/operacion.md)"
        )
    sender = worker.Worker(db.session_factory(_engine()), settings)
    checker = sender.bounce_checker()
    try:
        if checker is None:  # graph without the OAUTH_* settings is refused when loading them
            raise CommandError("no hay buzón de rebotes configurado (BOUNCE_CHECK)")
        if args.once:
            result = checker.check(force=True, on_bounce=_print_bounce)
            if result is None:
                raise CommandError(f"{bounce_check.BUSY}; intente en unos minutos")
            return _report_check(result)
        with _stop_on_signals() as stop:
            while not stop.is_set():
                result = checker.check(on_bounce=_print_bounce)
                if result is not None:
                    _report_check(result)
                stop.wait(worker.BOUNCE_TRY_SECONDS)
        return 0
    finally:
        sender.transport.close()


def _print_bounce(bounced: addresses.Bounced) -> None:
    print(
        f"{bounced.company_code} | {bounced.customer_no} | {bounced.address} | {bounced.reason}",
        flush=True,
    )


def _report_check(result: bounce_check.Result) -> int:
    print(result.summary(), flush=True)
    if result.error:
        print(f"error: no se pudo leer el buzón de rebotes: {result.error}", file=sys.stderr)
        return 1
    return 0


def _interrupt(sessions: sessionmaker[Session], settings: config.Settings, run_id: int) -> int:
    """A `send` that is stopped (Ctrl+C, SIGTERM from cron's timeout) closes its run: what no
    worker took is recorded as stopped, so the next `send` or Reintentar fallidos can send it.
    """
    with sessions() as session, session.begin():
        stopped = queue.stop_unclaimed(session, run_id, INTERRUPTED, models.utcnow())
    worker.Worker(sessions, settings).finish_runs()
    return stopped


def _schedules_list(_args: argparse.Namespace) -> int:
    zone = config.load_settings().timezone
    with db.session_factory(_engine())() as session:
        found = schedules.listed(session)
        owners = schedules.active_owners(session)
    if not found:
        print("no hay envíos programados")
    for schedule in found:
        reason = schedules.stopped_reason(schedule, owners)
        status = ScheduleStatus(schedule.status).label + (f": {reason}" if reason else "")
        following = formatting.moment(schedule.next_run_at, zone) if schedule.next_run_at else "—"
        print(
            f"{schedule.id} | {schedule.company_code} | "
            f"{'; '.join(schedules.customer_list(schedule)) or 'todos'} | "
            f"{schedules.describe(schedule)} | {schedules.cutoff_text(schedule)} | "
            f"{following} | {status} | {schedule.owner}"
        )
    return 0


def _schedules_run_due(_args: argparse.Namespace) -> int:
    settings = config.load_settings()
    sessions = db.session_factory(_engine())
    occurred = due.run_due(sessions, settings, models.utcnow(), worker=f"{_cli_actor()}:run-due")
    for each in occurred:
        print(_occurrence_line(each, settings.timezone))
    if not occurred:
        print("ningún programado toca ahora")
    if any(each.run_id for each in occurred):
        print("los envíos los hacen los workers (la aplicación o python -m lib.cli worker)")
    return 0


def _occurrence_line(each: due.Occurred, zone: ZoneInfo) -> str:
    head = f"programado núm. {each.schedule_id}, {formatting.moment(each.due_at, zone)}"
    if each.outcome is OccurrenceOutcome.SKIPPED:
        return f"{head}: omitido: {each.reason}"
    made = f"{head}: envío núm. {each.run_id} con {count(each.customers, 'cliente')}"
    return f"{made}: {each.reason}" if each.reason else made


def _mail_test(args: argparse.Namespace) -> int:
    settings = config.load_settings()
    to = emails.address(args.to)
    test = probe.test_message(to, mail_from=settings.mail_from, transport=settings.mail_transport)
    transport = transports.transport_for(settings)
    try:
        receipt = transport.send(test)
    except errors.DeliveryError as exc:
        raise CommandError(f"no se envió la prueba: {exc.reason}") from None
    finally:
        transport.close()
    print(f"prueba enviada a {to} con {settings.mail_transport}: {receipt.reply}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    engine = _engine()
    print(f"worker en marcha sobre {engine.url!r} (Ctrl+C para terminar)", flush=True)
    job = processes.Job(until_idle=args.once)
    with _stop_on_signals() as stop:
        processes.Pool(job, args.procesos).run(stop)
    return 0


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGTERM/SIGINT end the loop after the current customer, never in the middle of one."""
    stop = threading.Event()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _catalog_import(args: argparse.Namespace) -> int:
    try:
        batch = catalog.from_table(tables.read_path(args.file))
    except tables.TableError as exc:
        raise CommandError(str(exc)) from None
    engine = _engine()
    with db.session_factory(engine)() as session, session.begin():
        results = catalog.apply(session, batch, username=_cli_actor())
    for notice in batch.notices:
        print(notice)
    for result in results:
        print(f"fila {result.row}: {result.message}")
    counts = catalog.totals(results)
    print("resumen: " + ", ".join(f"{label} {n}" for label, n in counts.items()))
    return 1 if counts[catalog.ERROR] else 0


def _catalog_export(args: argparse.Namespace) -> int:
    engine = _engine()
    with db.session_factory(engine)() as session:
        content = catalog.export_xlsx(session)
    try:
        args.file.write_bytes(content)
    except OSError as exc:
        raise CommandError(f"no se pudo escribir {args.file}: {exc.strerror}") from None
    print(f"catálogo exportado a {args.file}")
    return 0


def _catalog_add(args: argparse.Namespace) -> int:
    engine = _engine()
    with db.session_factory(engine)() as session, session.begin():
        verdict = catalog.add_one(
            session,
            args.company,
            args.customer,
            args.emails,
            username=_cli_actor(),
            language=args.idioma,
        )
    message = catalog.individual_message(verdict)
    if verdict.status == catalog.ERROR:
        raise CommandError(message)
    print(message)
    return 0


def _catalog_delete(args: argparse.Namespace) -> int:
    engine = _engine()
    with db.session_factory(engine)() as session, session.begin():
        deleted = catalog.delete(session, args.company, args.customer, username=_cli_actor())
    if not deleted:
        raise CommandError(f"el cliente {args.customer} no está en el catálogo de {args.company}")
    print(f"cliente {args.customer} borrado del catálogo de {args.company}")
    return 0


def _statement(args: argparse.Namespace) -> int:
    settings = config.load_settings()
    today = settings.today()
    engine = _engine()
    with db.session_factory(engine)() as session:
        built = statements.build(session, args.company, args.customer, args.fecha_corte or today)
    name = message.attachment_name(built.customer.code, today)
    if args.format == "html":
        logo = pdf.logo_for(settings.data_dir, built.company.code)
        content = pdf.html(built, logo=logo, issued=today).encode("utf-8")
    else:
        logo = pdf.logo_for(settings.data_dir, built.company.code)
        content = pdf.render(built, logo=logo, issued=today)
    output = args.output or Path(name if args.format == "pdf" else name.replace(".pdf", ".html"))
    try:
        output.write_bytes(content)
    except OSError as exc:
        raise CommandError(f"no se pudo escribir {output}: {exc.strerror}") from None
    print(f"estado de cuenta de {built.customer.code} ({built.customer.name}) en {output}")
    return 0


def _engine() -> Engine:
    """The configured database at the newest schema; the CLI never loads demo data by itself."""
    engine = db.create_engine_for(config.load_settings().database_url)
    db.migrate(engine)
    return engine


def _init(_args: argparse.Namespace) -> int:
    engine = _engine()
    print(f"esquema al día (revisión {db.current_revision(engine)}) en {engine.url!r}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    engine = _engine()
    with db.session_factory(engine)() as session, session.begin():
        try:
            data = demo.load(session, args.fecha)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    print(
        f"demo cargado: {len(data.companies)} sociedades, {len(data.customers)} clientes, "
        f"{len(data.open_items)} partidas abiertas, {len(data.recipients)} en catálogo"
    )
    return 0


def _first_admin(_args: argparse.Namespace) -> int:
    """Run before the app starts, so its console shows the first password before any visit;
    with users already there it prints nothing."""
    app.create_first_admin(_engine(), config.load_settings())
    return 0


def _users_add(args: argparse.Namespace) -> int:
    password = _read_password(args.password_stdin)
    engine = _engine()
    with db.session_factory(engine)() as session, session.begin():
        user = users.create_user(
            session,
            username=args.username,
            name=args.name,
            email=args.email,
            role=args.role,
            password=password,
            created_by=_cli_actor(),
        )
    print(f"usuario '{user.username}' creado con rol {user.role}")
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError("sin terminal para preguntar la contraseña; usa --password-stdin")
    first = getpass.getpass("Contraseña: ")
    if first != getpass.getpass("Repite la contraseña: "):
        raise CommandError("las contraseñas no coinciden")
    return first


def _import(args: argparse.Namespace) -> int:
    try:
        content = args.file.read_bytes()
    except OSError as exc:
        raise CommandError(f"no se pudo leer {args.file}: {exc.strerror}") from None
    engine = _engine()
    result = importers.import_file(
        db.session_factory(engine), args.kind, args.file.name, content, username=_cli_actor()
    )
    for error in [] if result.unreadable else result.errors:
        print(error, file=sys.stderr)
    print(result.summary(), file=sys.stdout if result.ok else sys.stderr)
    for effect in result.effects:
        print(effect.describe())
    return 0 if result.ok else 1


def _undo_open_items(args: argparse.Namespace) -> int:
    company = normalize.company_code(args.company)
    with db.session_factory(_engine()).begin() as session:
        undone = open_item_imports.undo(session, company, username=_cli_actor())
    print(undone.summary())
    return 0


def _cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


if __name__ == "__main__":
    sys.exit(main())
