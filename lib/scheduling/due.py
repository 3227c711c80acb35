"""Running the schedules that are due: each due occurrence becomes exactly one normal send run
(or one recorded reason why not), however many workers look at the same moment, on however
many machines, and however long the app was down.

Exactly once comes from the order of one transaction per schedule: first an UPDATE of the
schedule's row that only matches while it is still due (it takes SQLite's write lock, or the
row's lock on PostgreSQL, where a second worker waits and then finds it no longer due); then
the occurrence rows, unique per schedule and moment; then the run; then the next moment.
Either all of it is committed or none of it.

Occurrences missed while nothing ran: the newest one runs on recovery if it is younger than
SCHEDULE_CATCHUP_HOURS (never less than ON_TIME, a worker's usual lateness); every other one is
recorded as skipped, saying why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lib import formatting
from lib.config import Settings
from lib.models import Schedule, ScheduleOccurrence, SendRun, User
from lib.normalize import InvalidValue
from lib.scheduling import schedules
from lib.scheduling.recurrence import CutoffRule, cutoff
from lib.scheduling.schedules import OccurrenceOutcome, ScheduleStatus
from lib.sending import runs

log = logging.getLogger(__name__)

NO_CUSTOMERS = "la Sociedad {company} no tiene clientes en el catálogo de envío"
# Found this late an occurrence is on time, whatever SCHEDULE_CATCHUP_HOURS says (0 too): a
# worker looks every 20 s, between two customers' emails, and one email with its retries can
# take minutes.
ON_TIME = timedelta(minutes=15)


@dataclass(frozen=True)
class Occurred:
    """One due moment of a schedule and what became of it."""

    schedule_id: int
    due_at: datetime
    outcome: OccurrenceOutcome
    reason: str = ""
    run_id: int | None = None
    customers: int = 0


def due_ids(session: Session, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(Schedule.id)
            .where(Schedule.status == ScheduleStatus.ACTIVE, Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at, Schedule.id)
        )
    )


def run_due(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, *, worker: str = ""
) -> list[Occurred]:
    """Run every schedule due at `now`; what this call did (another worker's share is not
    in it)."""
    with sessions() as session:
        ids = due_ids(session, now)
    done: list[Occurred] = []
    for schedule_id in ids:
        try:
            with sessions() as session, session.begin():
                done += _run_one(session, schedule_id, settings, now, worker)
        except IntegrityError:
            # The guarded UPDATE keeps racing workers apart; this is the unique key's backstop.
            log.warning("schedule %d: occurrence not recorded", schedule_id, exc_info=True)
        except DBAPIError:
            raise  # the database is away: the worker's loop waits and tries again
        except Exception:
            # Ours: the others still run, and this one is tried again on the next look.
            log.exception("schedule %d could not be run", schedule_id)
    return done


def _run_one(
    session: Session, schedule_id: int, settings: Settings, now: datetime, worker: str
) -> list[Occurred]:
    still_due = session.execute(
        update(Schedule)
        .where(
            Schedule.id == schedule_id,
            Schedule.status == ScheduleStatus.ACTIVE,
            Schedule.next_run_at <= now,
        )
        .values(next_run_at=Schedule.next_run_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not still_due:
        return []  # another worker ran it a moment ago
    schedule = session.scalars(
        select(Schedule).where(Schedule.id == schedule_id).execution_options(populate_existing=True)
    ).one()
    assert schedule.next_run_at is not None
    zone = settings.timezone
    recurrence = schedules.recurrence_of(schedule)
    moments = _unrecorded(session, schedule_id, recurrence.between(schedule.next_run_at, now, zone))
    if not moments:
        _advance(schedule, recurrence.next_after(now, zone))
        return []
    hours = settings.schedule_catchup_hours
    window = max(timedelta(hours=hours), ON_TIME)
    latest = moments[-1]
    superseded = _superseded(latest, zone)
    done = [
        _skipped(schedule_id, moment, _too_late(hours) if now - moment > window else superseded)
        for moment in moments[:-1]
    ]
    if now - latest > window:
        done.append(_skipped(schedule_id, latest, _too_late(hours)))
    else:
        done.append(_start(session, schedule, latest, now, zone))
    for occurred in done:
        session.add(_record(schedule_id, occurred, now, worker))
    session.flush()  # a second record of the same moment fails here, before anything else
    _advance(schedule, recurrence.next_after(now, zone))
    return done


def _unrecorded(session: Session, schedule_id: int, moments: list[datetime]) -> list[datetime]:
    """The moments with no occurrence yet: an edit or Reanudar on a machine whose clock is
    behind the workers' can set the next moment back onto one already recorded, which would
    otherwise fail the unique key on every look and never move on."""
    recorded = set(
        session.scalars(
            select(ScheduleOccurrence.due_at).where(
                ScheduleOccurrence.schedule_id == schedule_id,
                ScheduleOccurrence.due_at.in_(moments),
            )
        )
    )
    return [moment for moment in moments if moment not in recorded]


def _advance(schedule: Schedule, following: datetime | None) -> None:
    schedule.next_run_at = following
    if schedule.status == ScheduleStatus.ACTIVE and following is None:
        schedule.status = ScheduleStatus.FINISHED


def _start(
    session: Session, schedule: Schedule, due_at: datetime, now: datetime, zone: ZoneInfo
) -> Occurred:
    """The occurrence's run, or why there is none. Its fecha de corte follows the day it was
    due (a run late after an outage still sends what was meant), its run date the day it runs.
    """
    owner = session.scalar(select(User).where(User.username == schedule.owner))
    if owner is None or not owner.active:
        reason = schedules.owner_inactive(schedule.owner)
        schedule.status, schedule.status_reason = ScheduleStatus.STOPPED, reason
        return _skipped(schedule.id, due_at, f"no se envió: {reason}")
    cut = cutoff(
        CutoffRule(schedule.cutoff_rule), due_at.astimezone(zone).date(), schedule.cutoff_day
    )
    keys = _keys(session, schedule, cut)
    note = "" if keys else NO_CUSTOMERS.format(company=schedule.company_code)
    run_day = now.astimezone(zone).date()
    clashes = runs.busy(session, keys)
    try:
        run = _create(session, schedule, owner, keys, cut, run_day, note, clashes)
    except InvalidValue:
        # A Procesar took some of them since `busy` looked (PostgreSQL). create_run locked the
        # sociedad before refusing, so this second look is the last word.
        clashes = runs.busy(session, keys)
        run = _create(session, schedule, owner, keys, cut, run_day, note, clashes)
    outcome = OccurrenceOutcome.STARTED if run.total else OccurrenceOutcome.EMPTY
    return Occurred(schedule.id, due_at, outcome, run.note, run.id, run.total)


def _keys(session: Session, schedule: Schedule, cut: date) -> list[runs.Key]:
    """The listed customers (one no longer in the catalog fails on its own row, as in any
    run), or every catalog customer of the sociedad."""
    if listed := schedules.customer_list(schedule):
        return [(schedule.company_code, number) for number in listed]
    return [c.key for c in runs.candidates(session, schedule.company_code, None, cut)]


def _create(
    session: Session,
    schedule: Schedule,
    owner: User,
    keys: list[runs.Key],
    cut: date,
    run_date: date,
    note: str,
    clashes: dict[runs.Key, int],
) -> SendRun:
    """The run, leaving out the customers busy in another run (and saying so)."""
    if clashes:
        keys, note = [k for k in keys if k not in clashes], _busy_note(clashes)
    return runs.create_run(
        session,
        username=owner.username,
        notify_email=owner.email,
        keys=keys,
        cutoff=cut,
        run_date=run_date,
        skip_zero_balance=schedule.skip_zero_balance,
        company_filter=schedule.company_code,
        customer_filter=schedule.customers or None,
        schedule_id=schedule.id,
        note=note,
    )


def _busy_note(clashes: dict[runs.Key, int]) -> str:
    numbers = ", ".join(str(run) for run in sorted(set(clashes.values())))
    return (
        f"no se {formatting.plural(len(clashes), 'incluyó', 'incluyeron')} "
        f"{formatting.count(len(clashes), 'cliente')} que ya "
        f"{formatting.plural(len(clashes), 'estaba', 'estaban')} en un envío en curso "
        f"(núm. {numbers})"
    )


def _superseded(latest: datetime, zone: ZoneInfo) -> str:
    return (
        "no se envió: la aplicación no estaba en marcha a esa hora; de las fechas perdidas "
        f"solo se atiende la más reciente, la del {formatting.moment(latest, zone)}"
    )


def _too_late(hours: int) -> str:
    return (
        "no se envió: la aplicación no estaba en marcha a esa hora y pasaron más de "
        f"{formatting.count(hours, 'hora')} (SCHEDULE_CATCHUP_HOURS)"
    )


def _skipped(schedule_id: int, due_at: datetime, reason: str) -> Occurred:
    return Occurred(schedule_id, due_at, OccurrenceOutcome.SKIPPED, reason)


def _record(schedule_id: int, occurred: Occurred, now: datetime, worker: str) -> ScheduleOccurrence:
    return ScheduleOccurrence(
        schedule_id=schedule_id,
        due_at=occurred.due_at,
        outcome=occurred.outcome,
        reason=occurred.reason,
        run_id=occurred.run_id,
        at=now,
        worker=worker,
    )
