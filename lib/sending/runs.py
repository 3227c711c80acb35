"""Send runs: Procesar writes a run and one item per customer (`create_run`); the screens read
runs back (progress, history, retries) and Detener stops one. Sending is the worker's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import CTE, Select, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from lib import bounce_marks, catalog, emails, formatting, normalize
from lib.models import (
    AddressBounce,
    AuditEvent,
    Company,
    Customer,
    OpenItem,
    Recipient,
    SendItem,
    SendRun,
    utcnow,
)
from lib.sending import queue
from lib.sending.status import (
    ACTIVE_RUN_STATES,
    OPEN_ITEM_STATES,
    RETRIED_ITEM_STATES,
    ItemStatus,
    RunStatus,
)

NO_BALANCE = "sin saldo"
NOT_IN_CATALOG = "ya no está en el catálogo de envío"
UNCERTAIN_REASON = (
    "el envío se interrumpió mientras se entregaba el correo; no se sabe si llegó. "
    "Revísalo antes de reenviar"
)

Key = tuple[str, str]
WARNED_CUSTOMERS = 5


@dataclass(frozen=True)
class Candidate:
    """A catalog customer that a send can include, with its balance at the fecha de corte and
    the bounce marks of its addresses.
    """

    company_code: str
    customer_no: str
    name: str
    emails: str
    balance: dict[str, Decimal]
    bounces: tuple[bounce_marks.Mark, ...] = ()

    @property
    def key(self) -> Key:
        return (self.company_code, self.customer_no)

    @property
    def key_text(self) -> str:
        """`SM02/1006210`: the selection's key, and how the warnings name the customer."""
        return f"{self.company_code}/{self.customer_no}"

    @property
    def bounce_text(self) -> str:
        return "; ".join(mark.text() for mark in self.bounces)


def candidates(
    session: Session, company: str | None, customer_no: str | None, cutoff: date
) -> list[Candidate]:
    """Catalog customers of the Sociedad and/or No. Cliente, in order; one query each for the
    list, the balances and the bounce marks, whatever their number.
    """
    company_code = normalize.company_code(company) if company and company.strip() else None
    number = normalize.customer_no(customer_no) if customer_no and customer_no.strip() else None
    if company_code is None and number is None:
        raise normalize.InvalidValue("indica la Sociedad y/o el No. Cliente")
    query = _catalog_rows()
    sums = select(
        OpenItem.company_code,
        OpenItem.customer_no,
        OpenItem.currency,
        func.sum(OpenItem.open_amount),
    ).where(OpenItem.doc_date <= cutoff)
    # Filtered like the list rather than by its keys, so one query whatever the list's size.
    marked = select(AddressBounce).order_by(AddressBounce.at, AddressBounce.id)
    if company_code is not None:
        query = query.where(Recipient.company_code == company_code)
        sums = sums.where(OpenItem.company_code == company_code)
        marked = marked.where(AddressBounce.company_code == company_code)
    if number is not None:
        query = query.where(Recipient.customer_no == number)
        sums = sums.where(OpenItem.customer_no == number)
        marked = marked.where(AddressBounce.customer_no == number)
    balances: dict[Key, dict[str, Decimal]] = defaultdict(dict)
    grouped = sums.group_by(OpenItem.company_code, OpenItem.customer_no, OpenItem.currency)
    for code, customer, currency, total in session.execute(grouped):
        if total:
            balances[(code, customer)][currency] = total
    marks: dict[Key, list[bounce_marks.Mark]] = defaultdict(list)
    for row in session.scalars(marked):
        marks[(row.company_code, row.customer_no)].append(
            bounce_marks.Mark(row.address, row.reason, row.at, row.run_id)
        )
    rows = session.execute(query.order_by(Recipient.company_code, Recipient.customer_no))
    return [
        Candidate(
            code,
            customer,
            name,
            address_list,
            balances.get((code, customer), {}),
            tuple(marks.get((code, customer), ())),
        )
        for code, customer, name, address_list in rows
    ]


def bounce_warning(chosen: Sequence[Candidate]) -> str:
    """Before Procesar: which selected customers have addresses that bounced before, or ""."""
    marked = [c for c in chosen if c.bounces]
    if not marked:
        return ""
    listed = "; ".join(
        f"{c.key_text} {', '.join(m.text() for m in c.bounces)}" for c in marked[:WARNED_CUSTOMERS]
    )
    if len(marked) > WARNED_CUSTOMERS:
        listed += f" y {len(marked) - WARNED_CUSTOMERS:,} más"
    has = "tiene" if len(marked) == 1 else "tienen"
    return (
        f"{len(marked):,} de los clientes seleccionados {has} correos que rebotaron en "
        f"envíos anteriores: {listed}. Corrígelos en el Catálogo Envío Masivo o quítalos de "
        "la selección antes de Procesar."
    )


def send_question(
    chosen: Sequence[Candidate],
    companies: dict[str, str],
    cutoff: date,
    *,
    hidden: int = 0,
    skip_zero_balance: bool = False,
) -> str:
    """The last look before Procesar sends: how many statements, of which sociedad, for which
    fecha de corte, to how many customers and addresses, and what the filter hides.
    """
    codes = sorted({c.company_code for c in chosen})
    if len(codes) == 1:
        where = f"de {companies.get(codes[0], codes[0])}"
    else:
        where = f"de las sociedades {', '.join(codes)}"
    addresses = sum(len([a for a in c.emails.split(emails.SEPARATOR) if a]) for c in chosen)
    count = len(chosen)
    question = (
        f"Se enviarán {formatting.count(count, 'estado')} de cuenta {where} con "
        f"fecha de corte {formatting.day(cutoff)} a {formatting.count(count, 'cliente')} "
        f"({formatting.count(addresses, 'correo')})"
    )
    if hidden:
        question += f"; incluye {hidden:,} que el filtro oculta"
    if skip_zero_balance:
        question += "; los que no tienen saldo quedan en el log como «sin saldo»"
    return question + "."


def matching(found: Sequence[Candidate], text: str) -> list[Candidate]:
    """The candidates whose No. Cliente, name or emails contain `text`, ignoring case."""
    needle = text.strip().lower()
    return [c for c in found if needle in f"{c.customer_no} {c.name} {c.emails}".lower()]


def create_run(
    session: Session,
    *,
    username: str,
    notify_email: str,
    keys: Sequence[Key],
    cutoff: date,
    run_date: date,
    skip_zero_balance: bool = False,
    company_filter: str | None = None,
    customer_filter: str | None = None,
    retry_of: int | None = None,
    schedule_id: int | None = None,
    note: str = "",
) -> SendRun:
    """Write the run and one pending item per customer, inside the caller's transaction.

    Refused when a customer is still pending in another run, so one Procesar cannot email a
    customer that an earlier one is about to email. A run without customers is written only
    with a `note` saying why (a schedule's occurrence that found nobody): the worker closes
    it and its owner gets the log with the note.
    """
    wanted = list(dict.fromkeys(keys))
    if not wanted and not note:
        raise normalize.InvalidValue("no hay clientes seleccionados para enviar")
    codes = sorted({code for code, _ in wanted})
    # Takes the write lock (SQLite) or the sociedades' row locks (PostgreSQL) first, so two
    # Procesar at the same moment cannot both pass the check below.
    session.execute(update(Company).where(Company.code.in_(codes)).values(name=Company.name))
    _refuse_if_active(session, wanted)
    run = SendRun(
        started_by=username,
        notify_email=notify_email,
        company_code=company_filter,
        customer_filter=customer_filter,
        cutoff_date=cutoff,
        run_date=run_date,
        skip_zero_balance=skip_zero_balance,
        retry_of=retry_of,
        schedule_id=schedule_id,
        note=note,
        status=RunStatus.PENDING,
        total=len(wanted),
    )
    session.add(run)
    session.flush()
    if wanted:
        catalog = _catalog_entries(session, codes)
        rows = [_item_row(run.id, key, catalog.get(key)) for key in wanted]
        session.execute(insert(SendItem), rows)
    scheduled = f", programado núm. {schedule_id}" if schedule_id is not None else ""
    session.add(
        AuditEvent(
            username=username,
            action="send_run",
            entity="send_run",
            entity_key=str(run.id),
            details=f"{len(wanted)} clientes, fecha de corte {cutoff.isoformat()}{scheduled}",
        )
    )
    return run


def busy(session: Session, keys: Sequence[Key]) -> dict[Key, int]:
    """The customers among `keys` still waiting in an active run, with that run."""
    wanted = set(keys)
    rows = session.execute(
        select(SendItem.company_code, SendItem.customer_no, SendItem.run_id).where(
            SendItem.company_code.in_(sorted({code for code, _ in wanted})),
            SendItem.status.in_(OPEN_ITEM_STATES),
        )
    )
    return {(code, customer): run for code, customer, run in rows if (code, customer) in wanted}


def _catalog_rows() -> Select[tuple[str, str, str, str]]:
    """Sociedad, No. Cliente, name and emails of every catalog entry."""
    return select(
        Recipient.company_code, Recipient.customer_no, Customer.name, Recipient.emails
    ).join(Customer, catalog.customer_of_recipient())


def _refuse_if_active(session: Session, wanted: Sequence[Key]) -> None:
    if clashes := busy(session, wanted):
        numbers = ", ".join(str(run) for run in sorted(set(clashes.values())))
        raise normalize.InvalidValue(
            f"{len(clashes)} de estos clientes ya están en un envío en curso (núm. {numbers}); "
            "espera a que termine o revísalo en Historial de envíos"
        )


def _catalog_entries(session: Session, codes: list[str]) -> dict[Key, tuple[str, str]]:
    rows = session.execute(_catalog_rows().where(Recipient.company_code.in_(codes)))
    return {(code, customer): (name, addresses) for code, customer, name, addresses in rows}


def _item_row(run_id: int, key: Key, entry: tuple[str, str] | None) -> dict[str, object]:
    row: dict[str, object] = {"run_id": run_id, "company_code": key[0], "customer_no": key[1]}
    if entry is None:
        return row | {
            "customer_name": "",
            "emails": "",
            "status": ItemStatus.FAILED,
            "error": NOT_IN_CATALOG,
        }
    return row | {
        "customer_name": entry[0],
        "emails": entry[1],
        "status": ItemStatus.PENDING,
        "error": "",
    }


@dataclass(frozen=True)
class Progress:
    run: SendRun
    counts: dict[str, int]
    # Why the run is waiting (the mail server took no message), or "" when it is not.
    waiting: str = ""

    @property
    def done(self) -> int:
        return (
            self.run.total
            - self.counts.get(ItemStatus.PENDING, 0)
            - self.counts.get(ItemStatus.SENDING, 0)
        )

    @property
    def fraction(self) -> float:
        return self.done / self.run.total if self.run.total else 1.0

    @property
    def finished(self) -> bool:
        return self.run.status == RunStatus.DONE


def progress(session: Session, run_id: int) -> Progress:
    run = session.get(SendRun, run_id)
    if run is None:
        raise normalize.InvalidValue(f"el envío {run_id} no existe")
    waiting = session.scalar(
        select(SendItem.error)
        .where(
            SendItem.run_id == run_id, SendItem.status == ItemStatus.PENDING, SendItem.error != ""
        )
        .order_by(SendItem.id)
        .limit(1)
    )
    return Progress(run, counts(session, [run_id]).get(run_id, {}), waiting or "")


def counts(session: Session, run_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Items per status of several runs in one query, for the history table."""
    table: dict[int, dict[str, int]] = defaultdict(dict)
    rows = session.execute(
        select(SendItem.run_id, SendItem.status, func.count())
        .where(SendItem.run_id.in_(run_ids))
        .group_by(SendItem.run_id, SendItem.status)
    )
    for run_id, status, number in rows:
        table[run_id][status] = number
    return dict(table)


def items(session: Session, run_id: int) -> list[SendItem]:
    return list(
        session.scalars(select(SendItem).where(SendItem.run_id == run_id).order_by(SendItem.id))
    )


def run_to_show(session: Session, run_id: int | None, username: str) -> SendRun | None:
    """The run the send page follows: the one just created there, or the user's latest."""
    if run_id is not None:
        return session.get(SendRun, run_id)
    return latest_run(session, username)


def latest_run(session: Session, username: str) -> SendRun | None:
    """The user's active run, or else their most recent one."""
    mine = select(SendRun).where(SendRun.started_by == username)
    active = session.scalar(
        mine.where(SendRun.status.in_(ACTIVE_RUN_STATES)).order_by(SendRun.id.desc()).limit(1)
    )
    return active or session.scalar(mine.order_by(SendRun.id.desc()).limit(1))


def runs(
    session: Session,
    *,
    company: str | None = None,
    username: str | None = None,
    since: date | None = None,
    limit: int = 200,
) -> list[SendRun]:
    query = select(SendRun).order_by(SendRun.id.desc()).limit(limit)
    if company:
        query = query.where(SendRun.company_code == normalize.company_code(company))
    if username:
        query = query.where(SendRun.started_by == username)
    if since:
        query = query.where(SendRun.run_date >= since)
    return list(session.scalars(query))


def item_message(item: SendItem) -> str:
    """The Mensaje of a row: why it was not sent, or nothing more to say."""
    if item.status == ItemStatus.PENDING:
        return item.error  # why it waits, if it does
    if item.status in (ItemStatus.SENT, ItemStatus.SENDING):
        return ""
    if item.status == ItemStatus.UNCERTAIN:
        return item.error or UNCERTAIN_REASON
    return item.error  # partial: the addresses that did not take it


def stop(session: Session, run_id: int, *, username: str) -> int:
    """Stop a run: its customers no worker has taken yet are recorded as stopped, saying who
    stopped it (Reintentar fallidos sends them later); those being sent finish. The worker then
    closes the run and emails its log as usual. Returns how many customers were stopped.
    """
    run = session.get(SendRun, run_id)
    if run is None or run.status not in ACTIVE_RUN_STATES:
        raise normalize.InvalidValue(f"el envío {run_id} ya terminó; no hay nada que detener")
    stopped = queue.stop_unclaimed(session, run_id, f"envío detenido por {username}", utcnow())
    session.add(
        AuditEvent(
            username=username,
            action="send_run_stop",
            entity="send_run",
            entity_key=str(run_id),
            details=f"{stopped} clientes sin enviar",
        )
    )
    return stopped


def retry(
    session: Session,
    run_id: int,
    *,
    username: str,
    notify_email: str,
    run_date: date,
    include_uncertain: bool = False,
) -> SendRun:
    """A new run for the customers of `run_id` that got nothing (and, if asked, the uncertain
    ones) and can still be sent: those no longer in the catalog are left out, as the question
    said.
    """
    plan = _retry_plan(session, run_id, include_uncertain)
    return create_run(
        session,
        username=username,
        notify_email=notify_email,
        keys=[c.key for c in plan.chosen],
        cutoff=plan.original.cutoff_date,
        run_date=run_date,
        skip_zero_balance=plan.original.skip_zero_balance,
        company_filter=plan.original.company_code,
        customer_filter=plan.original.customer_filter,
        retry_of=run_id,
    )


def retry_question(
    session: Session, run_id: int, companies: dict[str, str], *, include_uncertain: bool = False
) -> str:
    """Reintentar fallidos' last look, with the numbers `retry` would send (the catalog's
    addresses as they are now, which the retry takes) and the customers it leaves out.
    """
    plan = _retry_plan(session, run_id, include_uncertain)
    question = send_question(plan.chosen, companies, plan.original.cutoff_date,
                             skip_zero_balance=plan.original.skip_zero_balance)  # fmt: skip
    if not plan.left_out:
        return question
    verb = formatting.plural(plan.left_out, "reintenta", "reintentan")
    return f"{question} {_gone(plan.left_out)} y no se {verb}."


@dataclass(frozen=True)
class _RetryPlan:
    original: SendRun
    # In the catalog with its addresses as they are now, in the original run's order.
    chosen: list[Candidate]
    # No longer in the catalog (or without an address there): nothing to send them.
    left_out: int


def _retry_plan(session: Session, run_id: int, include_uncertain: bool) -> _RetryPlan:
    original = progress(session, run_id).run
    keys = _retried(session, run_id, include_uncertain)
    entries = _catalog_entries(session, sorted({code for code, _ in keys}))
    chosen = []
    for key in keys:
        name, addresses = entries.get(key, ("", ""))
        if addresses:
            chosen.append(Candidate(*key, name, addresses, {}))
    left_out = len(keys) - len(chosen)
    if not chosen:
        raise normalize.InvalidValue(
            f"no hay nada que reintentar en el envío {run_id}: {_gone(left_out)}"
        )
    return _RetryPlan(original, chosen, left_out)


def _gone(count: int) -> str:
    if count == 1:
        return "1 cliente ya no está en el catálogo de envío"
    return f"{count:,} clientes ya no están en el catálogo de envío"


def _retried(session: Session, run_id: int, include_uncertain: bool) -> list[Key]:
    states = (
        (*RETRIED_ITEM_STATES, ItemStatus.UNCERTAIN) if include_uncertain else RETRIED_ITEM_STATES
    )
    keys = session.execute(
        select(SendItem.company_code, SendItem.customer_no)
        .where(SendItem.run_id == run_id, SendItem.status.in_(states))
        .order_by(SendItem.id)
    ).all()
    if not keys:
        raise normalize.InvalidValue(f"el envío {run_id} no tiene clientes por reintentar")
    return [(code, customer) for code, customer in keys]


@dataclass(frozen=True)
class DailyOutcome:
    day: date
    company_code: str
    status: str
    count: int


def daily_outcomes(session: Session, since: date) -> list[DailyOutcome]:
    """Emails per day, sociedad and outcome since `since`, for the Home chart. A customer
    counts once per run and its retries, with its latest outcome on that run's day: one
    stopped or failed and sent by Reintentar fallidos later is a sent one.
    """
    chains = _retry_chains()
    ranked = (
        select(
            SendRun.run_date,
            SendItem.company_code,
            SendItem.status,
            func.row_number()
            .over(
                partition_by=(chains.c.first_run, SendItem.company_code, SendItem.customer_no),
                order_by=SendItem.run_id.desc(),
            )
            .label("newest"),
        )
        .join(SendRun, SendRun.id == SendItem.run_id)
        .join(chains, chains.c.run_id == SendItem.run_id)
        .where(SendRun.run_date >= since, SendItem.status.not_in(OPEN_ITEM_STATES))
        .subquery()
    )
    outcome = (ranked.c.run_date, ranked.c.company_code, ranked.c.status)
    rows = session.execute(
        select(*outcome, func.count())
        .where(ranked.c.newest == 1)
        .group_by(*outcome)
        .order_by(*outcome)
    )
    return [DailyOutcome(*row) for row in rows]


def _retry_chains() -> CTE:
    """Every run with the first run of its chain of retries (itself when it retries none)."""
    chains = (
        select(SendRun.id.label("run_id"), SendRun.id.label("first_run"))
        .where(SendRun.retry_of.is_(None))
        .cte("retry_chains", recursive=True)
    )
    retry = aliased(SendRun)
    return chains.union_all(
        select(retry.id, chains.c.first_run).where(retry.retry_of == chains.c.run_id)
    )
