"""The pure rules of 套餐式注销 and 歇业备案: which departments, which plan and what is asked during the
notice, what is valid, who may take the simplified route, the periods of each entity type, the statutory
causes of a suspension, the 3-year cap across filings, the 30-day extension window and the early end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.deregistration import domain
from services.deregistration.domain import Filing, Holdings, Investor, Periods, Procedure
from services.deregistration.schemas import DeregistrationCreate, SuspensionCreate
from shared.catalogue import load_catalogue
from shared.departments import Department
from shared.fanout import Plan, TaskStatus, ready_steps

ID = "11010519491231002X"
USCC = "91440700708039146Q"
TODAY = date(2027, 3, 15)
REPORT = {"summary": "债权债务已清理完毕，剩余财产已按出资比例分配", "confirmed_by_shareholders": True}
FULL = Holdings(frozenset({"samr", "psb", "tax", "hrss", "medicare", "hpf", "bank"}), has_tax_matters=True)
ALL_HELD = Holdings(FULL.registered_with, has_tax_matters=True, customs_registered=True)
NO_TAX = Holdings(frozenset({"samr", "psb", "hrss", "medicare"}), has_tax_matters=False)
GUIDES = {Procedure.simplified: "simplified_deregistration", Procedure.general: "general_deregistration"}
SHIPPED = load_catalogue()


def plan_for(procedure: Procedure, holdings: Holdings) -> Plan:
    """The plan timed by the shipped catalogue's entry of the procedure."""
    return domain.plan_for(procedure, holdings, SHIPPED.entry(GUIDES[procedure], date(2026, 3, 2)))


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


# --- Rule 1: simplified asks the departments DURING the notice, samr LAST; general settles tax and customs first --


def during(plan_procedure: Procedure, holdings: Holdings) -> set[Department]:
    plan = plan_for(plan_procedure, holdings)
    return set(domain.asked_during_notice(plan_procedure, plan).departments)


def test_rule1_simplified_asks_tax_customs_hrss_medicare_when_the_notice_starts_never_samr() -> None:
    # Before: nobody was asked during the notice, and samr ran in parallel with everyone after it.
    asked = during(Procedure.simplified, ALL_HELD)
    assert asked == {Department.tax, Department.customs, Department.hrss, Department.medicare}
    assert Department.samr not in asked and Department.bank not in asked and Department.hpf not in asked


def test_rule1_simplified_samr_waits_for_every_objecting_department_and_the_accounts_follow_samr() -> None:
    plan = plan_for(Procedure.simplified, ALL_HELD)
    assert set(plan.step(Department.samr).depends_on) == {Department.tax, Department.customs, Department.hrss,
                                                          Department.medicare}
    assert plan.step(Department.bank).depends_on == (Department.samr,)
    assert plan.step(Department.hpf).depends_on == (Department.samr,)
    # Tax approved, customs has not answered yet: samr is still not ready (the licence never goes first).
    partly = {"tax": TaskStatus.approved, "hrss": TaskStatus.approved, "medicare": TaskStatus.approved,
              "customs": TaskStatus.requested}
    assert Department.samr not in {s.department for s in ready_steps(plan, partly)}
    everyone = {**partly, "customs": TaskStatus.approved}
    assert {s.department for s in ready_steps(plan, everyone)} == {Department.samr}
    after_samr = {**everyone, "samr": TaskStatus.approved}
    assert {s.department for s in ready_steps(plan, after_samr)} == {Department.bank, Department.hpf}


def test_rule1_simplified_samr_alone_is_never_asked_during_the_notice() -> None:
    # Nothing to object with (no tax matters, no insurance): samr has no department before it, yet still waits.
    minimal = Holdings(frozenset({"samr", "bank"}), has_tax_matters=False)
    plan = plan_for(Procedure.simplified, minimal)
    assert plan.step(Department.samr).depends_on == ()
    assert during(Procedure.simplified, minimal) == set()


def test_rule1_general_settles_tax_and_customs_before_samr_and_closes_accounts_after() -> None:
    plan = plan_for(Procedure.general, ALL_HELD)
    assert set(plan.step(Department.samr).depends_on) == {Department.tax, Department.customs}
    for dept in (Department.bank, Department.hpf, Department.hrss, Department.medicare):
        assert plan.step(dept).depends_on == (Department.samr,), dept
    assert {s.department for s in ready_steps(plan, {})} == {Department.tax, Department.customs}
    only_tax = {"tax": TaskStatus.approved, "customs": TaskStatus.requested}
    assert Department.samr not in {s.department for s in ready_steps(plan, only_tax)}
    # The creditors' announcement asks nobody: the liquidation runs first.
    assert during(Procedure.general, ALL_HELD) == set()
    # The whole is bounded by the longest chain: tax's clearance, then samr, then the accounts.
    assert plan.working_days == 3 + 1 + 3


def test_general_plan_without_tax_or_customs_lets_samr_go_first() -> None:
    plan = plan_for(Procedure.general, Holdings(frozenset({"samr", "hrss"}), has_tax_matters=False))
    assert plan.departments == [Department.samr, Department.hrss]
    assert plan.step(Department.samr).depends_on == ()
    assert plan.step(Department.hrss).depends_on == (Department.samr,)


# --- Rule 3: the periods of each route ------------------------------------------------------------------------


def test_rule3_periods_follow_the_procedure_and_the_entity_type() -> None:
    periods = Periods()
    assert domain.notice_kind("simplified", "limited_company") == "public_notice"
    assert domain.notice_kind("simplified", "individual_business") == "objection_window"
    assert domain.notice_kind("general", "individual_business") == "creditor_notice"
    assert domain.notice_length("simplified", "limited_company", periods) == timedelta(days=20)
    assert domain.notice_length("simplified", "individual_business", periods) == timedelta(days=10)
    assert domain.notice_length("general", "limited_company", periods) == timedelta(days=45)
    assert domain.notice_length("general", "sole_proprietorship", periods) == timedelta(days=60)
    assert domain.notice_length("general", "limited_company", Periods(creditor_notice_days=0)) == timedelta(0)


def test_rule3_an_individual_business_window_is_not_published_nor_open_to_the_public() -> None:
    assert domain.publicly_objectable("public_notice")
    assert not domain.publicly_objectable("objection_window")
    assert not domain.publicly_objectable("creditor_notice")
    # Its departments are asked at once, as in every simplified deregistration; samr still last.
    assert Department.tax in during(Procedure.simplified, FULL)


# --- What a valid application is -------------------------------------------------------------------------


def general_form(**kw: object) -> DeregistrationCreate:
    body = {"uscc": USCC, "procedure": "general", "reason": "经营期满",
            "liquidation": {"members": [{"name": "张三", "id_number": ID}]}, "liquidation_report": REPORT} | kw
    return DeregistrationCreate.model_validate(body)


def simplified_form(*signatories: tuple[str, str]) -> DeregistrationCreate:
    people = [{"name": n, "id_number": i} for n, i in signatories] or [{"name": "张三", "id_number": ID}]
    return DeregistrationCreate.model_validate(
        {"uscc": USCC, "procedure": "simplified", "reason": "停止经营",
         "undertaking": {"no_outstanding_debts": True, "signatories": people}})


def test_the_example_bodies_are_valid() -> None:
    assert domain.validate(general_form(), TODAY) == []
    assert domain.validate(simplified_form(), TODAY) == []


def test_every_problem_is_reported_at_once() -> None:
    form = DeregistrationCreate.model_validate(
        {"uscc": "91440700708039146X", "procedure": "simplified", "reason": "",
         "undertaking": {"no_outstanding_debts": False,
                         "signatories": [{"name": "", "id_number": "110105194912310021"}]}})
    found = sorted(((p.code, tuple(p.loc)) for p in domain.validate(form, TODAY)), key=str)
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
    assert [p.code for p in domain.validate(general, TODAY)] == ["liquidation_required",
                                                                 "liquidation_report_required"]
    assert [p.code for p in domain.validate(simplified, TODAY)] == ["undertaking_required"]
    assert [p.code for p in domain.validate(unknown, TODAY)] == ["procedure_unknown"]


def test_rule3_general_needs_the_liquidation_report_confirmed_by_the_shareholders() -> None:
    # Before: a general deregistration was accepted with its liquidation group alone.
    assert [p.code for p in domain.validate(general_form(liquidation_report=None), TODAY)] == [
        "liquidation_report_required"]
    unconfirmed = general_form(liquidation_report={"summary": "已清算", "confirmed_by_shareholders": False})
    assert [(p.code, p.loc) for p in domain.validate(unconfirmed, TODAY)] == [
        ("shareholders_not_confirmed", ["liquidation_report", "confirmed_by_shareholders"])]
    empty = general_form(liquidation_report={"summary": "", "confirmed_by_shareholders": True})
    assert [(p.code, p.loc) for p in domain.validate(empty, TODAY)] == [("required", ["liquidation_report", "summary"])]


def test_rule3_the_liquidation_group_is_filed_within_ten_days_of_its_formation() -> None:
    members = [{"name": "张三", "id_number": ID}]
    on_time = general_form(liquidation={"members": members, "formed_on": (TODAY - timedelta(days=10)).isoformat()})
    late = general_form(liquidation={"members": members, "formed_on": (TODAY - timedelta(days=11)).isoformat()})
    future = general_form(liquidation={"members": members, "formed_on": (TODAY + timedelta(days=1)).isoformat()})
    assert domain.validate(on_time, TODAY) == []
    assert [p.code for p in domain.validate(late, TODAY)] == ["liquidation_formed_on"]
    assert [p.code for p in domain.validate(future, TODAY)] == ["liquidation_formed_on"]


# --- Rule 2: who may take the simplified route -----------------------------------------------------------------


INVESTORS = (Investor("张三", "110105********002X"), Investor("李四", "440704********2340"),
             Investor("江门市某某投资有限公司", USCC))
LI_SI = "440704198503152340"


def test_rule2_the_undertaking_is_signed_by_every_investor_each_missing_one_named() -> None:
    # Before: any one signatory was enough, whoever the investors were.
    problems, notes = domain.simplified_eligibility(simplified_form(("张三", ID)), INVESTORS, [])
    assert [(p.code, p.loc) for p in problems] == [("investor_not_signed", ["undertaking", "signatories"])] * 2
    assert "李四" in problems[0].message_zh and "440704********2340" in problems[0].message_en
    assert "江门市某某投资有限公司" in problems[1].message_zh
    assert [(n.check, n.outcome) for n in notes] == [("investors_signed", "passed"), ("restrictions", "passed")]
    everyone = simplified_form(("张三", ID), ("李四", LI_SI), ("江门市某某投资有限公司", USCC))
    assert domain.simplified_eligibility(everyone, INVESTORS, [])[0] == []
    assert domain.validate(everyone, TODAY) == []  # an enterprise investor signs with its USCC


def test_rule2_a_signatory_matches_by_name_and_the_id_behind_the_mask() -> None:
    wrong_id = simplified_form(("张三", "11010519491231002X"), ("李四", "440704198503150013"),
                               ("江门市某某投资有限公司", USCC))
    assert domain.masked_matches("110105********002X", "11010519491231002x")
    assert not domain.masked_matches("440704********2340", "440704198503150013")
    assert [p.code for p in domain.simplified_eligibility(wrong_id, INVESTORS, [])[0]] == ["investor_not_signed"]
    wrong_name = simplified_form(("张叁", ID), ("李四", LI_SI), ("江门市某某投资有限公司", USCC))
    assert len(domain.simplified_eligibility(wrong_name, INVESTORS, [])[0]) == 1


def test_rule2_without_known_investors_the_check_is_skipped_and_the_skip_recorded() -> None:
    problems, notes = domain.simplified_eligibility(simplified_form(), (), [])
    assert problems == []
    assert notes[0].check == "investors_signed" and notes[0].outcome == "skipped" and "no investors" in notes[0].note
    assert domain.investors_from(None) == () and domain.investors_from([{"name": "张三"}]) == ()
    assert domain.investors_from([{"name": " 张三 ", "id_number_masked": "110105********002x"}]) == (INVESTORS[0],)


def test_rule2_each_restriction_known_from_events_is_its_own_named_problem() -> None:
    restrictions = ["abnormal_operations", "equity_frozen", "chattel_mortgage", "litigation", "a_new_kind"]
    problems, _ = domain.simplified_eligibility(simplified_form(), (), restrictions)
    assert [p.code for p in problems] == ["not_eligible_abnormal_operations", "not_eligible_equity_frozen",
                                          "not_eligible_chattel_mortgage", "not_eligible_litigation",
                                          "not_eligible_other"]
    assert all(p.loc == ["procedure"] for p in problems)
    assert "经营异常名录" in problems[0].message_zh and "a_new_kind" in problems[-1].message_en
    every = list(domain.RESTRICTIONS)
    assert {"serious_violation", "equity_pledged", "outward_investment", "under_investigation", "revoked",
            "unexecuted_penalty"} <= set(every)
    assert len(domain.simplified_eligibility(simplified_form(), (), every)[0]) == len(every)
    # The general procedure is the way for such an enterprise: nothing to check there.
    assert domain.simplified_eligibility(general_form(), INVESTORS, every) == ([], [])


def test_every_message_code_of_this_service_has_both_languages() -> None:
    for code, (zh, en) in domain.MESSAGES.items():
        assert zh and en, code


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


def suspension_form(start: date, end: date, **kw: object) -> SuspensionCreate:
    body = {"uscc": USCC, "cause": "natural_disaster", "reason": "受台风影响暂停经营", "employees_consulted": True,
            "start_date": start.isoformat(), "end_date": end.isoformat(),
            "delivery_address": "江门市蓬江区建设三路88号"} | kw
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
    form = suspension_form(date(2027, 1, 9), date(2027, 1, 1), cause="other", reason="", delivery_address="")
    codes = [p.code for p in domain.validate_suspension(form, today, [])[0]]
    assert sorted(codes) == ["end_before_start", "required", "required", "start_in_past"]
    bad_dates = suspension_form(today, today, start_date="2027-13-01", end_date="soon")
    assert [p.loc for p in domain.validate_suspension(bad_dates, today, [])[0]] == [["start_date"], ["end_date"]]


# --- 歇业备案: extension only within the 30 days before the end ----------------------------------------------


def test_rule4_extension_window_is_exactly_the_thirty_days_up_to_the_end() -> None:
    # Before: end - 30 days to the end inclusive, which is 31 days.
    end = date(2027, 6, 30)
    first, last = domain.extension_window(end)
    assert (first, last) == (date(2027, 6, 1), end)
    assert (last - first).days + 1 == 30
    assert sum(domain.may_extend(end, end - timedelta(days=n)) for n in range(-5, 60)) == 30
    assert not domain.may_extend(end, date(2027, 5, 31))
    assert domain.may_extend(end, date(2027, 6, 1))
    assert domain.may_extend(end, end)
    assert not domain.may_extend(end, date(2027, 7, 1))


def test_extension_outside_the_window_or_over_the_cap_is_refused() -> None:
    current = Filing(date(2026, 7, 1), date(2027, 6, 30))
    problems, _ = domain.extension_problems(current, "2027-12-31", date(2027, 5, 1), [])
    assert [p.code for p in problems] == ["extension_window"]
    assert "2027-06-01" in problems[0].message_en
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


# --- Rule 4: 歇业 causes, employees consulted, the early end published, the automatic end ------------------------


def test_rule4_the_cause_is_one_of_the_statutory_causes_or_other_with_a_text() -> None:
    today = date(2027, 1, 10)
    # Before: any free text was a cause.
    for cause in ("natural_disaster", "accident", "public_health", "social_security"):
        assert domain.validate_suspension(suspension_form(today, today, cause=cause, reason=None), today, [])[0] == []
    unknown = domain.validate_suspension(suspension_form(today, today, cause="bored"), today, [])[0]
    assert [(p.code, p.loc) for p in unknown] == [("cause_unknown", ["cause"])]
    missing = domain.validate_suspension(suspension_form(today, today, cause=None), today, [])[0]
    assert [(p.code, p.loc) for p in missing] == [("required", ["cause"])]
    other_without_text = domain.validate_suspension(suspension_form(today, today, cause="other", reason=None),
                                                    today, [])[0]
    assert [(p.code, p.loc) for p in other_without_text] == [("required", ["reason"])]
    other = suspension_form(today, today, cause="other", reason="股东变故")
    assert domain.validate_suspension(other, today, [])[0] == []


def test_rule4_the_employees_are_consulted_first() -> None:
    today = date(2027, 1, 10)
    problems = domain.validate_suspension(suspension_form(today, today, employees_consulted=False), today, [])[0]
    assert [(p.code, p.loc) for p in problems] == [("employees_not_consulted", ["employees_consulted"])]


def test_rule4_an_early_end_is_published_within_thirty_days_of_resuming() -> None:
    filing = Filing(date(2027, 1, 1), date(2027, 12, 31))
    today = date(2027, 6, 30)
    assert domain.early_end_problems(filing, None, today) == ([], today)
    assert domain.early_end_problems(filing, "2027-05-31", today) == ([], date(2027, 5, 31))  # 30 days ago
    late = domain.early_end_problems(filing, "2027-05-30", today)[0]
    assert [p.code for p in late] == ["early_end_published_late"]
    assert [p.code for p in domain.early_end_problems(filing, "2027-07-01", today)[0]] == ["resumed_in_future"]
    early = Filing(date(2027, 6, 20), date(2027, 12, 31))
    assert [p.code for p in domain.early_end_problems(early, "2027-06-19", today)[0]] == ["resumed_before_start"]
    assert [p.code for p in domain.early_end_problems(filing, "soon", today)[0]] == ["date_invalid"]


def test_rule4_it_resumes_by_itself_at_its_end_or_when_three_years_in_total_are_reached() -> None:
    filing = Filing(date(2027, 1, 1), date(2027, 6, 30))
    assert domain.automatic_end(filing, []) == date(2027, 6, 30)
    # 1000 days used before: the cap (from 2026-01-01, 1096 days) leaves 96, so the 96th day is the last.
    used = [Filing(date(2026, 1, 1), date(2026, 1, 1) + timedelta(days=999))]
    late = Filing(date(2029, 1, 1), date(2029, 12, 31))
    assert domain.automatic_end(late, used) == date(2029, 1, 1) + timedelta(days=95)
    assert domain.total_days([*used, Filing(late.start, domain.automatic_end(late, used))]) == domain.cap_days(
        date(2026, 1, 1))
