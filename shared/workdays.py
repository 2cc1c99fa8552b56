"""Working days and due times for time limits (办结时限, DOMAIN.md Working days).

Weekends and official holidays are off; adjusted working weekends (调休) are on. The official arrangement
comes from the ``chinese_calendar`` package, which only knows the years the State Council has announced, or
from an arrangement configured as data and marked official (``WorkdayArrangement.official_years``). For any
other year the days are computed from the rules, and every due time that relies on such a year is flagged
provisional:

- Monday to Friday are working days, except
- the statutory holidays of 《全国年节及纪念日放假办法》 as revised in 2024 (``statutory_holidays``), and
- the make-up days (补假, art. 6): a statutory holiday that falls on a Saturday or Sunday is made up on the
  following weekdays (``make_up_days``),
- corrected by the ``WorkdayArrangement`` configured as data (its holidays off, its workdays on).

A time limit counts from receipt (民法典 art. 201; 行政许可法 art. 82): a submission after ``RECEIPT_CUTOFF``
or on a rest day is received on the next working day, and the period runs from the day after receipt. All
calendar decisions are made on the Asia/Shanghai date, whatever time zone the caller uses.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = [
    "END_OF_WORKING_DAY",
    "LOCAL_TZ",
    "RECEIPT_CUTOFF",
    "STATUTORY_RULES_SINCE",
    "DueTime",
    "WorkdayArrangement",
    "add_working_days",
    "configured_arrangement",
    "coverage_warning",
    "covers",
    "is_working_day",
    "make_up_days",
    "received_on",
    "statutory_days_off",
    "statutory_holidays",
]

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
"""The time zone in which days are counted."""

END_OF_WORKING_DAY = time(18, 0)
"""A due time falls at 18:00 local on its day: service halls in Jiangmen close by then, so work finished
later is in practice handled the next working day, and a deadline at midnight would overstate the time
a department really has."""

RECEIPT_CUTOFF = time(17, 30)
"""Office hours end at 17:30 local: a submission at or after this time (or on a rest day) is received on the
next working day (民法典 art. 201; 行政许可法 art. 82). It is earlier than ``END_OF_WORKING_DAY`` because the
halls stop taking in new matters before they close; a receipt cut-off later than the due time of the same
day would let a due time fall before its submission, so ``add_working_days`` refuses one."""

STATUTORY_RULES_SINCE = 2025
"""The first year of the holiday rules computed for uncovered years: 《全国年节及纪念日放假办法》 as revised
in 2024, in force from 2025 (元旦 1 day, 春节 4 from 除夕, 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆节 3). An
uncovered year before it (chinese_calendar starts in 2004) falls back to weekends and configured data only:
today's rules would misstate those years, and no time limit reaches them."""

# 春节 (正月初一), 清明, 端午 (五月初五) and 中秋 (八月十五) as (month, day): they follow the moon or the sun, so
# they cannot be derived from the Gregorian date. Checked against two independent lunisolar tables and
# chinese_calendar's solar terms; 2033 follows the 闰十一月 reading of the "2033 problem" (中秋 on 9 September).
# 2025 and 2026 are covered officially and kept so that a test can hold the rule against the official
# arrangement. Extend the table when the years ahead need it; a year past it gets only the fixed-date festivals.
_LUNISOLAR_DATES: dict[int, tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    2025: ((1, 29), (4, 4), (5, 31), (10, 6)),
    2026: ((2, 17), (4, 5), (6, 19), (9, 25)),
    2027: ((2, 6), (4, 5), (6, 9), (9, 15)),
    2028: ((1, 26), (4, 4), (5, 28), (10, 3)),
    2029: ((2, 13), (4, 4), (6, 16), (9, 22)),
    2030: ((2, 3), (4, 5), (6, 5), (9, 12)),
    2031: ((1, 23), (4, 5), (6, 24), (10, 1)),
    2032: ((2, 11), (4, 4), (6, 12), (9, 19)),
    2033: ((1, 31), (4, 4), (6, 1), (9, 8)),
    2034: ((2, 19), (4, 5), (6, 20), (9, 27)),
    2035: ((2, 8), (4, 5), (6, 10), (9, 16)),
}


@dataclass(frozen=True, slots=True)
class WorkdayArrangement:
    """A configured holiday arrangement for years the official calendar package does not cover yet.

    ``holidays`` are weekdays that are off; ``workdays`` are weekend days that are on (调休). A date in
    both is a configuration error (``ValueError``). It never overrides ``chinese_calendar``: once the
    package knows a year, the official arrangement there wins.

    ``official_years`` are the years whose ``holidays`` and ``workdays`` are the State Council's announced
    arrangement: in those years the data alone decides (the computed statutory holidays and make-up days are
    not added, since the announcement already placed them) and due times are not provisional. In any other
    uncovered year the data corrects the computed rule.
    """

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    official_years: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        # Coerce so that a list or set from configuration still gives a hashable, immutable value.
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        object.__setattr__(self, "official_years", frozenset(self.official_years))
        clash = self.holidays & self.workdays
        if clash:
            raise ValueError(f"dates both holiday and workday: {sorted(clash)}")

    @classmethod
    def from_iso(cls, holidays: Iterable[str] = (), workdays: Iterable[str] = (),
                 official_years: Iterable[int] = ()) -> WorkdayArrangement:
        """Build an arrangement from ISO date strings (``"2027-01-01"``), as kept in configuration."""
        return cls(frozenset(map(date.fromisoformat, holidays)), frozenset(map(date.fromisoformat, workdays)),
                   frozenset(map(int, official_years)))


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
    return WorkdayArrangement.from_iso(data.get("holidays", ()), data.get("workdays", ()),
                                       data.get("official_years", ()))


@dataclass(frozen=True, slots=True)
class DueTime:
    """A due time; ``provisional`` means it relied on a year for which no official arrangement is known
    (neither ``chinese_calendar`` nor an official arrangement configured as data covers it)."""

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


def _official(year: int, extra: WorkdayArrangement) -> bool:
    return _year_covered(year) or year in extra.official_years


def _as_aware(moment: datetime) -> datetime:
    # A naive datetime in this code base comes from UTC timestamps (database, event times), never from
    # a wall clock in China, so UTC is the only safe reading.
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment


def local_today(now: datetime | None = None) -> date:
    """Today's date in Jiangmen (or that of ``now``), whatever the machine's time zone: the day time limits,
    catalogue versions and suspensions are counted in."""
    return (_as_aware(now) if now is not None else datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ).date()


@functools.lru_cache(maxsize=4096)
def _official_workday(day: date) -> bool:
    # Asked for the same few weeks on every time limit worked out; the package checks and looks up each time.
    return bool(chinese_calendar.is_workday(day))


def _local_date(day: date) -> date:
    if isinstance(day, datetime):
        return _as_aware(day).astimezone(LOCAL_TZ).date()
    return day


def covers(day: date) -> bool:
    """Tell whether the official calendar (``chinese_calendar``) covers the year of ``day``.

    A ``datetime`` is first converted to its Asia/Shanghai date (naive means UTC).
    """
    return _year_covered(_local_date(day).year)


def statutory_holidays(year: int) -> Mapping[str, tuple[date, ...]]:
    """The statutory holidays for all citizens in ``year``, festival by festival in calendar order.

    These follow 《全国年节及纪念日放假办法》 as revised in 2024: 元旦 (1 January), 春节 (除夕 to 正月初三),
    清明, 劳动节 (1-2 May), 端午, 中秋 and 国庆节 (1-3 October), weekend days included. Empty before
    ``STATUTORY_RULES_SINCE``; the lunisolar festivals (春节, 清明, 端午, 中秋) are known for the years of the
    module's table only (2025-2035), later years get the fixed-date festivals alone. This is the rule, not
    the announced arrangement, which may move days around with 调休.
    """
    if year < STATUTORY_RULES_SINCE:
        return {}
    festivals: dict[str, tuple[date, ...]] = {
        "元旦": (date(year, 1, 1),),
        "劳动节": (date(year, 5, 1), date(year, 5, 2)),
        "国庆节": (date(year, 10, 1), date(year, 10, 2), date(year, 10, 3)),
    }
    if year in _LUNISOLAR_DATES:
        spring, qingming, dragon_boat, mid_autumn = (date(year, m, d) for m, d in _LUNISOLAR_DATES[year])
        festivals["春节"] = tuple(spring + timedelta(days=k) for k in range(-1, 3))
        festivals["清明节"] = (qingming,)
        festivals["端午节"] = (dragon_boat,)
        festivals["中秋节"] = (mid_autumn,)
    return dict(sorted(festivals.items(), key=lambda item: item[1][0]))


@functools.cache
def make_up_days(year: int) -> frozenset[date]:
    """The make-up days (补假) of ``year`` under art. 6 of 《全国年节及纪念日放假办法》.

    Each statutory holiday that falls on a Saturday or Sunday is made up on the first following weekday
    that is neither a statutory holiday nor already a make-up day. A day two festivals share (中秋 on
    1 October, as in 2020 and 2031) is owed once more as well: the statute is silent there, and the
    announced arrangements gave the extra day.
    """
    festivals = statutory_holidays(year)
    statutory = {day for days in festivals.values() for day in days}
    seen: set[date] = set()
    made_up: set[date] = set()
    for days in festivals.values():
        owed = sum(1 for day in days if day.weekday() >= 5 or day in seen)
        seen.update(days)
        day = max(days)
        while owed:
            day += timedelta(days=1)
            if day.weekday() < 5 and day not in statutory and day not in made_up:
                made_up.add(day)
                owed -= 1
    return frozenset(made_up)


@functools.cache
def statutory_days_off(year: int) -> frozenset[date]:
    """The weekdays of ``year`` that the rule alone makes rest days: statutory holidays on weekdays and the
    make-up days. This is what an uncovered year's fallback adds to the weekends."""
    weekdays = {day for days in statutory_holidays(year).values() for day in days if day.weekday() < 5}
    return frozenset(weekdays) | make_up_days(year)


def is_working_day(day: date, extra: WorkdayArrangement | None = None) -> bool:
    """Tell whether ``day`` is a working day in mainland China.

    In years ``chinese_calendar`` covers, that calendar decides (holidays off, 调休 weekends on). In a year
    that ``extra`` marks official, its dates decide over Monday-Friday. In any other year Monday-Friday are
    working days except ``statutory_days_off`` (statutory holidays and 补假), and ``extra`` corrects that:
    its holidays are off, its workdays on. ``extra`` defaults to ``configured_arrangement()``; pass
    ``WorkdayArrangement()`` for the rule alone. A ``datetime`` is first converted to its Asia/Shanghai date.
    """
    day = _local_date(day)
    if _year_covered(day.year):
        return _official_workday(day)
    if extra is None:
        extra = configured_arrangement()
    if day in extra.workdays:
        return True
    if day in extra.holidays:
        return False
    if day.year not in extra.official_years and day in statutory_days_off(day.year):
        return False
    return day.weekday() < 5


def _receipt_day(local: datetime, cutoff: time, working: Callable[[date], bool]) -> date:
    day = local.date()
    if working(day) and local.time() < cutoff:
        return day
    day += timedelta(days=1)
    while not working(day):
        day += timedelta(days=1)
    return day


def received_on(moment: datetime, extra: WorkdayArrangement | None = None, *,
                cutoff: time = RECEIPT_CUTOFF) -> date:
    """The local date on which a submission made at ``moment`` is received.

    That is ``moment``'s Asia/Shanghai date if it is a working day and ``moment`` is before ``cutoff``
    (office hours, ``RECEIPT_CUTOFF``), else the next working day. A naive ``moment`` is read as UTC.
    """
    if extra is None:
        extra = configured_arrangement()
    arrangement = extra
    local = _as_aware(moment).astimezone(LOCAL_TZ)
    return _receipt_day(local, cutoff, lambda day: is_working_day(day, arrangement))


def add_working_days(start: datetime, days: int, extra: WorkdayArrangement | None = None, *,
                     cutoff: time = RECEIPT_CUTOFF) -> DueTime:
    """Return the due time of a ``days``-working-day time limit for a submission made at ``start``.

    The count starts at receipt (民法典 art. 201; 行政许可法 art. 82): a submission on a working day before
    ``cutoff`` (``RECEIPT_CUTOFF``, 17:30 local) is received that day; one at or after it, or on a rest day,
    is received on the next working day. The period runs from the day after receipt, and the due time is
    ``END_OF_WORKING_DAY`` (18:00 local) of the ``days``-th working day after the receipt day; with
    ``days=0`` it is 18:00 of the receipt day itself. So a due time is never before its start: a 1-day task
    submitted on Friday at 18:00 is received on Monday and due on Tuesday at 18:00; one submitted on Friday
    at 10:00 is due on Monday at 18:00.

    ``extra`` defaults to ``configured_arrangement()``; pass ``WorkdayArrangement()`` for the rule alone.
    ``start`` should be timezone-aware; a naive value is read as UTC. The result is in ``start``'s time
    zone (UTC for naive input). Days are counted on the Asia/Shanghai calendar.

    ``provisional`` is True when any day consulted lies in a year with no official arrangement known.
    Raises ``ValueError`` for a negative ``days``, a ``cutoff`` after ``END_OF_WORKING_DAY``, or a due date
    beyond year 9999.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError("days must be a non-negative integer")
    if cutoff > END_OF_WORKING_DAY:
        raise ValueError(f"the receipt cut-off must not be after {END_OF_WORKING_DAY:%H:%M}, the due time")
    aware = _as_aware(start)
    provisional = False
    if extra is None:
        extra = configured_arrangement()
    arrangement = extra

    def working(day: date) -> bool:
        nonlocal provisional
        if not _official(day.year, arrangement):
            provisional = True
        return is_working_day(day, arrangement)

    try:
        day = _receipt_day(aware.astimezone(LOCAL_TZ), cutoff, working)
        remaining = days
        while remaining:
            day += timedelta(days=1)
            if working(day):
                remaining -= 1
        due = datetime.combine(day, END_OF_WORKING_DAY, tzinfo=LOCAL_TZ).astimezone(aware.tzinfo)
    except OverflowError as exc:
        raise ValueError("due date is beyond the supported calendar (year 9999)") from exc
    return DueTime(due, provisional)


def coverage_warning(today: date | None = None, extra: WorkdayArrangement | None = None) -> str | None:
    """Say why due dates are provisional this year, or None when the year has an official arrangement.

    ``today`` defaults to the current Asia/Shanghai date (a ``datetime`` is converted to it). The year is
    covered when ``chinese_calendar`` knows it or ``extra`` (default ``configured_arrangement()``) marks it
    official. Meant for readiness: due dates are still computed in an uncovered year, only provisionally.
    """
    year = _local_date(today).year if today is not None else datetime.now(LOCAL_TZ).year
    if extra is None:
        extra = configured_arrangement()
    if _official(year, extra):
        return None
    return (f"{year} is not covered by the official holiday arrangement (chinese-calendar "
            f"{getattr(chinese_calendar, '__version__', '?')} does not know it, and no official arrangement "
            f"for it is configured as data): due dates in {year} are provisional, computed from weekends, "
            f"the statutory holidays and their make-up days (补假)")
