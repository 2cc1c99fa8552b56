"""Unit tests for shared.workdays: working days and due times (办结时限)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import chinese_calendar
import pytest

from shared.workdays import (
    END_OF_WORKING_DAY,
    LOCAL_TZ,
    DueTime,
    WorkdayArrangement,
    add_working_days,
    covers,
    is_working_day,
)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)  # type: ignore[misc]


def test_national_day_is_off() -> None:
    assert date(2026, 10, 1).weekday() == 3  # a Thursday, off only because it is a holiday
    assert not is_working_day(date(2026, 10, 1))


def test_adjusted_working_weekend_is_on() -> None:
    adjusted = [d for d in chinese_calendar.get_dates(date(2026, 1, 1), date(2026, 12, 31))
                if d.weekday() >= 5 and chinese_calendar.is_workday(d)]
    assert date(2026, 10, 10) in adjusted  # Saturday worked for the National Day week (调休)
    for day in adjusted:
        assert is_working_day(day), day


def test_ordinary_days() -> None:
    assert is_working_day(date(2026, 11, 27))  # Friday
    assert not is_working_day(date(2026, 11, 28))  # Saturday


def test_covers() -> None:
    assert covers(date(2026, 6, 1))
    assert not covers(date(2027, 6, 1))
    assert not covers(date(1900, 1, 1))
    assert not covers(date(9999, 12, 31))


def test_friday_plus_one_working_day_is_monday() -> None:
    due = add_working_days(local(2026, 11, 27, 10, 0), 1)
    assert due == DueTime(local(2026, 11, 30, 18, 0), provisional=False)
    assert due.at.tzinfo is LOCAL_TZ


def test_result_is_in_the_input_time_zone() -> None:
    due = add_working_days(datetime(2026, 11, 27, 2, 0, tzinfo=UTC), 1)
    assert due.at.tzinfo is UTC
    assert due.at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_naive_input_is_read_as_utc() -> None:
    # 2026-11-27 20:00 UTC is already Saturday 04:00 in Jiangmen.
    due = add_working_days(datetime(2026, 11, 27, 20, 0), 1)
    assert due.at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_days_are_counted_on_the_local_calendar() -> None:
    # Thursday 17:00 UTC-8 is Friday 09:00 in Jiangmen: one working day later is Monday.
    start = datetime(2026, 11, 26, 17, 0, tzinfo=timezone(timedelta(hours=-8)))
    assert add_working_days(start, 1).at == local(2026, 11, 30, 18, 0)


def test_holiday_week_is_skipped() -> None:
    # 2026-09-30 Wednesday; Oct 1-7 are off; Oct 8 (Thursday) is the first working day after.
    assert add_working_days(local(2026, 9, 30, 9, 0), 1).at == local(2026, 10, 8, 18, 0)


def test_zero_days() -> None:
    assert add_working_days(local(2026, 11, 27, 9, 0), 0).at == local(2026, 11, 27, 18, 0)
    # Saturday: the next working day.
    assert add_working_days(local(2026, 11, 28, 9, 0), 0).at == local(2026, 11, 30, 18, 0)
    # After closing time: never a due time before the start.
    assert add_working_days(local(2026, 11, 27, 19, 0), 0).at == local(2026, 11, 30, 18, 0)
    assert END_OF_WORKING_DAY.hour == 18


def test_2027_is_provisional_and_does_not_raise() -> None:
    due = add_working_days(local(2027, 3, 5, 10, 0), 1)  # Friday
    assert due == DueTime(local(2027, 3, 8, 18, 0), provisional=True)


def test_crossing_into_an_uncovered_year_is_provisional() -> None:
    due = add_working_days(local(2026, 12, 30, 10, 0), 5)
    assert due.provisional
    assert due.at.year == 2027


def test_2026_is_not_provisional() -> None:
    assert not add_working_days(local(2026, 3, 2, 10, 0), 20).provisional


def test_configured_arrangement_applies_to_uncovered_years() -> None:
    arrangement = WorkdayArrangement.from_iso(holidays=["2027-01-01"], workdays=["2027-01-09"])
    assert is_working_day(date(2027, 1, 1))  # Friday, weekends-only rule
    assert not is_working_day(date(2027, 1, 1), arrangement)
    assert is_working_day(date(2027, 1, 9), arrangement)  # Saturday worked
    due = add_working_days(local(2026, 12, 31, 10, 0), 1, arrangement)
    assert due == DueTime(local(2027, 1, 4, 18, 0), provisional=True)


def test_arrangement_never_overrides_the_official_calendar() -> None:
    arrangement = WorkdayArrangement(holidays=frozenset({date(2026, 11, 27)}))
    assert is_working_day(date(2026, 11, 27), arrangement)


def test_arrangement_rejects_a_date_both_off_and_on() -> None:
    with pytest.raises(ValueError):
        WorkdayArrangement(holidays=frozenset({date(2027, 1, 1)}), workdays=frozenset({date(2027, 1, 1)}))


@pytest.mark.parametrize("year", [1900, 1950, 2003, 2004, 2100, 5000, 9998])
def test_any_reachable_year_computes(year: int) -> None:
    due = add_working_days(local(year, 6, 1, 10, 0), 10)
    assert due.at > local(year, 6, 1, 10, 0)
    assert due.provisional is not covers(date(year, 6, 1))


def test_beyond_year_9999_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        add_working_days(local(9999, 12, 31, 10, 0), 5)


def test_negative_days_rejected() -> None:
    with pytest.raises(ValueError):
        add_working_days(local(2026, 11, 27, 10, 0), -1)


def test_shipped_arrangement_applies_to_uncovered_years_by_default() -> None:
    from shared.workdays import configured_arrangement

    assert date(2027, 1, 1) in configured_arrangement().holidays
    # Thursday 2026-12-31 + 1 working day: New Year's Day 2027 (from the shipped data) is skipped.
    due = add_working_days(local(2026, 12, 31, 10, 0), 1)
    assert due == DueTime(local(2027, 1, 4, 18, 0), provisional=True)
    # An explicit empty arrangement means weekends only.
    assert add_working_days(local(2026, 12, 31, 10, 0), 1, WorkdayArrangement()).at == local(2027, 1, 1, 18, 0)


def test_arrangement_file_from_settings(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from shared import workdays

    path = tmp_path / "arrangement.json"
    path.write_text('{"holidays": ["2027-03-08"], "workdays": ["2027-03-13"]}')
    monkeypatch.setenv("ONESTOP_WORKDAY_ARRANGEMENT", str(path))
    workdays.configured_arrangement.cache_clear()
    try:
        arrangement = workdays.configured_arrangement()
        assert arrangement.holidays == {date(2027, 3, 8)} and arrangement.workdays == {date(2027, 3, 13)}
        # Friday 2027-03-05 + 1: Monday the 8th is off, so Tuesday.
        assert add_working_days(local(2027, 3, 5, 10, 0), 1).at == local(2027, 3, 9, 18, 0)
    finally:
        monkeypatch.delenv("ONESTOP_WORKDAY_ARRANGEMENT")
        workdays.configured_arrangement.cache_clear()
