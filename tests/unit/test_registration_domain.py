"""The rules of 企业开办, alone."""

from __future__ import annotations

import copy

from services.registration import domain
from services.registration.schemas import RegistrationCreate
from shared.applications import merge_supplement
from shared.departments import Department
from tests.support import EXAMPLE_REGISTRATION


def form(**changes: object) -> RegistrationCreate:
    body = copy.deepcopy(EXAMPLE_REGISTRATION)
    for path, value in changes.items():
        target = body
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        target[keys[-1]] = value
    return RegistrationCreate.model_validate(body)


def codes(f: RegistrationCreate) -> dict[str, list]:
    return {p.code: p.loc for p in domain.validate(f)}


def test_example_is_valid() -> None:
    assert domain.validate(form()) == []


def test_all_problems_at_once() -> None:
    found = codes(form(legal_representative__id_number="110105194912310021",
                       investors__0__share_percent="90",
                       enterprise__address__town_code="440703999",
                       enterprise__registered_capital="-5",
                       enterprise__business_scope=[],
                       legal_representative__mobile="12345"))
    assert found == {
        "resident_id_check_digit": ["legal_representative", "id_number"],
        "shares_not_100": ["investors"],
        "unknown_town": ["enterprise", "address", "town_code"],
        "capital_invalid": ["enterprise", "registered_capital"],
        "business_scope_empty": ["enterprise", "business_scope"],
        "mobile_invalid": ["legal_representative", "mobile"],
    }


def test_birth_date_and_district_rules() -> None:
    found = codes(form(investors__0__id_number="110105194913310028", enterprise__district_code="440100"))
    assert "resident_id_birth_date" in found or "resident_id_check_digit" in found
    assert found["unknown_district"] == ["enterprise", "district_code"]


def test_capital_precision_and_type() -> None:
    assert "capital_precision" in codes(form(enterprise__registered_capital="100.001"))
    assert "entity_type_unknown" in codes(form(enterprise__entity_type="llc"))
    # An individual business has no registered capital to declare.
    assert codes(form(enterprise__entity_type="individual_business", enterprise__registered_capital=None)) == {}


def test_shares_sum_exactly_100_across_investors() -> None:
    f = form(investors=[{"name": "张三", "id_number": "11010519491231002X", "share_percent": "33.34"},
                        {"name": "李四", "id_number": "11010519491231002X", "share_percent": "66.66"}])
    assert domain.validate(f) == []
    f = form(investors=[{"name": "张三", "id_number": "11010519491231002X", "share_percent": "33.33"},
                        {"name": "李四", "id_number": "11010519491231002X", "share_percent": "66.66"}])
    assert "shares_not_100" in codes(f)


def test_residential_address_needs_declaration_and_extra_addresses_resolve() -> None:
    residential = {"town_code": "440703006", "road": "建设三路", "number": "88号", "residential": True}
    assert "residential_declaration_required" in codes(form(enterprise__address=residential))
    assert codes(form(enterprise__address=residential, enterprise__residential_use={"commitment": True})) == {}
    extra = [{"town_code": "440704001", "road": "江南路", "number": "1号"}]  # a town of another district
    assert codes(form(enterprise__extra_addresses=extra)) == {
        "town_not_in_district": ["enterprise", "extra_addresses", 0, "town_code"]}


def test_plan_samr_first_then_only_the_chosen() -> None:
    plan = domain.plan_for(form())
    assert plan.departments == [Department.samr, Department.psb, Department.tax, Department.hrss,
                                Department.medicare]
    assert all(s.depends_on == (Department.samr,) for s in plan.steps[1:])
    assert plan.working_days == 1
    minimal = domain.plan_for(form(package={"seal": False, "tax": False}))
    assert minimal.departments == [Department.samr]
    everything = domain.plan_for(form(package={"seal": True, "social_insurance": True, "housing_fund": True,
                                               "bank_account": True}))
    assert set(everything.departments) == {Department.samr, Department.psb, Department.tax, Department.hrss,
                                           Department.medicare, Department.hpf, Department.bank}


def test_names_compare_without_width_or_spaces() -> None:
    assert domain.normalise_name("江门市 云帆（软件）有限公司") == domain.normalise_name("江门市云帆(软件)有限公司")


def test_supplement_merges_objects_and_replaces_lists() -> None:
    merged = merge_supplement({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": 3}, "l": [2]})
    assert merged == {"a": {"b": 1, "c": 3}, "l": [2]}
