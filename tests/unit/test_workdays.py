"""Unit tests for shared.workdays: working days and due times (办结时限)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import chinese_calendar
import httpx
import pytest
from fastapi import FastAPI

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
    # 2026-11-27 20:00 UTC is already Saturday 04:00 in Jiangmen: received on Monday, so due on Tuesday.
    due = add_working_days(datetime(2026, 11, 27, 20, 0), 1)
    assert due.at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


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
    arrangement = WorkdayArrangement.from_iso(holidays=["2027-01-05"], workdays=["2027-01-09"])
    assert is_working_day(date(2027, 1, 5), WorkdayArrangement())  # Tuesday, the rule alone
    assert not is_working_day(date(2027, 1, 5), arrangement)
    assert is_working_day(date(2027, 1, 9), arrangement)  # Saturday worked
    # Monday 2027-01-04 + 1 working day: Tuesday is off by the arrangement, so Wednesday.
    due = add_working_days(local(2027, 1, 4, 10, 0), 1, arrangement)
    assert due == DueTime(local(2027, 1, 6, 18, 0), provisional=True)


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
    # An explicit empty arrangement drops the configured data, not the statutory holidays: 元旦 is still off.
    assert add_working_days(local(2026, 12, 31, 10, 0), 1, WorkdayArrangement()).at == local(2027, 1, 4, 18, 0)


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


# --- 补假: statutory holidays on a weekend are made up on the following weekdays (art. 6) ----------------------

MAKE_UP_2027 = [date(2027, 2, 9), date(2027, 2, 10), date(2027, 5, 3), date(2027, 5, 4), date(2027, 10, 4),
                date(2027, 10, 5)]


@pytest.mark.parametrize("day", MAKE_UP_2027, ids=str)
def test_2027_make_up_days_are_off(day: date) -> None:
    assert day.weekday() < 5
    assert not is_working_day(day)  # with the shipped data
    assert not is_working_day(day, WorkdayArrangement())  # and by the rule alone


@pytest.mark.parametrize(("start", "due"), [
    (local(2027, 2, 4, 10, 0), local(2027, 2, 11, 18, 0)),  # 春节 Feb 5-8, made up Feb 9-10
    (local(2027, 4, 30, 10, 0), local(2027, 5, 5, 18, 0)),  # 劳动节 May 1-2, made up May 3-4
    (local(2027, 9, 30, 10, 0), local(2027, 10, 6, 18, 0)),  # 国庆节 Oct 1-3, made up Oct 4-5
], ids=["spring-festival", "labour-day", "national-day"])
def test_2027_make_up_days_are_skipped_and_provisional(start: datetime, due: datetime) -> None:
    assert add_working_days(start, 1) == DueTime(due, provisional=True)
    assert add_working_days(start, 1, WorkdayArrangement()) == DueTime(due, provisional=True)


def test_computed_2027_equals_the_shipped_data() -> None:
    from shared.workdays import DEFAULT_ARRANGEMENT_FILE, make_up_days, statutory_days_off

    data = json.loads(DEFAULT_ARRANGEMENT_FILE.read_text(encoding="utf-8"))
    listed = {d for d in WorkdayArrangement.from_iso(data["holidays"]).holidays if d.year == 2027}
    assert make_up_days(2027) == set(MAKE_UP_2027)
    assert statutory_days_off(2027) == listed
    assert data["workdays"] == [] and data["official_years"] == []


def test_statutory_holidays_2027() -> None:
    from shared.workdays import statutory_holidays

    festivals = statutory_holidays(2027)
    assert festivals["春节"] == tuple(date(2027, 2, d) for d in (5, 6, 7, 8))  # 除夕 to 初三
    assert festivals["劳动节"] == (date(2027, 5, 1), date(2027, 5, 2))
    assert festivals["国庆节"] == (date(2027, 10, 1), date(2027, 10, 2), date(2027, 10, 3))
    assert sum(len(days) for days in festivals.values()) == 13


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_rule_agrees_with_the_official_arrangement(year: int) -> None:
    # Every day the rule gives off (statutory holidays and 补假) is off in the announced arrangement too.
    from shared.workdays import statutory_days_off, statutory_holidays

    ruled = statutory_days_off(year) | {d for days in statutory_holidays(year).values() for d in days}
    assert len(ruled) >= 13
    assert [d for d in sorted(ruled) if chinese_calendar.is_workday(d)] == []


def test_later_years_are_computed_from_the_rule() -> None:
    from shared.workdays import make_up_days, statutory_holidays

    none = WorkdayArrangement()
    assert not is_working_day(date(2028, 1, 3), none)  # 元旦 on Saturday, made up on Monday
    assert not is_working_day(date(2028, 5, 29), none)  # 端午 on Sunday 28 May
    assert is_working_day(date(2028, 1, 4), none)
    # 2031: 中秋 falls on 1 October (Wednesday) with 国庆节; the shared day is owed once more, on Monday the 6th.
    assert not is_working_day(date(2031, 10, 6), none)
    assert is_working_day(date(2031, 10, 7), none)
    # Past the lunisolar table only the fixed-date festivals are known, and they are still made up.
    assert list(statutory_holidays(2038)) == ["元旦", "劳动节", "国庆节"]
    assert make_up_days(2038) == {date(2038, 5, 3), date(2038, 5, 4), date(2038, 10, 4), date(2038, 10, 5)}
    assert not is_working_day(date(2040, 1, 2), none)  # 元旦 on Sunday


def test_years_before_the_2024_rules_fall_back_to_weekends_and_data() -> None:
    from shared.workdays import statutory_holidays

    assert statutory_holidays(2003) == {}
    assert is_working_day(date(2003, 1, 1), WorkdayArrangement())


# --- An official arrangement configured as data ---------------------------------------------------------------

def test_an_official_arrangement_decides_its_year_alone_and_is_not_provisional() -> None:
    # Suppose the announced 2027 arrangement works Tuesday 9 February and adds a 调休 Saturday.
    official = WorkdayArrangement.from_iso(holidays=["2027-02-05", "2027-02-08", "2027-02-10"],
                                           workdays=["2027-02-20"], official_years=[2027])
    assert is_working_day(date(2027, 2, 9), official)
    assert not is_working_day(date(2027, 2, 10), official)
    assert is_working_day(date(2027, 2, 20), official)
    assert add_working_days(local(2027, 2, 4, 10, 0), 1, official) == DueTime(local(2027, 2, 9, 18, 0), False)
    # Crossing into a year that is neither covered nor official is provisional again.
    assert add_working_days(local(2027, 12, 31, 10, 0), 1, official).provisional


def test_official_years_are_read_from_the_file(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from shared import workdays

    path = tmp_path / "arrangement.json"
    path.write_text('{"holidays": ["2027-02-09"], "workdays": [], "official_years": [2027]}')
    monkeypatch.setenv("ONESTOP_WORKDAY_ARRANGEMENT", str(path))
    workdays.configured_arrangement.cache_clear()
    try:
        assert workdays.configured_arrangement().official_years == {2027}
        assert workdays.coverage_warning(date(2027, 3, 1)) is None
        assert not add_working_days(local(2027, 3, 5, 10, 0), 1).provisional
    finally:
        monkeypatch.delenv("ONESTOP_WORKDAY_ARRANGEMENT")
        workdays.configured_arrangement.cache_clear()


# --- /readyz says when the year is not covered ------------------------------------------------------------------

def test_coverage_warning_names_the_year_and_says_provisional() -> None:
    from shared.workdays import coverage_warning

    assert coverage_warning(date(2026, 6, 1)) is None
    warning = coverage_warning(date(2027, 6, 1), WorkdayArrangement())
    assert warning is not None and "2027" in warning and "provisional" in warning
    # The local year decides: 2026-12-31 16:00 UTC is already 2027 in Jiangmen.
    assert coverage_warning(datetime(2026, 12, 31, 16, 0, tzinfo=UTC), WorkdayArrangement()) is not None
    assert coverage_warning(date(2027, 6, 1), WorkdayArrangement(official_years=frozenset({2027}))) is None


async def readyz(app: FastAPI) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://unit") as client:
        return await client.get("/readyz")


async def test_a_readiness_warning_is_reported_without_making_the_process_unready() -> None:
    from shared.web import health_router

    async def fine() -> None:
        return None

    async def provisional() -> str:
        return "2027 is not covered: due dates are provisional"

    async def down() -> None:
        raise ConnectionError("no database")

    app = FastAPI()
    app.include_router(health_router({"database": fine, "working_days": provisional}))
    resp = await readyz(app)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ready", "checks": {
        "database": "ok", "working_days": "warning: 2027 is not covered: due dates are provisional"}}

    app = FastAPI()
    app.include_router(health_router({"database": down, "working_days": provisional}))
    resp = await readyz(app)
    assert resp.status_code == 503 and resp.json()["status"] == "unavailable"
    assert resp.json()["checks"]["database"] == "unavailable: ConnectionError"


async def test_every_service_reports_working_days_coverage(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared import service
    from shared.settings import Settings

    monkeypatch.setattr(service, "configure_logging", lambda *args, **kwargs: None)
    app = service.create_service_app(title="unit", routers=[], settings=Settings(env="dev", service="unit"))
    # No lifespan here, so the database and NATS checks fail; only the working-days entry is looked at.
    monkeypatch.setattr(service, "coverage_warning", lambda: None)
    assert (await readyz(app)).json()["checks"]["working_days"] == "ok"
    monkeypatch.setattr(service, "coverage_warning", lambda: "2027 is not covered: due dates are provisional")
    body = (await readyz(app)).json()
    assert body["checks"]["working_days"] == "warning: 2027 is not covered: due dates are provisional"
