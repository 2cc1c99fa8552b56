"""The pure rules of 水电气网联合报装 (§18): which permits which works need, low-voltage zero approval, the
parallel permits within 5 working days, construction after the permits, fees by date, 信用+报装, and
every problem of a form at once."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.utilities import domain
from services.utilities.domain import FeeTable, Stage, Utility
from services.utilities.forms import FORM, ConnectionCreate, ExternalWorksIn, PowerIn
from shared.catalogue import Catalogue, load_catalogue
from shared.departments import Department as D
from shared.fanout import Plan, TaskStatus, ready_steps
from shared.workdays import LOCAL_TZ, WorkdayArrangement, add_working_days

USCC = "91440700708039146Q"
CREDIT_ON = frozenset({"440703"})  # 蓬江区 has 信用+报装 switched on in these tests
MAX_KW = domain.LOW_VOLTAGE_MAX_KW_DEFAULT
SHIPPED = load_catalogue()  # its time limits: permits 5 working days, low-voltage power 5, high-voltage 22, others 5
ALL = tuple(Utility)


def form(**changes: Any) -> ConnectionCreate:
    """The contract's example, with top-level parts replaced."""
    data: dict[str, Any] = {
        "premises": {"district_code": "440703", "town_code": "440703006", "road": "建设三路", "number": "88号"},
        "uscc": USCC,
        "proof": {"kind": "property_certificate", "number": "粤(2026)江门市不动产权第0000001号"},
        "utilities": {"power": {"voltage": "low", "capacity_kw": 100}, "water": {"diameter_mm": 25},
                      "gas": {"monthly_m3": 300}, "telecom": {"bandwidth_mbps": 1000}, "cabletv": {}},
        "external_works": {"dig_city_road": True, "occupy_green_space": True, "highway": False},
    }
    data.update(changes)
    return ConnectionCreate.model_validate(data)


def plan_for(f: ConnectionCreate, *, low_voltage_max_kw: int, catalogue: Catalogue = SHIPPED) -> Plan:
    """The plan timed by the catalogue's entries of the chosen utilities (the shipped file's by default)."""
    items = domain.catalogue_items(f, low_voltage_max_kw=low_voltage_max_kw)
    guide = {u: catalogue.entry(code, date(2026, 3, 2)) for u, code in items.items()}
    return domain.plan_for(f, low_voltage_max_kw=low_voltage_max_kw, guide=guide)


def works(**flags: bool) -> ExternalWorksIn:
    return ExternalWorksIn(**flags)


def problems_of(f: ConnectionCreate, districts: frozenset[str] = CREDIT_ON) -> set[tuple[tuple[str | int, ...], str]]:
    return {(tuple(p.loc), p.code) for p in domain.validate(f, credit_report_districts=districts)}


# --- Departments and the form ----------------------------------------------------------------------------


def test_permit_departments_exist_with_their_chinese_names() -> None:
    assert D("traffic").name_zh == "公安交警"
    assert D("transport").name_zh == "交通运输局"
    assert {u.department for u in Utility} == {D.power, D.water, D.gas, D.telecom, D.cabletv}


def test_the_contract_example_is_a_valid_application() -> None:
    f = form()
    assert domain.chosen_utilities(f.utilities) == ALL
    assert domain.validate(f, credit_report_districts=frozenset(), today=date(2026, 5, 1)) == []
    assert FORM.model is ConnectionCreate and FORM.version == 1


def test_the_form_is_strict_from_a_request_and_bounded() -> None:
    with pytest.raises(ValidationError):
        form(surprise=True)
    with pytest.raises(ValidationError):
        form(utilities={"power": {"voltage": "low", "capacity_kw": 100, "phase": 3}})
    with pytest.raises(ValidationError):
        form(utilities={"water": {"diameter_mm": 10**12}})
    with pytest.raises(ValidationError):
        form(proof={"kind": "property_certificate", "number": "粤" * 101})


def test_a_stored_form_with_a_field_since_removed_still_reads() -> None:
    stored = form().model_dump()
    stored["retired_field"] = "x"
    assert FORM.read(stored, version=1).premises.road == "建设三路"


# --- Which permits for which works -----------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "expected"), [
    ("dig_city_road", (D.urban, D.traffic)),  # digging a city road occupies it too
    ("occupy_city_road", (D.urban, D.traffic)),
    ("occupy_green_space", (D.greening,)),
    ("highway", (D.transport,)),
])
def test_each_kind_of_works_alone_needs_its_permits(flag: str, expected: tuple[D, ...]) -> None:
    assert domain.permits_for(works(**{flag: True}), [Utility.water], low_voltage_zero_approval=False) == expected


def test_combined_works_need_every_permit_once_in_plan_order() -> None:
    everything = works(dig_city_road=True, occupy_city_road=True, occupy_green_space=True, highway=True)
    assert domain.permits_for(everything, ALL, low_voltage_zero_approval=False) == (
        D.urban, D.traffic, D.greening, D.transport)
    road_and_green = works(dig_city_road=True, occupy_green_space=True)
    assert domain.permits_for(road_and_green, [Utility.gas], low_voltage_zero_approval=False) == (
        D.urban, D.traffic, D.greening)


def test_no_external_works_need_no_permit() -> None:
    assert domain.permits_for(works(), ALL, low_voltage_zero_approval=False) == ()


def test_low_voltage_power_alone_needs_no_permit_of_the_applicant() -> None:
    everything = works(dig_city_road=True, occupy_green_space=True, highway=True)
    assert domain.permits_for(everything, [Utility.power], low_voltage_zero_approval=True) == ()


def test_other_power_needs_the_permits_of_its_works() -> None:
    dig = works(dig_city_road=True)
    assert domain.permits_for(dig, [Utility.power], low_voltage_zero_approval=False) == (D.urban, D.traffic)


def test_low_voltage_power_with_water_digging_a_road_needs_the_permits_for_waters_works() -> None:
    dig = works(dig_city_road=True)
    assert domain.permits_for(dig, [Utility.power, Utility.water], low_voltage_zero_approval=True) == (
        D.urban, D.traffic)


# --- The low-voltage threshold (零上门、零审批、零投资) ---------------------------------------------------------


def test_low_voltage_zero_approval_up_to_the_threshold_only() -> None:
    assert MAX_KW == 160
    assert domain.is_zero_approval_power(PowerIn(voltage="low", capacity_kw=160), MAX_KW)
    assert not domain.is_zero_approval_power(PowerIn(voltage="low", capacity_kw=161), MAX_KW)
    assert not domain.is_zero_approval_power(PowerIn(voltage="high", capacity_kw=100), MAX_KW)
    assert not domain.is_zero_approval_power(None, MAX_KW)


def test_the_threshold_is_a_parameter() -> None:
    assert domain.is_zero_approval_power(PowerIn(voltage="low", capacity_kw=200), 200)
    assert not domain.is_zero_approval_power(PowerIn(voltage="low", capacity_kw=150), 100)
    power_only = form(utilities={"power": {"voltage": "low", "capacity_kw": 200}})
    assert plan_for(power_only, low_voltage_max_kw=200).departments == [D.power]
    assert plan_for(power_only, low_voltage_max_kw=160).departments == [D.urban, D.traffic, D.greening,
                                                                                 D.power]


# --- The plan: permits in parallel within 5 working days, construction after them ------------------------------


def test_permits_are_requested_all_at_once_each_within_5_working_days() -> None:
    plan = plan_for(form(), low_voltage_max_kw=MAX_KW)
    permits = [plan.step(d) for d in (D.urban, D.traffic, D.greening)]
    assert all(s.depends_on == () and s.working_days == 5 for s in permits)
    assert [s.department for s in ready_steps(plan, {})] == [D.urban, D.traffic, D.greening, D.power]
    # Requested together on the Thursday before May Day 2026: all due on the same day, five working days on
    # (the 1-5 May holiday is skipped; Saturday 9 May is a 调休 working day).
    requested = datetime(2026, 4, 30, 10, 0, tzinfo=LOCAL_TZ)
    dues = {add_working_days(requested, s.working_days, WorkdayArrangement()).at for s in permits}
    assert dues == {datetime(2026, 5, 11, 18, 0, tzinfo=LOCAL_TZ)}


def test_each_utilitys_construction_waits_for_every_permit() -> None:
    plan = plan_for(form(), low_voltage_max_kw=MAX_KW)
    permits = (D.urban, D.traffic, D.greening)
    for dept in (D.water, D.gas, D.telecom, D.cabletv):
        assert plan.step(dept).depends_on == permits
        assert plan.step(dept).kind == f"{dept.value}_connection"
    approved: dict[str, TaskStatus] = {d: TaskStatus.approved for d in permits[:2]}
    assert D.water not in {s.department for s in ready_steps(plan, approved)}
    approved[D.greening] = TaskStatus.approved
    assert {s.department for s in ready_steps(plan, approved)} >= {D.water, D.gas, D.telecom, D.cabletv}


def test_low_voltage_power_does_not_wait_for_permits() -> None:
    plan = plan_for(form(), low_voltage_max_kw=MAX_KW)
    assert plan.step(D.power).depends_on == ()
    assert plan.step(D.power).working_days == 5


def test_high_voltage_power_waits_for_the_permits_of_its_works() -> None:
    f = form(utilities={"power": {"voltage": "high", "capacity_kw": 800}})
    plan = plan_for(f, low_voltage_max_kw=MAX_KW)
    assert plan.step(D.power).depends_on == (D.urban, D.traffic, D.greening)
    assert plan.working_days == 5 + 22


def test_one_task_per_chosen_utility_and_none_for_the_rest() -> None:
    f = form(utilities={"water": {"diameter_mm": 25}, "cabletv": {}}, external_works={})
    plan = plan_for(f, low_voltage_max_kw=MAX_KW)
    assert plan.departments == [D.water, D.cabletv]
    assert all(s.depends_on == () for s in plan.steps)  # no works, no permits to wait for
    assert plan.working_days == 5  # water and cable TV side by side


def test_the_plan_bounds_the_whole_by_its_longest_chain() -> None:
    plan = plan_for(form(), low_voltage_max_kw=MAX_KW)
    assert plan.working_days == 5 + 5  # the permits, then the suppliers'; low-voltage power (5) alongside


def test_plan_needs_a_utility() -> None:
    with pytest.raises(ValueError):
        plan_for(form(utilities={}), low_voltage_max_kw=MAX_KW)


def test_water_and_gas_have_no_site_survey() -> None:
    assert Stage.site_survey not in domain.stages_for(Utility.water)
    assert Stage.site_survey not in domain.stages_for(Utility.gas)
    assert Stage.site_survey in domain.stages_for(Utility.telecom)
    assert Stage.site_survey in domain.stages_for(Utility.power)
    # High voltage answers a supply plan (供电方案); low voltage within the threshold skips it.
    assert Stage.supply_plan in domain.stages_for(Utility.power)
    assert Stage.supply_plan not in domain.stages_for(Utility.power, zero_approval_power=True)


# --- Fees by date ----------------------------------------------------------------------------------------


TABLE = domain.parse_fee_table({"fees": [
    {"utility": "power", "effective_from": "2024-01-01", "fee_yuan": "1500"},
    {"utility": "water", "effective_from": "2024-01-01", "fee_yuan": "1200.00"},
    {"utility": "gas", "effective_from": "2024-01-01", "fee_yuan": "2000.50"},
    {"utility": "water", "effective_from": "2026-07-01", "fee_yuan": "800.00"},
]})


def test_fees_follow_the_effective_date() -> None:
    before = domain.fees_for([Utility.water, Utility.gas], date(2026, 6, 30), TABLE, zero_approval_power=False)
    on_the_day = domain.fees_for([Utility.water], date(2026, 7, 1), TABLE, zero_approval_power=False)
    assert before == {"water": 120000, "gas": 200050}
    assert on_the_day == {"water": 80000}


def test_low_voltage_power_is_free_and_other_power_pays_the_table() -> None:
    assert domain.fees_for([Utility.power], date(2026, 7, 1), TABLE, zero_approval_power=True) == {"power": 0}
    assert domain.fees_for([Utility.power], date(2026, 7, 1), TABLE, zero_approval_power=False) == {"power": 150000}


def test_telecom_and_cable_tv_are_free_unless_the_table_says_otherwise() -> None:
    day = date(2026, 7, 1)
    assert domain.fees_for(["telecom", "cabletv"], day, TABLE, zero_approval_power=True) == {"telecom": 0,
                                                                                          "cabletv": 0}
    priced = FeeTable((*TABLE.fees, domain.Fee(Utility.cabletv, date(2026, 7, 1), 5000)))
    assert domain.fees_for(["cabletv"], day, priced, zero_approval_power=True) == {"cabletv": 5000}
    assert domain.fees_for(["cabletv"], date(2026, 6, 30), priced, zero_approval_power=True) == {"cabletv": 0}


def test_a_charged_utility_without_a_fee_in_force_is_a_data_gap_not_free() -> None:
    with pytest.raises(LookupError):
        domain.fees_for([Utility.water], date(2023, 12, 31), TABLE, zero_approval_power=False)


def test_the_shipped_fee_table_loads_and_prices_every_charged_utility() -> None:
    table = domain.load_fee_table()
    fees = domain.fees_for(ALL, date(2026, 1, 5), table, zero_approval_power=False)
    assert all(fees[u] > 0 for u in ("power", "water", "gas"))
    assert fees["telecom"] == fees["cabletv"] == 0
    after = domain.fees_for([Utility.water], date(2026, 7, 1), table, zero_approval_power=False)
    assert after["water"] != fees["water"]  # the shipped data carries one later change


@pytest.mark.parametrize(("rows", "why"), [
    ([{"utility": "water", "effective_from": "2026-07-01", "fee_yuan": "800"},
      {"utility": "gas", "effective_from": "2024-01-01", "fee_yuan": "1"}], "sorted"),
    ([{"utility": "water", "effective_from": "2024-01-01", "fee_yuan": 800.0}], "plain decimal"),
    ([{"utility": "water", "effective_from": "2024-01-01", "fee_yuan": "1e3"}], "plain decimal"),
    ([{"utility": "water", "effective_from": "2024-01-01", "fee_yuan": "8.001"}], "plain decimal"),
    ([{"utility": "water", "effective_from": "2024-01-01", "fee_yuan": "-8"}], "plain decimal"),
    ([{"utility": "steam", "effective_from": "2024-01-01", "fee_yuan": "8"}], "unknown utility"),
    ([{"utility": "water", "effective_from": "2024-02-30", "fee_yuan": "8"}], "ISO date"),
    ([{"utility": "water", "effective_from": "2024-01-01", "fee_yuan": "8"},
      {"utility": "water", "effective_from": "2024-01-01", "fee_yuan": "9"}], "second"),
    ([{"utility": "water", "effective_from": "2024-01-01"}], "exactly"),
])
def test_a_bad_fee_table_is_refused_naming_why(rows: list[dict[str, Any]], why: str, tmp_path: Path) -> None:
    path = tmp_path / "fees.json"
    path.write_text(json.dumps({"fees": rows}), encoding="utf-8")
    with pytest.raises(ValueError, match=why):
        domain.load_fee_table(path)


# --- 信用+报装: a credit report for power only, where switched on ---------------------------------------------


CREDIT = {"kind": "credit_report", "number": "XYBG-2026-0001234"}


def test_a_credit_report_replaces_the_certificate_for_power_in_a_switched_on_district() -> None:
    f = form(proof=CREDIT, utilities={"power": {"voltage": "low", "capacity_kw": 50}})
    assert domain.validate(f, credit_report_districts=CREDIT_ON) == []


def test_a_credit_report_is_refused_for_water_saying_why() -> None:
    f = form(proof=CREDIT, utilities={"power": {"voltage": "low", "capacity_kw": 50}, "water": {"diameter_mm": 25}})
    problems = domain.validate(f, credit_report_districts=CREDIT_ON)
    assert [(p.loc, p.code) for p in problems] == [(["utilities", "water"], "credit_report_power_only")]
    assert "不动产权证书" in problems[0].message_zh and "power only" in problems[0].message_en


def test_a_credit_report_names_each_utility_it_cannot_serve() -> None:
    assert problems_of(form(proof=CREDIT)) == {
        (("utilities", u), "credit_report_power_only") for u in ("water", "gas", "telecom", "cabletv")}


def test_a_credit_report_is_refused_where_the_district_has_not_switched_it_on() -> None:
    f = form(proof=CREDIT, utilities={"power": {"voltage": "low", "capacity_kw": 50}})
    assert problems_of(f, frozenset({"440705"})) == {(("proof", "kind"), "credit_report_not_available")}
    assert problems_of(f, frozenset()) == {(("proof", "kind"), "credit_report_not_available")}


# --- Property certificate number ---------------------------------------------------------------------------


@pytest.mark.parametrize("number", [
    "粤(2026)江门市不动产权第0000001号",
    "粤（2019）台山市不动产权第0012345号",  # full-width parentheses, as printed on the certificate
    "粤 (2020) 开平市不动产权第 0100200 号",
])
def test_property_certificate_numbers_accepted(number: str) -> None:
    assert domain.is_property_certificate_number(number, today=date(2026, 5, 1))


@pytest.mark.parametrize("number", [
    "粤(2026)江门市不动产证明第0000001号",  # a certificate of a mortgage, not of ownership
    "粤(2026)江门市不动产权第000001号",  # six digits
    "湘(2026)长沙市不动产权第0000001号",  # not Guangdong
    "粤(2014)江门市不动产权第0000001号",  # before unified registration
    "粤(2027)江门市不动产权第0000001号",  # a year still to come
    "江房权证字第12345号",
])
def test_property_certificate_numbers_refused(number: str) -> None:
    assert not domain.is_property_certificate_number(number, today=date(2026, 5, 1))


# --- Every problem at once ----------------------------------------------------------------------------------


def test_every_problem_of_a_bad_form_is_reported_at_once() -> None:
    f = form(
        premises={"district_code": "440703", "town_code": "440703006", "road": "", "number": "零号"},
        uscc="91440700708039146X",
        proof={"kind": "property_certificate", "number": "粤(2026)江门市不动产权第12号"},
        utilities={"power": {"voltage": "medium", "capacity_kw": 0}, "water": {"diameter_mm": -25},
                   "gas": {"monthly_m3": 0}, "telecom": {"bandwidth_mbps": 10**6}},
    )
    problems = domain.validate(f, credit_report_districts=CREDIT_ON)
    assert {(tuple(p.loc), p.code) for p in problems} == {
        (("premises", "road"), "road_missing"),
        (("premises", "number"), "number_invalid"),
        (("uscc",), "uscc_invalid"),
        (("proof", "number"), "property_certificate_invalid"),
        (("utilities", "power", "voltage"), "voltage_unknown"),
        (("utilities", "power", "capacity_kw"), "capacity_invalid"),
        (("utilities", "water", "diameter_mm"), "diameter_invalid"),
        (("utilities", "gas", "monthly_m3"), "gas_volume_invalid"),
        (("utilities", "telecom", "bandwidth_mbps"), "bandwidth_invalid"),
    }
    for p in problems:  # every message is filled in, in both languages
        assert p.message_zh and p.message_en and "{" not in p.message_zh + p.message_en


def test_no_utility_and_an_unknown_proof_kind_are_problems() -> None:
    f = form(utilities={}, proof={"kind": "lease", "number": "租赁合同001"}, uscc=None)
    assert problems_of(f) == {(("utilities",), "utilities_required"), (("proof", "kind"), "proof_kind_unknown")}


def test_an_unknown_town_is_reported_at_premises_town_code() -> None:
    f = form(premises={"district_code": "440703", "town_code": "440703999", "road": "建设三路", "number": "88号"})
    assert problems_of(f) == {(("premises", "town_code"), "unknown_town")}


def test_an_unknown_district_is_reported_once_at_premises() -> None:
    f = form(proof=CREDIT, utilities={"power": {"voltage": "low", "capacity_kw": 50}},
             premises={"district_code": "440100", "town_code": "440703006", "road": "建设三路", "number": "88号"})
    assert problems_of(f) == {(("premises", "district_code"), "unknown_district")}


def test_an_enterprise_is_optional_but_its_uscc_must_be_valid() -> None:
    assert problems_of(form(uscc=None)) == set()
    assert problems_of(form(uscc="")) == {(("uscc",), "uscc_invalid")}
