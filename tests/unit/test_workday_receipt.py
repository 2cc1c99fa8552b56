"""When a time limit starts counting: receipt on a working day before office hours end, the period from the
day after (民法典 art. 201; 行政许可法 art. 82; DOMAIN.md Working days)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from shared.workdays import (
    LOCAL_TZ,
    RECEIPT_CUTOFF,
    DueTime,
    WorkdayArrangement,
    add_working_days,
    received_on,
)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)  # type: ignore[misc]


def test_office_hours_end_at_17_30() -> None:
    assert RECEIPT_CUTOFF == time(17, 30)


def test_friday_evening_is_received_on_monday_and_one_day_is_due_on_tuesday() -> None:
    friday_evening = local(2026, 11, 27, 18, 0)
    assert received_on(friday_evening) == date(2026, 11, 30)
    assert add_working_days(friday_evening, 1) == DueTime(local(2026, 12, 1, 18, 0), provisional=False)


def test_friday_morning_is_received_on_friday_and_one_day_is_due_on_monday() -> None:
    friday_morning = local(2026, 11, 27, 10, 0)
    assert received_on(friday_morning) == date(2026, 11, 27)
    assert add_working_days(friday_morning, 1) == DueTime(local(2026, 11, 30, 18, 0), provisional=False)


def test_during_the_spring_festival_break_the_count_starts_after_the_break() -> None:
    # Sunday 2026-02-15 is inside the Spring Festival break (off until Monday the 23rd inclusive).
    sunday = local(2026, 2, 15, 10, 0)
    assert received_on(sunday) == date(2026, 2, 24)
    assert add_working_days(sunday, 1).at == local(2026, 2, 25, 18, 0)  # not the 24th


def test_one_minute_either_side_of_the_cut_off_on_a_wednesday() -> None:
    before, after = local(2026, 11, 25, 17, 29), local(2026, 11, 25, 17, 31)
    assert received_on(before) == date(2026, 11, 25)
    assert received_on(after) == date(2026, 11, 26)
    assert add_working_days(before, 1).at == local(2026, 11, 26, 18, 0)
    assert add_working_days(after, 1).at == local(2026, 11, 27, 18, 0)
    # 17:30 itself is after office hours.
    assert received_on(local(2026, 11, 25, 17, 30)) == date(2026, 11, 26)


def test_zero_days_is_due_at_the_close_of_the_receipt_day() -> None:
    # Received on Wednesday: due that evening.
    assert add_working_days(local(2026, 11, 25, 17, 29), 0).at == local(2026, 11, 25, 18, 0)
    # Between the cut-off and 18:00 it is received (and so due) on Thursday.
    assert add_working_days(local(2026, 11, 25, 17, 45), 0).at == local(2026, 11, 26, 18, 0)


def test_receipt_is_decided_on_the_local_clock() -> None:
    # 09:45 UTC on Wednesday is 17:45 in Jiangmen: after office hours.
    start = datetime(2026, 11, 25, 9, 45, tzinfo=UTC)
    assert received_on(start) == date(2026, 11, 26)
    assert add_working_days(start, 1).at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_2027_friday_evening_before_may_day_is_received_after_the_make_up_days() -> None:
    # 2027-05-01/02 (Sat, Sun) are Labour Day, made up on Mon 3 and Tue 4: received Wednesday the 5th.
    friday_evening = local(2027, 4, 30, 18, 0)
    assert received_on(friday_evening) == date(2027, 5, 5)
    assert add_working_days(friday_evening, 1) == DueTime(local(2027, 5, 6, 18, 0), provisional=True)


def test_a_receipt_in_an_uncovered_year_makes_the_due_time_provisional() -> None:
    # Received on the first working day of 2027 even though the count itself is one day.
    due = add_working_days(local(2026, 12, 31, 18, 0), 0)
    assert due == DueTime(local(2027, 1, 4, 18, 0), provisional=True)


def test_the_cut_off_is_a_parameter() -> None:
    noon = time(12, 0)
    wednesday_afternoon = local(2026, 11, 25, 13, 0)
    assert received_on(wednesday_afternoon, cutoff=noon) == date(2026, 11, 26)
    assert add_working_days(wednesday_afternoon, 1, cutoff=noon).at == local(2026, 11, 27, 18, 0)
    assert add_working_days(wednesday_afternoon, 1).at == local(2026, 11, 26, 18, 0)


def test_a_cut_off_after_the_due_time_is_refused() -> None:
    # Otherwise a submission at 18:30 with days=0 would be due at 18:00 the same day, before it was made.
    with pytest.raises(ValueError):
        add_working_days(local(2026, 11, 25, 18, 30), 0, cutoff=time(19, 0))


def test_receipt_follows_the_arrangement() -> None:
    arrangement = WorkdayArrangement.from_iso(holidays=["2027-03-08"])
    # Friday evening 2027-03-05; Monday the 8th is off by the arrangement.
    assert received_on(local(2027, 3, 5, 18, 0), arrangement) == date(2027, 3, 9)
    assert received_on(local(2027, 3, 5, 18, 0), WorkdayArrangement()) == date(2027, 3, 8)
