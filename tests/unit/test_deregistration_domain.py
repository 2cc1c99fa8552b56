"""The pure rules of 套餐式注销 and 歇业备案: which departments, which plan, what is valid, the 3-year cap
across filings and the 30-day extension window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.deregistration import domain
from services.deregistration.domain import Filing, Holdings, Procedure
from services.deregistration.schemas import DeregistrationCreate, SuspensionCreate
from shared.departments import Department
from shared.fanout import TaskStatus, ready_steps

ID = "11010519491231002X"
USCC = "91440700708039146Q"
FULL = Holdings(frozenset({"samr", "psb", "tax", "hrss", "medicare", "hpf", "bank"}), has_tax_matters=True)
NO_TAX = Holdings(frozenset({"samr", "psb", "hrss", "medicare"}), has_tax_matters=False)


# --- Which departments a given enterprise needs ----------------------------------------------------------


def test_every_department_held_is_cancelled_and_the_seal_filing_is_not() -> None:
    needed = domain.departments_needed(FULL, Procedure.general)
    assert needed == [Department.samr, Department.tax, Department.hrss, Department.medicare, Department.hpf,
                      Department.bank]
    assert Department.psb not in needed


def test_customs_only_when_the_enterprise_has_a_customs_registration() -> None:
    assert Department.customs not in domain.departments_needed(FULL, Procedure.general)
    with_customs = Holdings(FULL.registered_with, has_tax_matters=True, customs_registered=True)
    assert domain.departments_needed(with_customs, Procedure.general)[-1] == Department.customs
    assert Department.customs in domain.departments_needed(with_customs, Procedure.simplified)


def test_only_departments_registered_with_are_asked() -> None:
    minimal = Holdings(frozenset({"samr"}), has_tax_matters=False)
    assert domain.departments_needed(minimal, Procedure.simplified) == [Department.samr]
    assert domain.departments_needed(minimal, Procedure.general) == [Department.samr]
    social_only = Holdings(frozenset({"samr", "hrss", "medicare"}), has_tax_matters=True)
    assert domain.departments_needed(social_only, Procedure.general) == [
        Department.samr, Department.tax, Department.hrss, Department.medicare]


def test_simplified_skips_tax_when_the_enterprise_never_had_tax_matters() -> None:
    assert Department.tax not in domain.departments_needed(NO_TAX, Procedure.simplified)
    assert Department.tax in domain.departments_needed(FULL, Procedure.simplified)
    # Registered with tax but never had a tax matter: the general procedure still cancels the registration.
    registered_only = Holdings(frozenset({"samr", "tax"}), has_tax_matters=False)
    assert Department.tax not in domain.departments_needed(registered_only, Procedure.simplified)
    assert Department.tax in domain.departments_needed(registered_only, Procedure.general)


# --- Simplified vs general plans -------------------------------------------------------------------------


def test_general_plan_has_tax_clearance_before_samr_and_the_rest_in_parallel() -> None:
    plan = domain.plan_for(Procedure.general, FULL)
    assert plan.step(Department.samr).depends_on == (Department.tax,)
    assert plan.step(Department.tax).kind == "tax_clearance"
    assert all(plan.step(d).depends_on == () for d in plan.departments if d != Department.samr)
    first = {s.department for s in ready_steps(plan, {})}
    assert first == set(plan.departments) - {Department.samr}
    after_tax = {s.department for s in ready_steps(plan, {"tax": TaskStatus.approved})}
    assert Department.samr in after_tax
    # The whole is bounded by the longest chain: tax's clearance, then samr.
    assert plan.working_days == plan.step(Department.tax).working_days + plan.step(Department.samr).working_days


def test_simplified_plan_runs_everything_in_parallel() -> None:
    plan = domain.plan_for(Procedure.simplified, FULL)
    assert all(s.depends_on == () for s in plan.steps)
    assert {s.department for s in ready_steps(plan, {})} == set(plan.departments)


def test_general_plan_without_tax_lets_samr_go_first() -> None:
    plan = domain.plan_for(Procedure.general, Holdings(frozenset({"samr", "hrss"}), has_tax_matters=False))
    assert plan.departments == [Department.samr, Department.hrss]
    assert plan.step(Department.samr).depends_on == ()


def test_periods_follow_the_procedure_and_zero_means_no_wait() -> None:
    assert domain.notice_status("simplified") == "public_notice"
    assert domain.notice_status("general") == "creditor_notice"
    assert domain.notice_length("simplified", 20, 45) == timedelta(days=20)
    assert domain.notice_length("general", 20, 45) == timedelta(days=45)
    assert domain.notice_length("general", 20, 0) == timedelta(0)


# --- What a valid application is -------------------------------------------------------------------------


def test_the_issue_example_bodies_are_valid() -> None:
    general = DeregistrationCreate.model_validate(
        {"uscc": USCC, "procedure": "general", "reason": "经营期满",
         "liquidation": {"members": [{"name": "张三", "id_number": ID}]}})
    simplified = DeregistrationCreate.model_validate(
        {"uscc": USCC, "procedure": "simplified", "reason": "停止经营",
         "undertaking": {"no_outstanding_debts": True, "signatories": [{"name": "张三", "id_number": ID}]}})
    assert domain.validate(general) == []
    assert domain.validate(simplified) == []


def test_every_problem_is_reported_at_once() -> None:
    form = DeregistrationCreate.model_validate(
        {"uscc": "91440700708039146X", "procedure": "simplified", "reason": "",
         "undertaking": {"no_outstanding_debts": False,
                         "signatories": [{"name": "", "id_number": "110105194912310021"}]}})
    found = sorted(((p.code, tuple(p.loc)) for p in domain.validate(form)), key=str)
    assert found == sorted([
        ("uscc_invalid", ("uscc",)),
        ("required", ("reason",)),
        ("debts_outstanding", ("undertaking", "no_outstanding_debts")),
        ("required", ("undertaking", "signatories", 0, "name")),
        ("resident_id_check_digit", ("undertaking", "signatories", 0, "id_number")),
    ], key=str)


def test_each_procedure_needs_its_own_filing() -> None:
    general = DeregistrationCreate(uscc=USCC, procedure="general", reason="经营期满")
    simplified = DeregistrationCreate(uscc=USCC, procedure="simplified", reason="停止经营")
    unknown = DeregistrationCreate(uscc=USCC, procedure="quick", reason="x")
    assert [p.code for p in domain.validate(general)] == ["liquidation_required"]
    assert [p.code for p in domain.validate(simplified)] == ["undertaking_required"]
    assert [p.code for p in domain.validate(unknown)] == ["procedure_unknown"]


# --- Refusals ----------------------------------------------------------------------------------------------


def state(**kw: object) -> domain.EnterpriseState:
    return domain.EnterpriseState(**({"uscc": USCC, "owner": "owner", "status": "active"} | kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "applicant", "status", "code"), [
    ({}, "someone-else", 403, "not_enterprise_owner"),
    ({"status": "cancelled"}, "owner", 409, "enterprise_cancelled"),
    ({"deregistration_number": "QYZX-440703-20261127-000001"}, "owner", 409, "deregistration_in_flight"),
])
def test_refusals_say_which(kw: dict, applicant: str, status: int, code: str) -> None:
    refusal = domain.deregistration_refusal(state(**kw), applicant)
    assert refusal is not None and refusal.status == status and refusal.code == code


def test_a_suspended_enterprise_may_be_deregistered_but_not_suspended_again() -> None:
    suspended = state(status="suspended", suspension_number="XYBA-440703-20261127-000001")
    assert domain.deregistration_refusal(suspended, "owner") is None
    refusal = domain.suspension_refusal(suspended, "owner")
    assert refusal is not None and refusal.code == "suspension_exists"
    in_flight = domain.suspension_refusal(state(deregistration_number="QYZX-1"), "owner")
    assert in_flight is not None and in_flight.code == "deregistration_in_flight"


# --- 歇业备案: the 3-year cap across several filings ---------------------------------------------------------


def test_cap_is_three_calendar_years_from_the_first_start() -> None:
    assert domain.cap_days(date(2026, 1, 1)) == 1096  # 2028 is a leap year
    assert domain.cap_days(date(2029, 3, 1)) == 1096  # 2032 too
    assert domain.cap_days(date(2033, 1, 1)) == 1095
    assert domain.add_years(date(2028, 2, 29), 3) == date(2031, 2, 28)


def test_one_filing_of_exactly_three_years_is_allowed_one_day_more_is_not() -> None:
    assert domain.within_cap([Filing(date(2026, 1, 1), date(2028, 12, 31))])
    assert not domain.within_cap([Filing(date(2026, 1, 1), date(2029, 1, 1))])


def test_cap_counts_every_filing_together() -> None:
    filings = [
        Filing(date(2026, 1, 1), date(2026, 12, 31)),  # 365 days
        Filing(date(2027, 6, 1), date(2028, 5, 31)),  # 366 days
    ]
    assert domain.total_days(filings) == 731
    left = domain.cap_days(date(2026, 1, 1)) - 731  # 365
    third_ok = Filing(date(2029, 1, 1), date(2029, 1, 1) + timedelta(days=left - 1))
    third_over = Filing(date(2029, 1, 1), date(2029, 1, 1) + timedelta(days=left))
    assert domain.within_cap([*filings, third_ok])
    assert not domain.within_cap([*filings, third_over])


def test_a_filing_resumed_early_counts_only_the_days_used() -> None:
    early = Filing(date(2026, 1, 1), date(2028, 12, 31), resumed_on=date(2026, 1, 11))
    assert domain.days_used(early) == 10
    assert domain.days_used(Filing(date(2026, 1, 1), date(2026, 1, 31), resumed_on=date(2026, 1, 1))) == 0
    # After ten days used, a second filing may take the rest of the three years, and no more.
    rest = domain.cap_days(date(2026, 1, 1)) - 10
    assert domain.within_cap([early, Filing(date(2026, 2, 1), date(2026, 2, 1) + timedelta(days=rest - 1))])
    assert not domain.within_cap([early, Filing(date(2026, 2, 1), date(2026, 2, 1) + timedelta(days=rest))])


def suspension_form(start: date, end: date, **kw: str) -> SuspensionCreate:
    body = {"uscc": USCC, "reason": "受台风影响暂停经营", "start_date": start.isoformat(),
            "end_date": end.isoformat(), "delivery_address": "江门市蓬江区建设三路88号"} | kw
    return SuspensionCreate.model_validate(body)


def test_a_filing_over_the_cap_says_how_many_days_are_left() -> None:
    today = date(2027, 1, 1)
    previous = [Filing(date(2026, 1, 1), date(2026, 12, 31))]
    problems, filing = domain.validate_suspension(suspension_form(today, date(2030, 1, 1)), today, previous)
    assert filing is None
    assert [p.code for p in problems] == ["suspension_cap_exceeded"]
    assert "731" in problems[0].message_en
    problems, filing = domain.validate_suspension(suspension_form(today, date(2028, 12, 31)), today, previous)
    assert problems == [] and filing == Filing(today, date(2028, 12, 31))


def test_suspension_problems_are_reported_at_once() -> None:
    today = date(2027, 1, 10)
    form = suspension_form(date(2027, 1, 9), date(2027, 1, 1), reason="", delivery_address="")
    codes = [p.code for p in domain.validate_suspension(form, today, [])[0]]
    assert sorted(codes) == ["end_before_start", "required", "required", "start_in_past"]
    bad_dates = suspension_form(today, today, start_date="2027-13-01", end_date="soon")
    assert [p.loc for p in domain.validate_suspension(bad_dates, today, [])[0]] == [["start_date"], ["end_date"]]


# --- 歇业备案: extension only within the 30 days before the end ----------------------------------------------


def test_extension_window_is_the_thirty_days_before_the_end() -> None:
    end = date(2027, 6, 30)
    assert domain.extension_window(end) == (date(2027, 5, 31), end)
    assert not domain.may_extend(end, date(2027, 5, 30))
    assert domain.may_extend(end, date(2027, 5, 31))
    assert domain.may_extend(end, end)
    assert not domain.may_extend(end, date(2027, 7, 1))


def test_extension_outside_the_window_or_over_the_cap_is_refused() -> None:
    current = Filing(date(2026, 7, 1), date(2027, 6, 30))
    problems, _ = domain.extension_problems(current, "2027-12-31", date(2027, 5, 1), [])
    assert [p.code for p in problems] == ["extension_window"]
    problems, new_end = domain.extension_problems(current, "2027-12-31", date(2027, 6, 15), [])
    assert problems == [] and new_end == date(2027, 12, 31)
    problems, _ = domain.extension_problems(current, "2029-07-01", date(2027, 6, 15), [])
    assert [p.code for p in problems] == ["suspension_cap_exceeded"]
    problems, _ = domain.extension_problems(current, "2027-06-30", date(2027, 6, 15), [])
    assert [p.code for p in problems] == ["not_later"]
    # Earlier filings count toward the cap of an extension too.
    earlier = [Filing(date(2024, 1, 1), date(2025, 12, 31))]  # 731 days
    problems, _ = domain.extension_problems(current, "2027-12-31", date(2027, 6, 15), earlier)
    assert [p.code for p in problems] == ["suspension_cap_exceeded"]


# --- When a suspension's timers are due --------------------------------------------------------------------


def test_a_suspension_ends_when_its_end_date_is_over_local_time() -> None:
    assert domain.suspension_ends_at(date(2027, 6, 30)) == datetime(2027, 6, 30, 16, 0, tzinfo=UTC)


def test_shortened_days_bring_the_due_time_closer_proportionally() -> None:
    now = datetime(2027, 6, 30, 4, 0, tzinfo=UTC)  # 12:00 in Jiangmen
    moment = domain.suspension_ends_at(date(2027, 6, 30))  # twelve hours later
    assert domain.scaled_due(moment, now, 86400) == moment
    assert domain.scaled_due(moment, now, 2) == now + timedelta(seconds=1)
    assert domain.scaled_due(now - timedelta(hours=1), now, 2) == now
