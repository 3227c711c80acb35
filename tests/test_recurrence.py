"""Recurrence rules of Programados (lib/scheduling/recurrence.py) as tables of rule, moment →
expected moment: month ends, weekdays, one-time sends, the days a clock changes (Mexico City
until 2022, New York and Madrid still) and the fecha de corte rules. Pure functions, no database.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from lib.normalize import InvalidValue
from lib.scheduling.recurrence import (
    CutoffRule,
    Frequency,
    Recurrence,
    cutoff,
    describe_cutoff,
    wall_clock,
)

MEXICO = ZoneInfo("America/Mexico_City")
NEW_YORK = ZoneInfo("America/New_York")
MADRID = ZoneInfo("Europe/Madrid")
SEVEN = time(7, 0)


def local(text: str, zone: ZoneInfo = MEXICO) -> datetime:
    """`2026-12-03 07:00` on `zone`'s wall clock (its first passing), as a UTC moment."""
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=0).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def monthly(day: int, at: time = SEVEN) -> Recurrence:
    return Recurrence(Frequency.MONTHLY, at, day_of_month=day)


def weekly(weekday: int, at: time = SEVEN) -> Recurrence:
    return Recurrence(Frequency.WEEKLY, at, weekday=weekday)


def once(on: str, at: time = SEVEN) -> Recurrence:
    return Recurrence(Frequency.ONCE, at, once_on=date.fromisoformat(on))


@pytest.mark.parametrize(
    ("day", "after", "expected"),
    [
        (31, "2027-01-31 07:00", "2027-02-28 07:00"),  # 31 in February: its last day
        (31, "2028-01-31 07:00", "2028-02-29 07:00"),  # a leap year's February
        (31, "2027-02-28 07:00", "2027-03-31 07:00"),  # back to the 31st after a short month
        (31, "2026-03-31 07:00", "2026-04-30 07:00"),  # April has 30
        (30, "2027-01-30 07:00", "2027-02-28 07:00"),
        (30, "2028-01-30 07:00", "2028-02-29 07:00"),
        (29, "2027-01-29 07:00", "2027-02-28 07:00"),  # 2027 is not a leap year
        (29, "2028-01-29 07:00", "2028-02-29 07:00"),
        (29, "2028-02-29 07:00", "2028-03-29 07:00"),
        (15, "2026-12-15 06:59", "2026-12-15 07:00"),  # later the same day
        (15, "2026-12-15 07:00", "2027-01-15 07:00"),  # strictly after: not itself
        (15, "2026-12-15 07:01", "2027-01-15 07:00"),
        (1, "2026-12-31 23:59", "2027-01-01 07:00"),  # across the year
        (31, "2026-12-31 07:00", "2027-01-31 07:00"),
        (1, "2026-11-30 23:30", "2026-12-01 07:00"),  # 05:30 UTC of Dec 1, local Nov 30
    ],
)
def test_monthly_on_day_n_takes_the_months_last_day_when_shorter(
    day: int, after: str, expected: str
) -> None:
    assert monthly(day).next_after(local(after), MEXICO) == local(expected)


# From Wednesday 2026-12-02 10:00: each weekday's next 07:00.
@pytest.mark.parametrize(
    ("weekday", "expected"),
    [
        (0, "2026-12-07"),
        (1, "2026-12-08"),
        (2, "2026-12-09"),  # today's 07:00 has passed: next week
        (3, "2026-12-03"),
        (4, "2026-12-04"),
        (5, "2026-12-05"),
        (6, "2026-12-06"),
    ],
    ids=["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
)
def test_weekly_on_each_weekday(weekday: int, expected: str) -> None:
    found = weekly(weekday).next_after(local("2026-12-02 10:00"), MEXICO)

    assert found == local(f"{expected} 07:00")
    assert found is not None
    assert found.astimezone(MEXICO).weekday() == weekday


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-12-02 10:00", "2026-12-09 07:00"),
        ("2026-12-09 06:59", "2026-12-09 07:00"),  # the same day, still to come
        ("2026-12-09 07:00", "2026-12-16 07:00"),  # strictly after
    ],
)
def test_weekly_next_after_is_strictly_after(after: str, expected: str) -> None:
    assert weekly(2).next_after(local(after), MEXICO) == local(expected)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-12-24 06:59", "2026-12-24 07:00"),
        ("2026-01-01 00:00", "2026-12-24 07:00"),
        ("2026-12-24 07:00", None),  # its moment itself is not after it
        ("2026-12-24 07:01", None),
        ("2027-06-01 00:00", None),
    ],
)
def test_once_is_its_moment_while_to_come_then_none(after: str, expected: str | None) -> None:
    found = once("2026-12-24").next_after(local(after), MEXICO)

    assert found == (local(expected) if expected else None)


def test_between_lists_each_occurrence_from_the_first_up_to_and_including_the_last() -> None:
    rule = monthly(31)
    first = local("2027-01-31 07:00")

    assert rule.between(first, local("2027-05-31 07:00"), MEXICO) == [
        local(day)
        for day in (
            "2027-01-31 07:00",
            "2027-02-28 07:00",
            "2027-03-31 07:00",
            "2027-04-30 07:00",
            "2027-05-31 07:00",
        )
    ]
    assert rule.between(first, local("2027-05-31 06:59"), MEXICO)[-1] == local("2027-04-30 07:00")
    assert rule.between(first, first, MEXICO) == [first]
    assert once("2027-01-31").between(first, local("2028-01-01 00:00"), MEXICO) == [first]


# A local time on a day the clock changes: the UTC moment it runs and how the wall clock reads
# then. A gap (the clock jumps forward) runs an hour later by the new clock; a repeated hour
# (the clock goes back) runs at its first passing; the next day is the normal wall time.
@pytest.mark.parametrize(
    ("zone", "day", "at", "expected_utc", "reads"),
    [
        # Mexico City had DST until October 2022.
        (MEXICO, "2022-04-03", time(2, 30), "2022-04-03 08:30", "03:30"),  # 02:00 → 03:00
        (MEXICO, "2022-04-04", time(2, 30), "2022-04-04 07:30", "02:30"),
        (MEXICO, "2022-04-02", time(2, 30), "2022-04-02 08:30", "02:30"),
        (MEXICO, "2022-10-30", time(1, 30), "2022-10-30 06:30", "01:30"),  # 01:00–02:00 twice
        (MEXICO, "2022-10-31", time(1, 30), "2022-10-31 07:30", "01:30"),
        # None since 2023: the first Sunday of April and the last of October are plain days.
        (MEXICO, "2023-04-02", time(2, 30), "2023-04-02 08:30", "02:30"),
        (MEXICO, "2023-10-29", time(1, 30), "2023-10-29 07:30", "01:30"),
        (MEXICO, "2026-04-05", time(2, 30), "2026-04-05 08:30", "02:30"),
        # New York still changes: 2026-03-08 02:00 → 03:00, 2026-11-01 01:00–02:00 twice.
        (NEW_YORK, "2026-03-08", time(2, 30), "2026-03-08 07:30", "03:30"),
        (NEW_YORK, "2026-03-08", time(2, 0), "2026-03-08 07:00", "03:00"),
        (NEW_YORK, "2026-03-09", time(2, 30), "2026-03-09 06:30", "02:30"),
        (NEW_YORK, "2026-11-01", time(1, 30), "2026-11-01 05:30", "01:30"),
        (NEW_YORK, "2026-11-02", time(1, 30), "2026-11-02 06:30", "01:30"),
        # Madrid: 2026-03-29 02:00 → 03:00, 2026-10-25 02:00–03:00 twice.
        (MADRID, "2026-03-29", time(2, 30), "2026-03-29 01:30", "03:30"),
        (MADRID, "2026-10-25", time(2, 30), "2026-10-25 00:30", "02:30"),
        (MADRID, "2026-10-26", time(2, 30), "2026-10-26 01:30", "02:30"),
    ],
)
def test_a_wall_time_on_a_clock_change_day(
    zone: ZoneInfo, day: str, at: time, expected_utc: str, reads: str
) -> None:
    moment = wall_clock(date.fromisoformat(day), at, zone)

    assert moment == utc(expected_utc)
    assert f"{moment.astimezone(zone):%Y-%m-%d %H:%M}" == f"{day} {reads}"
    assert once(day, at).next_after(moment - timedelta(days=1), zone) == moment


# Weekly on Sunday at a time in the gap or the repeated hour, over the week around the change:
# one occurrence that Sunday, at the moment above; the next Sunday at the normal wall time.
@pytest.mark.parametrize(
    ("zone", "at", "sunday", "expected_utc", "next_utc"),
    [
        (MEXICO, time(2, 30), "2022-04-03", "2022-04-03 08:30", "2022-04-10 07:30"),
        (MEXICO, time(1, 30), "2022-10-30", "2022-10-30 06:30", "2022-11-06 07:30"),
        (NEW_YORK, time(2, 30), "2026-03-08", "2026-03-08 07:30", "2026-03-15 06:30"),
        (NEW_YORK, time(1, 30), "2026-11-01", "2026-11-01 05:30", "2026-11-08 06:30"),
        (MADRID, time(2, 30), "2026-03-29", "2026-03-29 01:30", "2026-04-05 00:30"),
        (MADRID, time(2, 30), "2026-10-25", "2026-10-25 00:30", "2026-11-01 01:30"),
    ],
)
def test_a_gap_or_a_repeated_hour_runs_once(
    zone: ZoneInfo, at: time, sunday: str, expected_utc: str, next_utc: str
) -> None:
    rule = weekly(6, at)
    day = date.fromisoformat(sunday)
    saturday_noon = datetime.combine(day - timedelta(days=1), time(12)).replace(tzinfo=zone)

    first = rule.next_after(saturday_noon.astimezone(UTC), zone)
    assert first == utc(expected_utc)
    # Every moment of the repeated hour's second passing is after `first`: none of them runs.
    assert rule.next_after(first, zone) == utc(next_utc)
    assert rule.between(first, utc(next_utc) - timedelta(seconds=1), zone) == [first]


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        (NEW_YORK, "2026-03-01", "2026-03-08"),
        (NEW_YORK, "2026-10-25", "2026-11-01"),
        (MADRID, "2026-03-22", "2026-03-29"),
        (MADRID, "2026-10-18", "2026-10-25"),
        (MEXICO, "2022-10-23", "2022-10-30"),
    ],
)
def test_weekly_across_a_clock_change_keeps_the_wall_time(
    zone: ZoneInfo, before: str, after: str
) -> None:
    rule = weekly(6, SEVEN)
    first = wall_clock(date.fromisoformat(before), SEVEN, zone)

    following = rule.next_after(first, zone)

    assert following is not None
    assert f"{following.astimezone(zone):%Y-%m-%d %H:%M}" == f"{after} 07:00"
    assert following - first != timedelta(days=7)  # an hour more or less, in UTC


@pytest.mark.parametrize("zone", [MEXICO, NEW_YORK, MADRID], ids=str)
@pytest.mark.parametrize("at", [time(0, 30), time(1, 30), time(2, 30), time(3, 0)], ids=str)
def test_two_years_of_sundays_one_occurrence_each(zone: ZoneInfo, at: time) -> None:
    """Whatever the changes in between, every Sunday once, at `at` or (in a gap) an hour later."""
    rule = weekly(6, at)
    start = wall_clock(date(2021, 1, 3), at, zone)

    found = rule.between(start, local("2023-01-02 00:00", zone), zone)

    days = [moment.astimezone(zone).date() for moment in found]
    assert days == [date(2021, 1, 3) + timedelta(weeks=n) for n in range(len(days))]
    assert days[-1] == date(2023, 1, 1)
    readings = {moment.astimezone(zone).time() for moment in found}
    assert readings <= {at, time(at.hour + 1, at.minute)}


@pytest.mark.parametrize(
    ("rule", "run_day", "day", "expected"),
    [
        (CutoffRule.RUN_DAY, "2026-12-03", None, "2026-12-03"),
        (CutoffRule.RUN_DAY, "2028-02-29", None, "2028-02-29"),
        (CutoffRule.PREVIOUS_MONTH_END, "2027-01-15", None, "2026-12-31"),  # January
        (CutoffRule.PREVIOUS_MONTH_END, "2027-01-01", None, "2026-12-31"),
        (CutoffRule.PREVIOUS_MONTH_END, "2028-03-01", None, "2028-02-29"),  # leap year
        (CutoffRule.PREVIOUS_MONTH_END, "2027-03-31", None, "2027-02-28"),
        (CutoffRule.PREVIOUS_MONTH_END, "2026-05-31", None, "2026-04-30"),
        (CutoffRule.PREVIOUS_MONTH_END, "2026-12-03", 15, "2026-11-30"),  # its day is ignored
        # A fixed day already passed this month (or today) is this month's…
        (CutoffRule.DAY_OF_MONTH, "2026-12-20", 15, "2026-12-15"),
        (CutoffRule.DAY_OF_MONTH, "2026-12-15", 15, "2026-12-15"),
        (CutoffRule.DAY_OF_MONTH, "2026-12-31", 31, "2026-12-31"),
        (CutoffRule.DAY_OF_MONTH, "2026-04-30", 31, "2026-04-30"),  # April's 31st is its 30th
        (CutoffRule.DAY_OF_MONTH, "2027-02-28", 30, "2027-02-28"),
        # …one still to come is last month's, clamped to its length.
        (CutoffRule.DAY_OF_MONTH, "2026-12-10", 15, "2026-11-15"),
        (CutoffRule.DAY_OF_MONTH, "2026-12-10", 31, "2026-11-30"),
        (CutoffRule.DAY_OF_MONTH, "2027-03-10", 31, "2027-02-28"),
        (CutoffRule.DAY_OF_MONTH, "2028-03-10", 30, "2028-02-29"),
        (CutoffRule.DAY_OF_MONTH, "2027-03-10", 29, "2027-02-28"),
        (CutoffRule.DAY_OF_MONTH, "2027-01-05", 10, "2026-12-10"),  # into last year
        (CutoffRule.DAY_OF_MONTH, "2026-04-29", 30, "2026-03-30"),
    ],
)
def test_cutoff_rules(rule: CutoffRule, run_day: str, day: int | None, expected: str) -> None:
    assert cutoff(rule, date.fromisoformat(run_day), day) == date.fromisoformat(expected)


@pytest.mark.parametrize("day", [None, 0, 32])
def test_a_fixed_cutoff_day_out_of_range_is_refused(day: int | None) -> None:
    with pytest.raises(InvalidValue, match="fecha de corte debe estar entre 1 y 31"):
        cutoff(CutoffRule.DAY_OF_MONTH, date(2026, 12, 3), day)


@pytest.mark.parametrize(
    ("frequency", "options", "message"),
    [
        (Frequency.MONTHLY, {}, "el día del mes debe estar entre 1 y 31"),
        (Frequency.MONTHLY, {"day_of_month": 0}, "el día del mes debe estar entre 1 y 31"),
        (Frequency.MONTHLY, {"day_of_month": 32}, "el día del mes debe estar entre 1 y 31"),
        (Frequency.WEEKLY, {}, "elige el día de la semana"),
        (Frequency.WEEKLY, {"weekday": 7}, "elige el día de la semana"),
        (Frequency.ONCE, {}, "elige la fecha del envío"),
    ],
)
def test_an_incomplete_rule_is_refused(
    frequency: Frequency, options: dict[str, int], message: str
) -> None:
    with pytest.raises(InvalidValue, match=message):
        Recurrence(frequency, SEVEN, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (monthly(31), "Mensual, día 31, 07:00"),
        (weekly(0, time(18, 5)), "Cada lunes, 18:05"),
        (weekly(2), "Cada miércoles, 07:00"),
        (weekly(5), "Cada sábado, 07:00"),
        (once("2026-12-24"), "Una vez, 24/12/2026 07:00"),
    ],
)
def test_describe(rule: Recurrence, text: str) -> None:
    assert rule.describe() == text


@pytest.mark.parametrize(
    ("rule", "day", "text"),
    [
        (CutoffRule.RUN_DAY, None, "El día del envío"),
        (CutoffRule.PREVIOUS_MONTH_END, None, "Último día del mes anterior"),
        (CutoffRule.DAY_OF_MONTH, 15, "Día 15 del mes"),
    ],
)
def test_describe_cutoff(rule: CutoffRule, day: int | None, text: str) -> None:
    assert describe_cutoff(rule, day) == text
