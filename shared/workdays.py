"""Working days and due times for time limits (办结时限, DOMAIN.md Working days).

Weekends and official holidays are off; adjusted working weekends (调休) are on. The official arrangement
comes from the ``chinese_calendar`` package, which only knows the years the State Council has announced.
For any other year the rule falls back to "Monday to Friday", corrected by an optional
``WorkdayArrangement`` supplied as configuration data, and the result is flagged provisional.

All calendar decisions are made on the Asia/Shanghai date, whatever time zone the caller uses.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = [
    "END_OF_WORKING_DAY",
    "LOCAL_TZ",
    "DueTime",
    "WorkdayArrangement",
    "add_working_days",
    "configured_arrangement",
    "covers",
    "is_working_day",
]

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
"""The time zone in which days are counted."""

END_OF_WORKING_DAY = time(18, 0)
"""A due time falls at 18:00 local on its day: service halls in Jiangmen close by then, so work finished
later is in practice handled the next working day, and a deadline at midnight would overstate the time
a department really has."""


@dataclass(frozen=True, slots=True)
class WorkdayArrangement:
    """A configured holiday arrangement for years the official calendar does not cover yet.

    ``holidays`` are weekdays that are off; ``workdays`` are weekend days that are on (调休). A date in
    both is a configuration error (``ValueError``). It never overrides the official calendar: once the
    package knows a year, the official arrangement wins.
    """

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        # Coerce so that a list or set from configuration still gives a hashable, immutable value.
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        clash = self.holidays & self.workdays
        if clash:
            raise ValueError(f"dates both holiday and workday: {sorted(clash)}")

    @classmethod
    def from_iso(cls, holidays: Iterable[str] = (), workdays: Iterable[str] = ()) -> WorkdayArrangement:
        """Build an arrangement from ISO date strings (``"2027-01-01"``), as kept in configuration."""
        return cls(frozenset(map(date.fromisoformat, holidays)), frozenset(map(date.fromisoformat, workdays)))


DEFAULT_ARRANGEMENT_FILE = Path(__file__).resolve().parent / "data" / "workday_arrangement.json"


@functools.cache
def configured_arrangement() -> WorkdayArrangement:
    """The arrangement kept as data for years the official calendar does not cover: the file named by
    ``ONESTOP_WORKDAY_ARRANGEMENT``, else the one shipped in ``shared/data`` (read once per process)."""
    from shared.settings import Settings

    path = Settings().workday_arrangement or DEFAULT_ARRANGEMENT_FILE
    if not path.exists():
        return WorkdayArrangement()
    data = json.loads(path.read_text(encoding="utf-8"))
    return WorkdayArrangement.from_iso(data.get("holidays", ()), data.get("workdays", ()))


@dataclass(frozen=True, slots=True)
class DueTime:
    """A due time; ``provisional`` means it relied on a year the official calendar does not cover yet."""

    at: datetime
    provisional: bool


@functools.cache
def _year_covered(year: int) -> bool:
    # The package states its range only through this exception; asking once per year keeps it cheap.
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _as_aware(moment: datetime) -> datetime:
    # A naive datetime in this code base comes from UTC timestamps (database, event times), never from
    # a wall clock in China, so UTC is the only safe reading.
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _local_date(day: date) -> date:
    if isinstance(day, datetime):
        return _as_aware(day).astimezone(LOCAL_TZ).date()
    return day


def covers(day: date) -> bool:
    """Tell whether the official calendar (``chinese_calendar``) covers the year of ``day``.

    A ``datetime`` is first converted to its Asia/Shanghai date (naive means UTC).
    """
    return _year_covered(_local_date(day).year)


def is_working_day(day: date, extra: WorkdayArrangement | None = None) -> bool:
    """Tell whether ``day`` is a working day in mainland China.

    In years the official calendar covers, that calendar decides (holidays off, 调休 weekends on).
    Otherwise Monday-Friday are working days, except the dates ``extra`` lists as holidays, plus the
    weekend dates it lists as workdays. A ``datetime`` is first converted to its Asia/Shanghai date.
    """
    day = _local_date(day)
    if _year_covered(day.year):
        return chinese_calendar.is_workday(day)
    if extra is not None:
        if day in extra.workdays:
            return True
        if day in extra.holidays:
            return False
    return day.weekday() < 5


def add_working_days(start: datetime, days: int, extra: WorkdayArrangement | None = None) -> DueTime:
    """Return the due time ``days`` working days after ``start``.

    ``extra`` defaults to ``configured_arrangement()``; pass ``WorkdayArrangement()`` for weekends only.

    Days are counted on the Asia/Shanghai calendar: the due time is ``END_OF_WORKING_DAY`` (18:00 local)
    of the ``days``-th working day after the start's local date. With ``days=0`` it is 18:00 of the start
    day if that is a working day and ``start`` is before 18:00, otherwise 18:00 of the next working day,
    so a due time is never before its start. ``start`` should be timezone-aware; a naive value is read as
    UTC. The result is in ``start``'s time zone (UTC for naive input).

    ``provisional`` is True when any day consulted lies in a year the official calendar does not cover.
    Raises ``ValueError`` for a negative ``days`` or a due date beyond year 9999.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError("days must be a non-negative integer")
    aware = _as_aware(start)
    provisional = False
    if extra is None:
        extra = configured_arrangement()

    def working(day: date) -> bool:
        nonlocal provisional
        if not _year_covered(day.year):
            provisional = True
        return is_working_day(day, extra)

    try:
        local = aware.astimezone(LOCAL_TZ)
        day = local.date()
        if days == 0:
            if not (working(day) and local.time() < END_OF_WORKING_DAY):
                day += timedelta(days=1)
                while not working(day):
                    day += timedelta(days=1)
        else:
            remaining = days
            while remaining:
                day += timedelta(days=1)
                if working(day):
                    remaining -= 1
        due = datetime.combine(day, END_OF_WORKING_DAY, tzinfo=LOCAL_TZ).astimezone(aware.tzinfo)
    except OverflowError as exc:
        raise ValueError("due date is beyond the supported calendar (year 9999)") from exc
    return DueTime(due, provisional)
