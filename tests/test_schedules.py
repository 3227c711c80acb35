"""Programados: schedules kept and audited (lib/scheduling/schedules.py), their due occurrences
run exactly once (lib/scheduling/due.py), the worker sending what they start to the customers
and the log to the owner, and two workers (threads, then processes) racing for the same due
moment. On SQLite and PostgreSQL; `now` is passed in (a fake clock for the worker), nothing
sleeps.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import sys
import threading
import traceback
import types
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from lib import config, db, users
from lib.mail import pacing
from lib.models import (
    AuditEvent,
    Company,
    Customer,
    OpenItem,
    Recipient,
    Schedule,
    ScheduleOccurrence,
    SendItem,
    SendRun,
)
from lib.normalize import InvalidValue
from lib.scheduling import due, schedules
from lib.scheduling.recurrence import CutoffRule, Frequency, Recurrence
from lib.scheduling.schedules import Actor, Plan, ScheduleStatus
from lib.sending import runs, worker
from lib.sending.status import ItemStatus, RunStatus
from tests.mailserver import MailServer
from tests.test_sending import (
    ANALYST_EMAIL,
    CATALOG,
    smtp_to,
    start_run,
    statement_mails,
    work_until_idle,
)

T = TypeVar("T")

ZONE = ZoneInfo("America/Mexico_City")  # the default TIMEZONE; no DST since 2023
ANA = Actor("ana", admin=False)
BETO = Actor("beto", admin=False)
ROOT = Actor("root", admin=True)
PASSWORD = "clave-de-prueba-1"


def local(text: str) -> datetime:
    """A wall-clock time in Mexico City as the UTC moment the database keeps."""
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).astimezone(UTC)


CREATED = local("2026-12-01 09:00")
# Thursday 3 December 2026 at 21:00 in Mexico City is already Friday the 4th in UTC.
DUE = local("2026-12-03 21:00")
NEXT_MONTH = local("2027-01-03 21:00")
MONTHLY_3 = Recurrence(Frequency.MONTHLY, time(21, 0), day_of_month=3)
THURSDAYS = Recurrence(Frequency.WEEKLY, time(21, 0), weekday=3)
PLAN = Plan(
    company="SM02",
    customers="",
    cutoff_rule=CutoffRule.RUN_DAY,
    cutoff_day=None,
    skip_zero_balance=False,
    recurrence=MONTHLY_3,
)

# What Python alone decides (form checks, permissions, rule arithmetic on top of a run) is
# tested on SQLite; what the database decides too (exactly once, locks, the worker, the races)
# on SQLite and PostgreSQL.
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings(tmp_path: Path) -> config.Settings:
    loaded = config.load_settings(
        tmp_path / "no-secrets.toml",
        {"DATA_DIR": str(tmp_path / "data"), "MAIL_FROM": "Cobranza <cobranza@bajio.example>"},
    )
    assert loaded.timezone == ZONE
    assert loaded.schedule_catchup_hours == 24
    return loaded


@pytest.fixture
def data(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """SM02 with test_sending's five catalog customers (1000002 owes nothing) and one customer
    outside the catalog; SU01 with no catalog customer; the analysts ana and beto, the admin
    root."""
    with sessions() as session, session.begin():
        session.add(Company(code="SM02", name="Soluciones del Bajío"))
        session.add(Company(code="SU01", name="Servicios Unidos"))
        session.flush()
        session.add(Customer(company_code="SM02", customer_no="1009999", name="FUERA DEL CATÁLOGO"))
        session.add(Customer(company_code="SU01", customer_no="2000001", name="SIN CATÁLOGO"))
        for number, (name, addresses) in CATALOG.items():
            session.add(Customer(company_code="SM02", customer_no=number, name=name))
            session.flush()
            session.add(Recipient(company_code="SM02", customer_no=number, emails=addresses,
                                  created_by="seed", updated_by="seed"))  # fmt: skip
            amount = Decimal("0") if number == "1000002" else Decimal("1500.25")
            session.add(OpenItem(company_code="SM02", customer_no=number, doc_no=f"F-{number}",
                                 doc_type="Factura", doc_date=date(2026, 10, 1),
                                 due_date=date(2026, 11, 1), reference="", amount=amount,
                                 open_amount=amount, currency="MXN"))  # fmt: skip
        for username, email, role in (
            ("ana", ANALYST_EMAIL, "analista"),
            ("beto", "beto@finanzas.example", "analista"),
            ("root", "root@finanzas.example", "admin"),
        ):
            users.create_user(session, username=username, name=username.title(), email=email,
                              role=role, password=PASSWORD, created_by="test")  # fmt: skip
    return sessions


def write(sessions: sessionmaker[Session], change: Callable[[Session], T]) -> T:
    with sessions() as session, session.begin():
        return change(session)


def create(
    sessions: sessionmaker[Session], *, by: Actor = ANA, now: datetime = CREATED, **changes: Any
) -> int:
    plan = dataclasses.replace(PLAN, **changes)
    return write(sessions, lambda s: schedules.create(s, plan, by=by, now=now, zone=ZONE).id)


def edit(
    sessions: sessionmaker[Session], schedule_id: int, *, by: Actor, now: datetime, **changes: Any
) -> Schedule:
    plan = dataclasses.replace(PLAN, **changes)
    return write(
        sessions, lambda s: schedules.update(s, schedule_id, plan, by=by, now=now, zone=ZONE)
    )


def resume(sessions: sessionmaker[Session], schedule_id: int, by: Actor, now: datetime) -> None:
    write(sessions, lambda s: schedules.resume(s, schedule_id, by=by, now=now, zone=ZONE))


def set_active(sessions: sessionmaker[Session], username: str, active: bool) -> None:
    write(sessions, lambda s: users.set_active(s, username, active, by="root"))


def stored(sessions: sessionmaker[Session], schedule_id: int) -> Schedule:
    with sessions() as session:
        return session.get_one(Schedule, schedule_id)


def occurrences(sessions: sessionmaker[Session], schedule_id: int) -> list[ScheduleOccurrence]:
    """Oldest first (schedules.occurrences, for the screen, is newest first)."""
    with sessions() as session:
        return list(reversed(schedules.occurrences(session, schedule_id)))


def scheduled_runs(sessions: sessionmaker[Session], schedule_id: int) -> list[SendRun]:
    with sessions() as session:
        found = select(SendRun).where(SendRun.schedule_id == schedule_id).order_by(SendRun.id)
        return list(session.scalars(found))


def run_items(sessions: sessionmaker[Session], run_id: int) -> list[SendItem]:
    with sessions() as session:
        return runs.items(session, run_id)


def audit(sessions: sessionmaker[Session], schedule_id: int) -> list[tuple[str, str]]:
    """The schedule's audit events: action and who."""
    with sessions() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.username)
            .where(AuditEvent.entity == "schedule", AuditEvent.entity_key == str(schedule_id))
            .order_by(AuditEvent.id)
        )
        return [(action, username) for action, username in rows]


def audit_details(sessions: sessionmaker[Session], action: str, key: int) -> str:
    with sessions() as session:
        found = select(AuditEvent.details).where(
            AuditEvent.action == action, AuditEvent.entity_key == str(key)
        )
        return session.scalars(found).one()


def run_due(
    sessions: sessionmaker[Session], settings: config.Settings, now: datetime, **changes: Any
) -> list[due.Occurred]:
    return due.run_due(sessions, dataclasses.replace(settings, **changes), now, worker="w1")


# --- Schedules: create, validate, change, pause, resume, delete -------------------------------


def test_create_cleans_the_form_computes_the_next_run_and_audits(
    data: sessionmaker[Session],
) -> None:
    schedule_id = create(data, company=" sm02 ", customers=" 0001006210, 1004273;1006210.0 ")

    schedule = stored(data, schedule_id)
    assert (schedule.company_code, schedule.customers) == ("SM02", "1006210;1004273")
    assert schedule.next_run_at == DUE
    assert (schedule.status, schedule.status_reason) == (ScheduleStatus.ACTIVE, "")
    assert (schedule.owner, schedule.updated_by, schedule.created_at) == ("ana", "ana", CREATED)
    assert schedules.describe(schedule) == "Mensual, día 3, 21:00"
    assert schedules.cutoff_text(schedule) == "El día del envío"
    assert audit(data, schedule_id) == [("schedule_create", "ana")]
    assert audit_details(data, "schedule_create", schedule_id) == (
        "SM02 (2 clientes), Mensual, día 3, 21:00, corte: El día del envío"
    )


@ON_SQLITE
def test_one_listed_customer_is_counted_in_the_singular(data: sessionmaker[Session]) -> None:
    schedule_id = create(data, customers="1006210", skip_zero_balance=True)

    details = audit_details(data, "schedule_create", schedule_id)
    assert details.startswith("SM02 (1 cliente), ")


@ON_SQLITE
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"company": "xx99"}, "la Sociedad XX99 no existe"),
        ({"customers": "1009999"}, "1 cliente no está en el catálogo de envío de SM02: 1009999"),
        (
            {"customers": "1006210; 5555, 6666"},
            "2 clientes no están en el catálogo de envío de SM02: 5555, 6666",
        ),
        (
            {"customers": "1;2;3;4;5;6"},
            "6 clientes no están en el catálogo de envío de SM02: 1, 2, 3, 4, 5 …",
        ),
        (
            {"company": "SU01", "customers": "1006210"},
            "1 cliente no está en el catálogo de envío de SU01: 1006210",
        ),
        ({"customers": "10062#10"}, "No. Cliente '10062#10' no válido"),
        (
            {"recurrence": Recurrence(Frequency.ONCE, time(8, 0), once_on=date(2026, 12, 1))},
            "la fecha y hora del envío único ya pasaron; elige una futura",
        ),
        (
            {"recurrence": Recurrence(Frequency.ONCE, time(9, 0), once_on=date(2026, 12, 1))},
            "la fecha y hora del envío único ya pasaron; elige una futura",  # now is not future
        ),
        (
            {"cutoff_rule": CutoffRule.DAY_OF_MONTH, "cutoff_day": None},
            "el día de la fecha de corte debe estar entre 1 y 31",
        ),
        (
            {"cutoff_rule": CutoffRule.DAY_OF_MONTH, "cutoff_day": 0},
            "el día de la fecha de corte debe estar entre 1 y 31",
        ),
        (
            {"cutoff_rule": CutoffRule.DAY_OF_MONTH, "cutoff_day": 32},
            "el día de la fecha de corte debe estar entre 1 y 31",
        ),
    ],
)
def test_create_refuses_with_a_clear_message_and_writes_nothing(
    data: sessionmaker[Session], changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidValue) as refused:
        create(data, **changes)

    assert str(refused.value) == message
    with data() as session:
        assert session.scalars(select(Schedule)).all() == []
        assert (
            session.scalars(select(AuditEvent).where(AuditEvent.entity == "schedule")).all() == []
        )


@ON_SQLITE
def test_an_edit_is_checked_like_a_new_one_and_a_refused_edit_changes_nothing(
    data: sessionmaker[Session],
) -> None:
    schedule_id = create(data)

    with pytest.raises(InvalidValue, match=r"^la Sociedad XX99 no existe$"):
        edit(data, schedule_id, by=ANA, now=CREATED, company="XX99", customers="1006210")

    schedule = stored(data, schedule_id)
    assert (schedule.company_code, schedule.customers, schedule.next_run_at) == ("SM02", "", DUE)
    assert audit(data, schedule_id) == [("schedule_create", "ana")]


@ON_SQLITE
@pytest.mark.parametrize(
    "action",
    [
        lambda s, i, by: schedules.update(s, i, PLAN, by=by, now=CREATED, zone=ZONE),
        lambda s, i, by: schedules.pause(s, i, by=by, now=CREATED),
        lambda s, i, by: schedules.resume(s, i, by=by, now=CREATED, zone=ZONE),
        lambda s, i, by: schedules.delete(s, i, by=by, now=CREATED),
    ],
    ids=["update", "pause", "resume", "delete"],
)
def test_an_analyst_cannot_change_another_analysts_schedule(
    data: sessionmaker[Session], action: Callable[[Session, int, Actor], object]
) -> None:
    schedule_id = create(data)

    with pytest.raises(InvalidValue) as refused:
        write(data, lambda s: action(s, schedule_id, BETO))

    assert str(refused.value) == (
        f"el programado núm. {schedule_id} es de ana; solo su dueño o un administrador lo cambian"
    )
    assert stored(data, schedule_id).status == ScheduleStatus.ACTIVE
    assert audit(data, schedule_id) == [("schedule_create", "ana")]


def test_an_admin_changes_anyones_schedule_and_the_owner_stays(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    schedule_id = create(data)

    edit(data, schedule_id, by=ROOT, now=CREATED, customers="1006210")
    write(data, lambda s: schedules.pause(s, schedule_id, by=ROOT, now=CREATED))
    resume(data, schedule_id, ROOT, CREATED)

    schedule = stored(data, schedule_id)
    assert (schedule.owner, schedule.updated_by, schedule.customers) == ("ana", "root", "1006210")
    (occurred,) = run_due(data, settings, DUE)
    (run,) = scheduled_runs(data, schedule_id)
    assert (run.id, run.started_by, run.notify_email) == (occurred.run_id, "ana", ANALYST_EMAIL)
    write(data, lambda s: schedules.delete(s, schedule_id, by=ROOT, now=CREATED))
    assert audit(data, schedule_id) == [
        ("schedule_create", "ana"),
        ("schedule_update", "root"),
        ("schedule_pause", "root"),
        ("schedule_resume", "root"),
        ("schedule_delete", "root"),
    ]


@ON_SQLITE
def test_every_change_is_audited_with_what_it_was_and_became(
    data: sessionmaker[Session],
) -> None:
    schedule_id = create(data)
    edit(data, schedule_id, by=ANA, now=CREATED, recurrence=THURSDAYS, skip_zero_balance=True,
         cutoff_rule=CutoffRule.DAY_OF_MONTH, cutoff_day=15)  # fmt: skip

    assert audit_details(data, "schedule_update", schedule_id) == (
        "SM02 (todos), Mensual, día 3, 21:00, corte: El día del envío → "
        "SM02 (todos), Cada jueves, 21:00, corte: Día 15 del mes, no envía a clientes sin saldo"
    )
    assert stored(data, schedule_id).next_run_at == DUE  # Thursday the 3rd at 21:00 too


@ON_SQLITE
def test_an_edit_counts_the_next_occurrence_from_now(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    """Edited after its due moment but before a worker looked: the missed one is not run."""
    schedule_id = create(data)

    edit(data, schedule_id, by=ANA, now=DUE + timedelta(seconds=5), customers="1006210")

    assert stored(data, schedule_id).next_run_at == NEXT_MONTH
    assert run_due(data, settings, DUE + timedelta(seconds=10)) == []
    assert occurrences(data, schedule_id) == []


def test_pause_then_resume_counts_from_now_and_runs_none_of_what_was_missed(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    schedule_id = create(data, recurrence=THURSDAYS)
    write(data, lambda s: schedules.pause(s, schedule_id, by=ANA, now=CREATED))

    assert stored(data, schedule_id).status == ScheduleStatus.PAUSED
    assert run_due(data, settings, DUE + timedelta(minutes=1)) == []
    with pytest.raises(InvalidValue, match=rf"el programado núm\. {schedule_id} no está activo"):
        write(data, lambda s: schedules.pause(s, schedule_id, by=ANA, now=CREATED))

    resumed_at = local("2026-12-11 10:00")  # Thursdays the 3rd and the 10th went by meanwhile
    resume(data, schedule_id, ANA, resumed_at)

    schedule = stored(data, schedule_id)
    assert (schedule.status, schedule.next_run_at) == (
        ScheduleStatus.ACTIVE,
        local("2026-12-17 21:00"),
    )
    assert run_due(data, settings, resumed_at) == []
    with pytest.raises(InvalidValue, match="no está pausado ni detenido"):
        resume(data, schedule_id, ANA, resumed_at)
    (occurred,) = run_due(data, settings, local("2026-12-17 21:00:20"))
    assert (occurred.due_at, occurred.outcome) == (local("2026-12-17 21:00"), "started")
    assert [o.due_at for o in occurrences(data, schedule_id)] == [local("2026-12-17 21:00")]
    assert len(scheduled_runs(data, schedule_id)) == 1


def test_a_deleted_schedule_is_not_listed_not_changed_and_not_run(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    kept, deleted = create(data), create(data, customers="1006210")

    write(data, lambda s: schedules.delete(s, deleted, by=ANA, now=CREATED))

    with data() as session:
        assert [s.id for s in schedules.listed(session)] == [kept]
        row = session.get_one(Schedule, deleted)
        assert (row.status, row.next_run_at) == (ScheduleStatus.DELETED, None)
    with pytest.raises(InvalidValue, match=rf"^el programado núm\. {deleted} no existe$"):
        write(data, lambda s: schedules.pause(s, deleted, by=ANA, now=CREATED))
    with pytest.raises(InvalidValue, match=rf"^el programado núm\. {deleted} no existe$"):
        edit(data, deleted, by=ROOT, now=CREATED)
    assert [o.schedule_id for o in run_due(data, settings, DUE)] == [kept]


def test_listed_puts_the_next_to_run_first(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    monthly = create(data)  # 3 December
    weekly = create(data, recurrence=Recurrence(Frequency.WEEKLY, time(8, 0), weekday=3))
    once = create(
        data, recurrence=Recurrence(Frequency.ONCE, time(9, 0), once_on=date(2026, 12, 2))
    )
    run_due(data, settings, local("2026-12-02 09:30"))  # the once one ran: finished, no next

    with data() as session:
        listed = schedules.listed(session)
    assert [s.id for s in listed] == [weekly, monthly, once]
    assert [s.status for s in listed] == ["active", "active", "finished"]


def test_listed_puts_paused_schedules_after_the_active_ones(
    data: sessionmaker[Session],
) -> None:
    soon = create(data, recurrence=Recurrence(Frequency.WEEKLY, time(8, 0), weekday=2))
    later = create(data)
    write(data, lambda s: schedules.pause(s, soon, by=ANA, now=CREATED))

    with data() as session:
        assert [s.id for s in schedules.listed(session)] == [later, soon]


@ON_SQLITE
def test_a_next_moment_set_back_onto_one_already_recorded_moves_on_instead_of_sticking(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    """An edit made on a machine whose clock is behind the workers' can put the schedule's next
    moment back on an occurrence already run: it is not run again, and the schedule moves on."""
    schedule_id = create(data)
    assert len(run_due(data, settings, DUE + timedelta(minutes=1))) == 1
    write(data, lambda s: s.execute(update(Schedule).values(next_run_at=DUE)))

    assert run_due(data, settings, DUE + timedelta(minutes=2)) == []

    assert len(scheduled_runs(data, schedule_id)) == 1
    assert stored(data, schedule_id).next_run_at == NEXT_MONTH
    (following,) = run_due(data, settings, NEXT_MONTH)
    assert following.due_at == NEXT_MONTH
    assert following.run_id is not None


# --- Due occurrences ---------------------------------------------------------------------------


def test_a_due_occurrence_becomes_exactly_one_normal_run(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    schedule_id = create(data)
    now = DUE + timedelta(seconds=20)

    assert run_due(data, settings, DUE - timedelta(seconds=1)) == []
    (occurred,) = run_due(data, settings, now)
    assert run_due(data, settings, now) == []
    assert run_due(data, settings, now + timedelta(hours=1)) == []

    assert (occurred.schedule_id, occurred.due_at, occurred.outcome) == (
        schedule_id,
        DUE,
        "started",
    )
    assert (occurred.customers, occurred.reason) == (5, "")
    (run,) = scheduled_runs(data, schedule_id)
    assert run.id == occurred.run_id
    assert (run.started_by, run.notify_email) == ("ana", ANALYST_EMAIL)
    assert (run.company_code, run.customer_filter, run.skip_zero_balance) == ("SM02", None, False)
    # The due day in TIMEZONE (the 3rd), not in UTC (already the 4th).
    assert (run.cutoff_date, run.run_date) == (date(2026, 12, 3), date(2026, 12, 3))
    assert (run.status, run.total, run.note) == (RunStatus.PENDING, 5, "")
    items = run_items(data, run.id)
    assert {(i.customer_no, i.customer_name, i.emails) for i in items} == {
        (number, name, emails) for number, (name, emails) in CATALOG.items()
    }
    assert {i.status for i in items} == {ItemStatus.PENDING}
    (record,) = occurrences(data, schedule_id)
    assert (record.due_at, record.outcome, record.run_id) == (DUE, "started", run.id)
    assert (record.at, record.worker, record.reason) == (now, "w1", "")
    schedule = stored(data, schedule_id)
    assert (schedule.status, schedule.next_run_at) == (ScheduleStatus.ACTIVE, NEXT_MONTH)
    assert audit_details(data, "send_run", run.id) == (
        f"5 clientes, fecha de corte 2026-12-03, programado núm. {schedule_id}"
    )


@ON_SQLITE
@pytest.mark.parametrize(
    ("rule", "day", "expected"),
    [
        (CutoffRule.RUN_DAY, None, date(2026, 12, 3)),
        (CutoffRule.PREVIOUS_MONTH_END, None, date(2026, 11, 30)),
        (CutoffRule.DAY_OF_MONTH, 1, date(2026, 12, 1)),
        (CutoffRule.DAY_OF_MONTH, 3, date(2026, 12, 3)),
        (CutoffRule.DAY_OF_MONTH, 4, date(2026, 11, 4)),  # the 4th in UTC, the 3rd here
        (CutoffRule.DAY_OF_MONTH, 31, date(2026, 11, 30)),
    ],
)
def test_the_runs_cutoff_follows_the_rule_on_the_due_day_in_timezone(
    data: sessionmaker[Session],
    settings: config.Settings,
    rule: CutoffRule,
    day: int | None,
    expected: date,
) -> None:
    schedule_id = create(data, cutoff_rule=rule, cutoff_day=day)

    run_due(data, settings, DUE)

    (run,) = scheduled_runs(data, schedule_id)
    assert run.cutoff_date == expected


@ON_SQLITE
def test_a_customer_list_and_skip_zero_balance_are_passed_on(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    schedule_id = create(data, customers="1000002;1006210", skip_zero_balance=True)

    (occurred,) = run_due(data, settings, DUE)

    (run,) = scheduled_runs(data, schedule_id)
    assert (run.customer_filter, run.skip_zero_balance, run.total) == ("1000002;1006210", True, 2)
    assert [i.customer_no for i in run_items(data, run.id)] == ["1000002", "1006210"]
    assert occurred.customers == 2


@ON_SQLITE
@pytest.mark.parametrize(
    ("hours", "late", "runs_it"),
    [
        (24, timedelta(seconds=20), True),
        (24, timedelta(hours=23, minutes=59), True),
        (24, timedelta(hours=24, minutes=1), False),
        (48, timedelta(hours=30), True),
        (1, timedelta(hours=2), False),
        # 0: no catching up after an outage, but a worker's usual lateness is on time.
        (0, timedelta(seconds=20), True),
        (0, timedelta(minutes=10), True),
        (0, timedelta(hours=1), False),
    ],
)
def test_a_missed_occurrence_runs_on_recovery_within_schedule_catchup_hours(
    data: sessionmaker[Session],
    settings: config.Settings,
    hours: int,
    late: timedelta,
    runs_it: bool,
) -> None:
    schedule_id = create(data)
    now = DUE + late

    (occurred,) = run_due(data, settings, now, schedule_catchup_hours=hours)
    assert run_due(data, settings, now, schedule_catchup_hours=hours) == []

    (record,) = occurrences(data, schedule_id)
    assert stored(data, schedule_id).next_run_at == NEXT_MONTH
    if runs_it:
        (run,) = scheduled_runs(data, schedule_id)
        assert (occurred.outcome, record.outcome, record.run_id) == ("started", "started", run.id)
        # Sent as meant on its day; named by the day it really goes out.
        assert run.cutoff_date == date(2026, 12, 3)
        assert run.run_date == now.astimezone(ZONE).date()
        return
    assert scheduled_runs(data, schedule_id) == []
    assert (occurred.outcome, record.outcome, record.run_id) == ("skipped", "skipped", None)
    noun = "hora" if hours == 1 else "horas"
    assert (
        record.reason
        == occurred.reason
        == (
            "no se envió: la aplicación no estaba en marcha a esa hora y pasaron más de "
            f"{hours} {noun} (SCHEDULE_CATCHUP_HOURS)"
        )
    )


def test_several_missed_occurrences_run_only_the_newest_within_the_window(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    schedule_id = create(data, recurrence=THURSDAYS)
    now = local("2026-12-24 22:00")  # down since before Thursday the 3rd

    done = run_due(data, settings, now, schedule_catchup_hours=240)  # ten days

    assert run_due(data, settings, now, schedule_catchup_hours=240) == []
    (run,) = scheduled_runs(data, schedule_id)
    records = occurrences(data, schedule_id)
    assert [(o.due_at, o.outcome, o.run_id) for o in records] == [
        (local("2026-12-03 21:00"), "skipped", None),
        (local("2026-12-10 21:00"), "skipped", None),
        (local("2026-12-17 21:00"), "skipped", None),
        (local("2026-12-24 21:00"), "started", run.id),
    ]
    assert [(d.due_at, d.outcome) for d in done] == [(o.due_at, o.outcome) for o in records]
    too_late = (
        "no se envió: la aplicación no estaba en marcha a esa hora y pasaron más de 240 horas "
        "(SCHEDULE_CATCHUP_HOURS)"
    )
    assert [o.reason for o in records] == [
        too_late,
        too_late,
        "no se envió: la aplicación no estaba en marcha a esa hora; de las fechas perdidas "
        "solo se atiende la más reciente, la del 24/12/2026 21:00",
        "",
    ]
    assert stored(data, schedule_id).next_run_at == local("2026-12-31 21:00")


@ON_SQLITE
def test_several_missed_occurrences_all_beyond_the_window_start_no_run(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    schedule_id = create(data, recurrence=THURSDAYS)

    done = run_due(data, settings, local("2026-12-26 10:00"))

    assert [d.outcome for d in done] == ["skipped"] * 4
    assert len(occurrences(data, schedule_id)) == 4
    assert scheduled_runs(data, schedule_id) == []
    assert stored(data, schedule_id).next_run_at == local("2026-12-31 21:00")


def test_a_one_time_schedule_runs_once_and_is_finished(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    schedule_id = create(
        data, recurrence=Recurrence(Frequency.ONCE, time(21, 0), once_on=date(2026, 12, 3))
    )

    (occurred,) = run_due(data, settings, DUE + timedelta(seconds=20))

    schedule = stored(data, schedule_id)
    assert (schedule.status, schedule.next_run_at) == (ScheduleStatus.FINISHED, None)
    assert occurred.outcome == "started"
    assert run_due(data, settings, DUE + timedelta(days=40)) == []
    assert len(scheduled_runs(data, schedule_id)) == 1
    with pytest.raises(InvalidValue, match="no está pausado ni detenido"):
        resume(data, schedule_id, ANA, DUE + timedelta(days=1))
    # Given a new date, it is active again.
    edit(data, schedule_id, by=ANA, now=DUE + timedelta(days=1),
         recurrence=Recurrence(Frequency.ONCE, time(8, 0), once_on=date(2026, 12, 24)))  # fmt: skip
    schedule = stored(data, schedule_id)
    assert (schedule.status, schedule.next_run_at) == ("active", local("2026-12-24 08:00"))


def test_an_owner_deactivated_stops_the_schedule_until_active_and_resumed(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    schedule_id = create(data)
    set_active(data, "ana", False)
    reason = "su dueño (ana) está desactivado; actívalo y pulsa Reanudar"

    with data() as session:
        shown = schedules.stopped_reason(
            stored(data, schedule_id), schedules.active_owners(session)
        )
    assert shown == reason  # at once, before any worker looked
    (occurred,) = run_due(data, settings, DUE)

    assert (occurred.outcome, occurred.reason) == ("skipped", f"no se envió: {reason}")
    assert scheduled_runs(data, schedule_id) == []
    (record,) = occurrences(data, schedule_id)
    assert (record.outcome, record.reason) == ("skipped", f"no se envió: {reason}")
    schedule = stored(data, schedule_id)
    assert (schedule.status, schedule.status_reason) == (ScheduleStatus.STOPPED, reason)
    assert run_due(data, settings, NEXT_MONTH) == []  # stopped: not even looked at
    # An edit while stopped keeps it stopped, saying why.
    edit(data, schedule_id, by=ROOT, now=DUE, customers="1006210")
    schedule = stored(data, schedule_id)
    assert (schedule.status, schedule.status_reason) == (ScheduleStatus.STOPPED, reason)
    with pytest.raises(InvalidValue) as refused:
        resume(data, schedule_id, ROOT, DUE)
    assert str(refused.value) == "su dueño (ana) está desactivado"
    assert stored(data, schedule_id).status == ScheduleStatus.STOPPED

    set_active(data, "ana", True)
    resumed_at = NEXT_MONTH + timedelta(days=2)  # January's went by while it was stopped
    resume(data, schedule_id, ANA, resumed_at)

    schedule = stored(data, schedule_id)
    assert (schedule.status, schedule.status_reason) == (ScheduleStatus.ACTIVE, "")
    assert schedule.next_run_at == local("2027-02-03 21:00")
    (occurred,) = run_due(data, settings, local("2027-02-03 21:00"))
    assert occurred.outcome == "started"
    assert [o.due_at for o in occurrences(data, schedule_id)] == [DUE, local("2027-02-03 21:00")]


def test_a_sociedad_without_catalog_customers_gets_an_empty_run_with_the_note(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    schedule_id = create(data, company="SU01")

    (occurred,) = run_due(data, settings, DUE)

    note = "la Sociedad SU01 no tiene clientes en el catálogo de envío"
    assert (occurred.outcome, occurred.reason, occurred.customers) == ("empty", note, 0)
    (run,) = scheduled_runs(data, schedule_id)
    assert (run.total, run.note, run.status, run.started_by) == (0, note, RunStatus.PENDING, "ana")
    assert run_items(data, run.id) == []
    (record,) = occurrences(data, schedule_id)
    assert (record.outcome, record.reason, record.run_id) == ("empty", note, run.id)


def test_customers_busy_in_an_active_run_are_left_out_with_a_note(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    manual = start_run(data, ["1006210"])
    schedule_id = create(data)

    (occurred,) = run_due(data, settings, DUE)

    note = f"no se incluyó 1 cliente que ya estaba en un envío en curso (núm. {manual})"
    assert (occurred.outcome, occurred.reason, occurred.customers) == ("started", note, 4)
    (run,) = scheduled_runs(data, schedule_id)
    assert (run.total, run.note) == (4, note)
    assert "1006210" not in {i.customer_no for i in run_items(data, run.id)}


@ON_SQLITE
def test_a_schedule_whose_customers_are_all_busy_gets_an_empty_run_saying_so(
    data: sessionmaker[Session], settings: config.Settings
) -> None:
    first = start_run(data, ["1006210", "1004273"])
    second = start_run(data, ["1000001"])
    schedule_id = create(data, customers="1006210;1004273;1000001")

    (occurred,) = run_due(data, settings, DUE)

    note = (
        f"no se incluyeron 3 clientes que ya estaban en un envío en curso (núm. {first}, {second})"
    )
    assert (occurred.outcome, occurred.reason) == ("empty", note)
    (run,) = scheduled_runs(data, schedule_id)
    assert (run.total, run.note) == (0, note)


def test_a_procesar_between_the_look_and_the_run_leaves_out_only_its_customers(
    data: sessionmaker[Session], settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's race: a Procesar commits after `busy` looked and before `create_run` holds
    the sociedad; here `busy`'s first look simply misses it."""
    manual = start_run(data, ["1006210"])
    schedule_id = create(data)
    real_busy, looks = runs.busy, []

    def late_look(session: Session, keys: list[runs.Key]) -> dict[runs.Key, int]:
        looks.append(len(keys))
        return {} if len(looks) == 1 else real_busy(session, keys)

    monkeypatch.setattr(runs, "busy", late_look)

    (occurred,) = run_due(data, settings, DUE)

    note = f"no se incluyó 1 cliente que ya estaba en un envío en curso (núm. {manual})"
    (run,) = scheduled_runs(data, schedule_id)
    assert (occurred.outcome, run.total, run.note) == ("started", 4, note)
    assert "1006210" not in {i.customer_no for i in run_items(data, run.id)}


def test_a_schedule_that_fails_leaves_no_trace_and_the_others_still_run(
    data: sessionmaker[Session], settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken, fine = create(data, customers="1006210"), create(data, customers="1004273")
    real_keys = due._keys

    def keys(session: Session, schedule: Schedule, cut: date) -> list[runs.Key]:
        if schedule.id == broken:
            raise RuntimeError("a bug of ours")
        return real_keys(session, schedule, cut)

    monkeypatch.setattr(due, "_keys", keys)

    assert [o.schedule_id for o in run_due(data, settings, DUE)] == [fine]

    assert (occurrences(data, broken), scheduled_runs(data, broken)) == ([], [])
    assert stored(data, broken).next_run_at == DUE  # tried again on the next look
    monkeypatch.setattr(due, "_keys", real_keys)
    assert [o.schedule_id for o in run_due(data, settings, DUE)] == [broken]


# --- Through the worker ------------------------------------------------------------------------


class StoppedClock:
    """The worker's clock at one wall moment; its monotonic time moves only when told."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment
        self.seconds = 1000.0

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.seconds


@pytest.fixture
def server() -> Iterator[MailServer]:
    with MailServer() as running:
        yield running


def worker_at(
    sessions: sessionmaker[Session],
    settings: config.Settings,
    server: MailServer,
    moment: datetime,
) -> worker.Worker:
    return worker.Worker(sessions, settings, transport=smtp_to(server.port),
                         pacer=pacing.Pacer(0), clock=StoppedClock(moment))  # fmt: skip


def test_the_worker_runs_a_due_schedule_and_the_owner_gets_the_log(
    data: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    schedule_id = create(data, customers="1006210;1004273")

    work_until_idle(worker_at(data, settings, server, DUE + timedelta(seconds=5)))

    mails = statement_mails(server)
    assert sorted(m.recipients[0] for m in mails) == [
        "pagos@pena.example",
        "plumbers@plumbers.example",
    ]
    names = {next(m.message.iter_attachments()).get_filename() for m in mails}
    assert names == {"1006210_20261203.pdf", "1004273_20261203.pdf"}
    (log_mail,) = server.to(ANALYST_EMAIL)
    attachment = next(log_mail.message.iter_attachments())
    assert attachment.get_filename() == "LogEnvioMasivo_20261203.txt"
    lines = attachment.get_content().splitlines()
    assert len(lines) == 2
    assert all("FechaCorte: 20261203" in line and line.endswith("Enviado: ok") for line in lines)
    (run,) = scheduled_runs(data, schedule_id)
    assert (run.status, run.sent, run.log_sent_at is not None) == (RunStatus.DONE, 2, True)
    assert [o.outcome for o in occurrences(data, schedule_id)] == ["started"]


def test_the_empty_runs_log_reaches_the_owner_with_the_note(
    data: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    schedule_id = create(data, company="SU01")

    work_until_idle(worker_at(data, settings, server, DUE + timedelta(seconds=5)))

    (run,) = scheduled_runs(data, schedule_id)
    assert (run.status, run.total, run.log_sent_at is not None) == (RunStatus.DONE, 0, True)
    (log_mail,) = server.received
    assert log_mail.recipients == [ANALYST_EMAIL]
    body = log_mail.message.get_body(("plain",)).get_content()
    assert "Clientes: 0" in body
    # lib/sending/log.py may start the note with a capital: compare past its first letter.
    assert "a Sociedad SU01 no tiene clientes en el catálogo de envío" in body


def test_the_worker_looks_for_schedules_every_schedule_try_seconds(
    data: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    runner = worker_at(data, settings, server, DUE)
    clock = runner.clock
    assert isinstance(clock, StoppedClock)
    first = create(data, customers="1006210")

    assert [o.schedule_id for o in runner.run_due_schedules()] == [first]
    second = create(data, customers="1004273")
    clock.seconds += worker.SCHEDULE_TRY_SECONDS - 1
    assert runner.run_due_schedules() == []
    clock.seconds += 1
    assert [o.schedule_id for o in runner.run_due_schedules()] == [second]


def test_a_worker_restricted_to_one_run_starts_no_schedule(
    data: sessionmaker[Session], settings: config.Settings, server: MailServer
) -> None:
    manual = start_run(data, ["1006210"])
    schedule_id = create(data, customers="1004273")

    work_until_idle(worker_at(data, settings, server, DUE), run_id=manual)

    assert scheduled_runs(data, schedule_id) == []
    assert stored(data, schedule_id).next_run_at == DUE


# --- Two workers racing for the same due moments -----------------------------------------------

RACE_ROUNDS = 10
RACE_CUSTOMERS = ["1006210", "1004273", "1000001"]


def race(
    database_url: str,
    settings: config.Settings,
    barrier: Any,
    name: str,
    rounds: int,
) -> list[tuple[int, str, str]]:
    """One racer, with its own engine as a separate worker has: each round (a week later than
    the last), wait for the other at `barrier`, then both run what is due at the same moment;
    then racer `a` marks every item sent, so the next round's runs find nobody busy."""
    engine = db.create_engine_for(database_url)
    sessions = db.session_factory(engine)
    done = []
    try:
        for week in range(rounds):
            barrier.wait()
            now = DUE + timedelta(weeks=week, seconds=30)
            for each in due.run_due(sessions, settings, now, worker=name):
                done.append((each.schedule_id, each.due_at.isoformat(), each.outcome.value))
            barrier.wait()
            if name == "a":
                with sessions() as session, session.begin():
                    session.execute(update(SendItem).values(status=ItemStatus.SENT))
                    session.execute(update(SendRun).values(status=RunStatus.DONE))
            barrier.wait()
    finally:
        engine.dispose()
    return done


def race_in_a_process(
    database_url: str, settings: config.Settings, barrier: Any, name: str, rounds: int, out: Any
) -> None:
    try:
        out.put((name, race(database_url, settings, barrier, name, rounds)))
    except BaseException:
        barrier.abort()
        out.put((name, traceback.format_exc()))


def racing_schedules(sessions: sessionmaker[Session]) -> list[int]:
    return [create(sessions, customers=number, recurrence=THURSDAYS) for number in RACE_CUSTOMERS]


def check_one_run_per_occurrence(
    sessions: sessionmaker[Session], ids: list[int], done: list[tuple[int, str, str]]
) -> None:
    moments = [(DUE + timedelta(weeks=week)).isoformat() for week in range(RACE_ROUNDS)]
    expected = {(schedule_id, moment) for schedule_id in ids for moment in moments}
    reported = Counter((schedule_id, moment) for schedule_id, moment, _ in done)
    assert set(reported) == expected
    assert set(reported.values()) == {1}, "an occurrence was reported by both racers"
    assert {outcome for _, _, outcome in done} == {"started"}
    with sessions() as session:
        recorded = Counter(
            (o.schedule_id, o.due_at.isoformat())
            for o in session.scalars(select(ScheduleOccurrence))
        )
        made = list(session.scalars(select(SendRun)))
    assert recorded == Counter(expected)
    assert len(made) == len(expected)
    assert Counter(run.schedule_id for run in made) == Counter({i: RACE_ROUNDS for i in ids})
    assert {run.total for run in made} == {1}


def test_two_worker_threads_racing_create_one_run_per_occurrence(
    data: sessionmaker[Session], settings: config.Settings, database_url: str
) -> None:
    ids = racing_schedules(data)
    barrier = threading.Barrier(2, timeout=60)
    results: dict[str, list[tuple[int, str, str]] | str] = {}

    def racer(name: str) -> None:
        try:
            results[name] = race(database_url, settings, barrier, name, RACE_ROUNDS)
        except BaseException:
            barrier.abort()
            results[name] = traceback.format_exc()

    threads = [threading.Thread(target=racer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert all(isinstance(result, list) for result in results.values()), results
    assert sorted(results) == ["a", "b"]
    check_one_run_per_occurrence(data, ids, [*results["a"], *results["b"]])


# Processes on PostgreSQL, the multi-machine deployment (SQLite's writers race in the threads).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_worker_processes_racing_create_one_run_per_occurrence(
    data: sessionmaker[Session],
    settings: config.Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A spawned process first runs the parent's `__main__`; after an AppTest in this process
    # that is a Streamlit page (AppTest runs each script as `__main__`), which would start the
    # app in the racers instead of racing. They get an empty one.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    ids = racing_schedules(data)
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2, timeout=60)
    out = spawn.Queue()
    racers = [
        spawn.Process(
            target=race_in_a_process,
            args=(database_url, settings, barrier, name, RACE_ROUNDS, out),
        )
        for name in ("a", "b")
    ]
    for racer in racers:
        racer.start()
    try:
        results = dict(out.get(timeout=120) for _ in racers)
    finally:
        for racer in racers:
            racer.join(30)
            if racer.is_alive():
                racer.kill()

    assert all(isinstance(result, list) for result in results.values()), results
    check_one_run_per_occurrence(data, ids, [*results["a"], *results["b"]])
