"""The schedules of Programados: written, changed, paused, resumed and deleted here, each
change audited. Analysts change their own; an admin changes anyone's. The owner stays the
user who created it: its runs are theirs and their logs go to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lib import emails, formatting, normalize
from lib.models import AuditEvent, Company, Recipient, Schedule, ScheduleOccurrence, User
from lib.normalize import InvalidValue
from lib.scheduling.recurrence import CutoffRule, Frequency, Recurrence, describe_cutoff

CUSTOMER_SEPARATORS = re.compile(r"[;,\s]+")
OCCURRENCES_SHOWN = 20


class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"  # by the workers: its owner can no longer send
    FINISHED = "finished"  # a one-time schedule that ran
    DELETED = "deleted"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    ScheduleStatus.ACTIVE: "▶️ Activo",
    ScheduleStatus.PAUSED: "⏸️ Pausado",
    ScheduleStatus.STOPPED: "⏹️ Detenido",
    ScheduleStatus.FINISHED: "✅ Terminado",
    ScheduleStatus.DELETED: "Borrado",
}


class OccurrenceOutcome(StrEnum):
    STARTED = "started"
    EMPTY = "empty"
    SKIPPED = "skipped"

    @property
    def label(self) -> str:
        return {"started": "✅ Envío creado", "empty": "⚠️ Sin clientes", "skipped": "⏭️ Omitido"}[
            self.value
        ]


@dataclass(frozen=True)
class Plan:
    """What the Programados form asks for, before it is checked."""

    company: str
    customers: str
    cutoff_rule: CutoffRule
    cutoff_day: int | None
    skip_zero_balance: bool
    recurrence: Recurrence


@dataclass(frozen=True)
class Actor:
    username: str
    admin: bool


def recurrence_of(schedule: Schedule) -> Recurrence:
    return Recurrence(
        Frequency(schedule.frequency),
        schedule.at_time,
        day_of_month=schedule.day_of_month,
        weekday=schedule.weekday,
        once_on=schedule.once_on,
    )


def describe(schedule: Schedule) -> str:
    return recurrence_of(schedule).describe()


def cutoff_text(schedule: Schedule) -> str:
    return describe_cutoff(CutoffRule(schedule.cutoff_rule), schedule.cutoff_day)


def customer_list(schedule: Schedule) -> list[str]:
    return [number for number in schedule.customers.split(emails.SEPARATOR) if number]


def listed(session: Session) -> list[Schedule]:
    """Every schedule not deleted: the active ones by their next send, then the paused,
    stopped and finished ones by number."""
    found = session.scalars(
        select(Schedule).where(Schedule.status != ScheduleStatus.DELETED).order_by(Schedule.id)
    )
    return sorted(found, key=_upcoming_first)


def _upcoming_first(schedule: Schedule) -> tuple[bool, datetime]:
    if schedule.status == ScheduleStatus.ACTIVE and schedule.next_run_at is not None:
        return (False, schedule.next_run_at)
    return (True, schedule.created_at)


def occurrences(session: Session, schedule_id: int) -> list[ScheduleOccurrence]:
    return list(
        session.scalars(
            select(ScheduleOccurrence)
            .where(ScheduleOccurrence.schedule_id == schedule_id)
            .order_by(ScheduleOccurrence.due_at.desc(), ScheduleOccurrence.id.desc())
            .limit(OCCURRENCES_SHOWN)
        )
    )


def create(session: Session, plan: Plan, *, by: Actor, now: datetime, zone: ZoneInfo) -> Schedule:
    schedule = Schedule(
        owner=by.username, created_at=now, status=ScheduleStatus.ACTIVE, status_reason=""
    )
    _fill(session, schedule, plan, now, zone)
    schedule.updated_by, schedule.updated_at = by.username, now
    session.add(schedule)
    session.flush()
    _audit(session, by, "schedule_create", schedule, _summary(schedule))
    return schedule


def update(
    session: Session,
    schedule_id: int,
    plan: Plan,
    *,
    by: Actor,
    now: datetime,
    zone: ZoneInfo,
) -> Schedule:
    """Change a schedule; its next occurrence is counted again from now, so an edit never
    runs one that fell due before it. A finished one is active again; a paused or stopped one
    stays so, with its reason, until Reanudar."""
    schedule = _editable(session, schedule_id, by)
    before = _summary(schedule)
    _fill(session, schedule, plan, now, zone)
    if schedule.status == ScheduleStatus.FINISHED:
        schedule.status = ScheduleStatus.ACTIVE
    schedule.updated_by, schedule.updated_at = by.username, now
    _audit(session, by, "schedule_update", schedule, f"{before} → {_summary(schedule)}")
    return schedule


def pause(session: Session, schedule_id: int, *, by: Actor, now: datetime) -> Schedule:
    schedule = _editable(session, schedule_id, by)
    if schedule.status != ScheduleStatus.ACTIVE:
        raise InvalidValue(f"el programado núm. {schedule_id} no está activo")
    schedule.status, schedule.status_reason = ScheduleStatus.PAUSED, ""
    schedule.updated_by, schedule.updated_at = by.username, now
    _audit(session, by, "schedule_pause", schedule, _summary(schedule))
    return schedule


def resume(
    session: Session, schedule_id: int, *, by: Actor, now: datetime, zone: ZoneInfo
) -> Schedule:
    """Active again from now on: what fell due while it was paused or stopped is not run."""
    schedule = _editable(session, schedule_id, by)
    if schedule.status not in (ScheduleStatus.PAUSED, ScheduleStatus.STOPPED):
        raise InvalidValue(f"el programado núm. {schedule_id} no está pausado ni detenido")
    _require_active_owner(session, schedule.owner)
    following = recurrence_of(schedule).next_after(now, zone)
    if following is None:
        raise InvalidValue("la fecha y hora de este envío único ya pasaron; cámbiala con Grabar")
    schedule.status, schedule.status_reason = ScheduleStatus.ACTIVE, ""
    schedule.next_run_at = following
    schedule.updated_by, schedule.updated_at = by.username, now
    _audit(session, by, "schedule_resume", schedule, _summary(schedule))
    return schedule


def delete(session: Session, schedule_id: int, *, by: Actor, now: datetime) -> None:
    """Kept as deleted: its runs in Historial still say which schedule made them."""
    schedule = _editable(session, schedule_id, by)
    schedule.status, schedule.next_run_at = ScheduleStatus.DELETED, None
    schedule.updated_by, schedule.updated_at = by.username, now
    _audit(session, by, "schedule_delete", schedule, _summary(schedule))


def stopped_reason(schedule: Schedule, owners: dict[str, bool]) -> str:
    """Why it does not run, as the table says it; an owner deactivated since the last due
    moment shows at once, before the workers stop the schedule."""
    if schedule.status == ScheduleStatus.STOPPED:
        return schedule.status_reason
    if schedule.status == ScheduleStatus.ACTIVE and not owners.get(schedule.owner, False):
        return owner_inactive(schedule.owner)
    return ""


def owner_inactive(username: str) -> str:
    return f"su dueño ({username}) está desactivado; actívalo y pulsa Reanudar"


def active_per_owner(session: Session) -> dict[str, int]:
    """How many schedules of each user still run: deactivating the user stops them."""
    return {
        owner: number
        for owner, number in session.execute(
            select(Schedule.owner, func.count())
            .where(Schedule.status == ScheduleStatus.ACTIVE)
            .group_by(Schedule.owner)
        )
    }


def active_owners(session: Session) -> dict[str, bool]:
    return {
        username: active for username, active in session.execute(select(User.username, User.active))
    }


def _fill(session: Session, schedule: Schedule, plan: Plan, now: datetime, zone: ZoneInfo) -> None:
    company = normalize.company_code(plan.company)
    if session.get(Company, company) is None:
        raise InvalidValue(f"la Sociedad {company} no existe")
    numbers = _customers(session, company, plan.customers)
    if plan.cutoff_rule is CutoffRule.DAY_OF_MONTH and not 1 <= (plan.cutoff_day or 0) <= 31:
        raise InvalidValue("el día de la fecha de corte debe estar entre 1 y 31")
    following = plan.recurrence.next_after(now, zone)
    if following is None:
        raise InvalidValue("la fecha y hora del envío único ya pasaron; elige una futura")
    recurrence = plan.recurrence
    schedule.company_code = company
    schedule.customers = emails.SEPARATOR.join(numbers)
    schedule.cutoff_rule = plan.cutoff_rule
    schedule.cutoff_day = plan.cutoff_day if plan.cutoff_rule is CutoffRule.DAY_OF_MONTH else None
    schedule.skip_zero_balance = plan.skip_zero_balance
    kind = schedule.frequency = recurrence.frequency
    schedule.day_of_month = recurrence.day_of_month if kind is Frequency.MONTHLY else None
    schedule.weekday = recurrence.weekday if kind is Frequency.WEEKLY else None
    schedule.once_on = recurrence.once_on if kind is Frequency.ONCE else None
    schedule.at_time = recurrence.at
    schedule.next_run_at = following


def _customers(session: Session, company: str, text: str) -> list[str]:
    """The listed No. Cliente, cleaned and each in the sociedad's catalog; "" is everyone."""
    numbers = []
    for raw in CUSTOMER_SEPARATORS.split(text.strip()):
        if raw:
            numbers.append(normalize.customer_no(raw))
    numbers = list(dict.fromkeys(numbers))
    if not numbers:
        return []
    known = set(
        session.scalars(
            select(Recipient.customer_no).where(
                Recipient.company_code == company, Recipient.customer_no.in_(numbers)
            )
        )
    )
    missing = [n for n in numbers if n not in known]
    if missing:
        listed_missing = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise InvalidValue(
            f"{formatting.count(len(missing), 'cliente')} no "
            f"{formatting.plural(len(missing), 'está', 'están')} en el catálogo de envío de "
            f"{company}: {listed_missing}"
        )
    return numbers


def _editable(session: Session, schedule_id: int, by: Actor) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None or schedule.status == ScheduleStatus.DELETED:
        raise InvalidValue(f"el programado núm. {schedule_id} no existe")
    if not by.admin and schedule.owner != by.username:
        raise InvalidValue(
            f"el programado núm. {schedule_id} es de {schedule.owner}; solo su dueño o un "
            "administrador lo cambian"
        )
    return schedule


def _require_active_owner(session: Session, username: str) -> None:
    owner = session.scalar(select(User).where(User.username == username))
    if owner is None or not owner.active:
        raise InvalidValue(owner_inactive(username).split(";")[0])


def _summary(schedule: Schedule) -> str:
    who = (
        formatting.count(len(customer_list(schedule)), "cliente") if schedule.customers else "todos"
    )
    return (
        f"{schedule.company_code} ({who}), {describe(schedule)}, corte: {cutoff_text(schedule)}"
        + (", no envía a clientes sin saldo" if schedule.skip_zero_balance else "")
    )


def _audit(session: Session, by: Actor, action: str, schedule: Schedule, details: str) -> None:
    session.add(
        AuditEvent(
            username=by.username,
            action=action,
            entity="schedule",
            entity_key=str(schedule.id),
            details=details,
        )
    )
