"""When a schedule runs and which fecha de corte it sends, in the app's TIMEZONE.

A schedule says "day 31 at 07:00" on a wall clock; the database keeps UTC moments. On the two
days a year a zone with daylight saving changes its clocks, a local time is taken as the
`fold=0` reading: a time that happens twice (the clock goes back) runs once, at its first
passing; a time that does not exist (the clock jumps forward) runs at the same offset as
before the jump, which the new clock reads one hour later (02:30 → 03:30). Either way one
occurrence per day, never two and never none.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from lib import formatting
from lib.normalize import InvalidValue

WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")


class Frequency(StrEnum):
    MONTHLY = "monthly"
    WEEKLY = "weekly"
    ONCE = "once"

    @property
    def label(self) -> str:
        return {"monthly": "Mensual", "weekly": "Semanal", "once": "Una vez"}[self.value]


class CutoffRule(StrEnum):
    RUN_DAY = "run_day"
    PREVIOUS_MONTH_END = "previous_month_end"
    DAY_OF_MONTH = "day_of_month"

    @property
    def label(self) -> str:
        return _CUTOFF_LABELS[self]


_CUTOFF_LABELS = {
    CutoffRule.RUN_DAY: "El día del envío",
    CutoffRule.PREVIOUS_MONTH_END: "Último día del mes anterior",
    CutoffRule.DAY_OF_MONTH: "Un día fijo del mes",
}


@dataclass(frozen=True)
class Recurrence:
    """Monthly on `day_of_month` (past the month's end: its last day), weekly on `weekday`
    (0 is Monday), or once on `once_on`; always at `at`, local time.
    """

    frequency: Frequency
    at: time
    day_of_month: int | None = None
    weekday: int | None = None
    once_on: date | None = None

    def __post_init__(self) -> None:
        if self.frequency is Frequency.MONTHLY and not 1 <= (self.day_of_month or 0) <= 31:
            raise InvalidValue("el día del mes debe estar entre 1 y 31")
        if self.frequency is Frequency.WEEKLY and self.weekday not in range(7):
            raise InvalidValue("elige el día de la semana")
        if self.frequency is Frequency.ONCE and self.once_on is None:
            raise InvalidValue("elige la fecha del envío")

    def next_after(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """The first occurrence strictly after `moment`, in UTC; None when there is none."""
        if self.frequency is Frequency.ONCE:
            assert self.once_on is not None
            only = wall_clock(self.once_on, self.at, zone)
            return only if only > moment else None
        start = moment.astimezone(zone).date() - timedelta(days=1)
        for day in self._days_from(start):
            candidate = wall_clock(day, self.at, zone)
            if candidate > moment:
                return candidate
        raise AssertionError("a monthly or weekly rule always has a next occurrence")

    def between(self, first: datetime, last: datetime, zone: ZoneInfo) -> list[datetime]:
        """Occurrences from `first` (itself one) up to and including `last`."""
        found = [first]
        while (following := self.next_after(found[-1], zone)) is not None and following <= last:
            found.append(following)
        return found

    def describe(self) -> str:
        """How the Programados table says it: `Mensual, día 31, 07:00`."""
        at = f"{self.at:%H:%M}"
        if self.frequency is Frequency.MONTHLY:
            return f"Mensual, día {self.day_of_month}, {at}"
        if self.frequency is Frequency.WEEKLY:
            assert self.weekday is not None
            return f"Cada {WEEKDAYS[self.weekday]}, {at}"
        assert self.once_on is not None
        return f"Una vez, {formatting.day(self.once_on)} {at}"

    def _days_from(self, start: date) -> list[date]:
        """The candidate days from `start`: enough that one of them is after `start + 1`."""
        if self.frequency is Frequency.WEEKLY:
            days = [start + timedelta(days=n) for n in range(9)]
            return [d for d in days if d.weekday() == self.weekday]
        assert self.day_of_month is not None
        months = []
        year, month = start.year, start.month
        for _ in range(3):
            months.append(month_day(year, month, self.day_of_month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC moment a wall clock in `zone` reads `at` on `day` (see the module's note)."""
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


def month_day(year: int, month: int, day: int) -> date:
    """Day `day` of the month, or its last day when the month is shorter."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def cutoff(rule: CutoffRule, run_day: date, day: int | None = None) -> date:
    """The fecha de corte of an occurrence that falls on `run_day`. A fixed day still to come
    this month is last month's: a statement is never cut off in the future.
    """
    if rule is CutoffRule.RUN_DAY:
        return run_day
    if rule is CutoffRule.PREVIOUS_MONTH_END:
        return run_day.replace(day=1) - timedelta(days=1)
    if not 1 <= (day or 0) <= 31:
        raise InvalidValue("el día de la fecha de corte debe estar entre 1 y 31")
    assert day is not None
    this_month = month_day(run_day.year, run_day.month, day)
    if this_month <= run_day:
        return this_month
    before = run_day.replace(day=1) - timedelta(days=1)
    return month_day(before.year, before.month, day)


def describe_cutoff(rule: CutoffRule, day: int | None) -> str:
    if rule is CutoffRule.DAY_OF_MONTH:
        return f"Día {day} del mes"
    return rule.label
