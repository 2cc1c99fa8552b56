"""The service catalogue (办事指南): every service item is listed; the version in force follows the day, so a new
version changes the checks without a code change; a malformed file is refused with every problem named; key
materials versus those that may come later (容缺受理); certificates that replace a material (一证通办); the time
limits and steps agree with the services' plans; fees come from the dated data; the public view is JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import pytest
from pydantic import BaseModel

from services.deregistration import domain as deregistration
from services.deregistration import handlers as deregistration_handlers
from services.realestate import domain as realestate
from services.realestate import handlers as realestate_handlers
from services.realestate.forms import TransferCreate, TransferMortgageIn
from services.registration import domain as registration
from services.registration import handlers as registration_handlers
from services.registration.forms import FORM as REGISTRATION_FORM
from services.registration.forms import ChangeCreate, PackageIn, RegistrationCreate
from services.registration.models import RegistrationApplication
from services.utilities import domain as utilities
from services.utilities import handlers as utilities_handlers
from services.utilities.forms import ConnectionCreate, ExternalWorksIn, UtilitiesIn
from shared import catalogue, registry
from shared.catalogue import Catalogue, CatalogueError, Entry, UnknownItem, load_catalogue, timed_plan
from shared.departments import Department
from shared.fanout import Plan, Step
from shared.money import yuan_to_fen
from shared.settings import get_settings
from shared.workdays import LOCAL_TZ
from tests.support import EXAMPLE_REGISTRATION

DAY = date(2026, 3, 2)
SHIPPED = Path(catalogue.__file__).parent / "data" / catalogue.CATALOGUE_FILE

EXPECTED: dict[str, set[str]] = {
    "registration": {"enterprise_opening", "enterprise_change", "enterprise_move"},
    "deregistration": {"simplified_deregistration", "individual_business_simplified_deregistration",
                       "general_deregistration", "suspension"},
    "utilities": {"power_low_voltage_connection", "power_high_voltage_connection", "water_connection",
                  "gas_connection", "telecom_connection", "cabletv_connection"},
    "realestate": {"property_transfer", "mortgaged_transfer", "mortgage_registration", "mortgage_release"},
}


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


def shipped_data() -> dict[str, Any]:
    """The shipped file's data, to change for a test."""
    data: dict[str, Any] = json.loads(SHIPPED.read_text(encoding="utf-8"))
    return data


def entry_data(data: dict[str, Any], code: str, index: int = 0) -> dict[str, Any]:
    """The ``index``-th version of ``code`` in the data."""
    found: list[dict[str, Any]] = [e for e in data["entries"] if e["code"] == code]
    return found[index]


def write(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    path = tmp_path / "catalogue.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def codes(materials: Iterable[catalogue.Material]) -> set[str]:
    return {m.code for m in materials}


M = TypeVar("M", bound=BaseModel)


def partial(model: type[M], **parts: Any) -> M:
    """A form with only the parts a plan reads: the plans decide on those alone, the rest is the rules' business."""
    return model.model_construct(**parts)


# --- Every service item ---------------------------------------------------------------------------------------


def test_every_service_item_is_listed_under_its_service(cat: Catalogue) -> None:
    by_service: dict[str, set[str]] = {}
    for e in cat.entries(DAY):
        by_service.setdefault(e.service, set()).add(e.code)
    assert by_service == EXPECTED
    # Every service that takes applications has its guide; the module-level queries read the same file.
    assert {s.name for s in registry.with_applications()} <= set(by_service)
    assert [e.code for e in catalogue.entries(DAY)] == [e.code for e in cat.entries(DAY)]


def test_every_utility_has_an_item_whose_supplier_connects_it(cat: Catalogue) -> None:
    for utility in utilities.Utility:
        assert any(utility.department in e.departments for e in cat.entries(DAY) if e.service == "utilities")


def test_each_item_applies_at_a_public_path_of_its_service_and_is_bilingual(cat: Catalogue) -> None:
    for e in cat.entries(DAY):
        owner = registry.owner_of(e.application_path)
        assert owner is not None and owner.name == e.service
        assert e.name_zh and e.name_en and all(c.zh and c.en for c in e.conditions)
        assert any(m.key for m in e.materials), e.code  # an application always has something it cannot lack
        assert e.channels[0] == "online"  # every item can be done fully online (一网通办)


def test_an_unknown_code_raises_a_clear_key_error(cat: Catalogue) -> None:
    with pytest.raises(KeyError) as raised:
        cat.entry("company_opening", DAY)
    assert isinstance(raised.value, UnknownItem)
    assert "no service item 'company_opening'" in str(raised.value) and "enterprise_opening" in str(raised.value)
    with pytest.raises(UnknownItem, match="not in force on 2024-06-30: its first version takes effect on 2024-07-01"):
        cat.entry("suspension", date(2024, 6, 30))
    assert cat.entries(date(2024, 6, 30)) == ()
    with pytest.raises(UnknownItem, match="has no material 'passport'"):
        cat.entry("suspension", DAY).material("passport")


# --- Versions by date -------------------------------------------------------------------------------------------


def test_the_beneficial_owner_filing_enters_the_opening_guide_the_day_it_is_in_force(cat: Catalogue) -> None:
    """受益所有人信息管理办法: the shipped catalogue has a version of the opening from the day registration's rule
    starts, and the materials follow the day."""
    start = registration.BENEFICIAL_OWNERS_FROM
    before, after = cat.entry("enterprise_opening", start - timedelta(days=1)), cat.entry("enterprise_opening", start)
    assert before.effective_from < start == after.effective_from
    key_before, _ = cat.required_materials("enterprise_opening", start - timedelta(days=1), circumstances={"company"})
    key_after, _ = cat.required_materials("enterprise_opening", start, circumstances={"company"})
    assert codes(key_after) - codes(key_before) == {"beneficial_owner_information"}
    # Not for a type that files no beneficial owners.
    key_business, _ = cat.required_materials("enterprise_opening", start)
    assert "beneficial_owner_information" not in codes(key_business)


def test_a_later_version_changes_the_materials_and_the_check_follows(tmp_path: Path) -> None:
    data = shipped_data()
    first = entry_data(data, "suspension")
    later = json.loads(json.dumps(first))
    later["effective_from"] = "2027-01-01"
    later["time_limit_working_days"] = 2
    for m in later["materials"]:
        if m["code"] == "cause_proof":
            m["key"] = True  # no longer deferrable
    later["materials"].append({"code": "tax_clearance_statement", "name_zh": "无欠税说明",
                               "name_en": "statement that no tax is owed", "key": False, "formats": ["pdf"]})
    data["entries"].insert(data["entries"].index(first) + 1, later)
    cat = load_catalogue(write(tmp_path, data))

    supplied = {"suspension_application", "employees_consultation", "delivery_address", "business_licence"}
    key, deferrable = cat.missing("suspension", date(2026, 12, 31), supplied)
    assert key == () and codes(deferrable) == {"cause_proof"}
    key, deferrable = cat.missing("suspension", date(2027, 1, 1), supplied)
    assert codes(key) == {"cause_proof"} and codes(deferrable) == {"tax_clearance_statement"}
    assert cat.time_limit("suspension", date(2026, 12, 31)) == 1
    assert cat.time_limit("suspension", date(2027, 1, 1)) == 2
    assert [v.effective_from for v in cat.versions["suspension"]] == [date(2024, 7, 1), date(2027, 1, 1)]


# --- Malformed files ------------------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _material(code: str, index: int, **changes: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        entry_data(data, code)["materials"][index].update(changes)
    return mutate


def _entry(code: str, **changes: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        entry_data(data, code).update(changes)
    return mutate


def _drop_key_flag(data: dict[str, Any]) -> None:
    del entry_data(data, "suspension")["materials"][0]["key"]


def _second_version_same_day(data: dict[str, Any]) -> None:
    data["entries"].append(json.loads(json.dumps(entry_data(data, "enterprise_change"))))


def _versions_out_of_order(data: dict[str, Any]) -> None:
    older = json.loads(json.dumps(entry_data(data, "suspension")))
    older["effective_from"] = "2024-01-01"
    data["entries"].append(older)


def _service_moves(data: dict[str, Any]) -> None:
    later = json.loads(json.dumps(entry_data(data, "suspension")))
    later.update(effective_from="2027-01-01", service="registration", application_path="/api/v1/registrations")
    data["entries"].append(later)


def _material_twice(data: dict[str, Any]) -> None:
    materials = entry_data(data, "suspension")["materials"]
    materials.append(dict(materials[0]))


def _steps_in_a_circle(data: dict[str, Any]) -> None:
    steps = entry_data(data, "enterprise_change")["steps"]
    steps[0]["after"] = ["tax"]  # samr after tax, tax after samr


def _after_a_missing_step(data: dict[str, Any]) -> None:
    entry_data(data, "enterprise_change")["steps"][1]["after"] = ["bank"]


def _unknown_department(data: dict[str, Any]) -> None:
    entry_data(data, "suspension")["steps"][0]["department"] = "court"


def _charged_without_source(data: dict[str, Any]) -> None:
    del entry_data(data, "water_connection")["fees"][0]["source"]


def _source(**changes: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        entry_data(data, "water_connection")["fees"][0]["source"].update(changes)
    return mutate


def _typo(data: dict[str, Any]) -> None:
    e = entry_data(data, "suspension")
    e["mterials"] = e.pop("materials")


def _unknown_issuer(data: dict[str, Any]) -> None:
    data["certificates"][0]["issued_by"] = "courts"


MALFORMED: dict[str, tuple[Mutation, list[str]]] = {
    "second version on one day": (_second_version_same_day, [
        "(enterprise_change from 2024-07-01): a second version of enterprise_change from 2024-07-01"]),
    "versions out of order": (_versions_out_of_order, [
        "(suspension from 2024-01-01): versions are listed oldest first"]),
    "service of an item changes": (_service_moves, ["a service item keeps its service"]),
    "material code twice": (_material_twice, ["material code 'suspension_application' appears twice"]),
    "key flag missing": (_drop_key_flag, [
        "(suspension from 2024-07-01): materials[0].key: missing: every material says whether it is key"]),
    "key flag not a boolean": (_material("suspension", 0, key="yes"), ["materials[0].key: Input should be a valid "
                                                                        "boolean"]),
    "time limit zero": (_entry("suspension", time_limit_working_days=0), [
        "time_limit_working_days: Input should be greater than 0"]),
    "time limit a string": (_entry("suspension", time_limit_working_days="5"), [
        "time_limit_working_days: Input should be a valid integer"]),
    "time limit a fraction": (_entry("suspension", time_limit_working_days=1.5), [
        "time_limit_working_days: Input should be a valid integer"]),
    "step longer than the item": (_entry("enterprise_change", time_limit_working_days=1, steps=[
        {"department": "samr", "kind": "change_registration", "name_zh": "变更登记", "name_en": "change",
         "working_days": 3}]), ["steps[0] (samr): takes 3 working days, more than the item's time limit of 1"]),
    "unknown service": (_entry("suspension", service="courts"), [
        "service 'courts' is not a service in shared.registry"]),
    "path of another service": (_entry("suspension", application_path="/api/v1/transfers"), [
        "application_path '/api/v1/transfers' is not a public path of deregistration"]),
    "unknown department": (_unknown_department, ["steps[0].department: Input should be 'samr'"]),
    "step after a missing step": (_after_a_missing_step, ["after 'bank', which has no step in the entry"]),
    "steps in a circle": (_steps_in_a_circle, ["steps wait for each other in a circle"]),
    "unknown certificate": (_material("suspension", 0, certificate="passport"), [
        "certificate 'passport' is not one of the catalogue's certificates"]),
    "unknown format": (_material("suspension", 0, formats=["docx"]), ["format 'docx' is not one of"]),
    "no format": (_material("suspension", 0, formats=[]), ["materials[0].formats: Tuple should have at least 1 item"]),
    "unknown circumstance": (_material("suspension", 0, when=["married"]), [
        "materials[0] (suspension_application): when 'married' is not one of the entry's circumstances"]),
    "unknown channel": (_entry("suspension", channels=["online", "fax"]), ["channel 'fax' is not one of"]),
    "deferrable without a deadline": (_entry("suspension", deferral_working_days=None), [
        "materials cause_proof may come later (key: false) but deferral_working_days"]),
    "charged fee without its source": (_charged_without_source, [
        "fees[0] (connection_fee): a fee that costs money names its source"]),
    "fee source without the section": (_source(section="stamp_duty"), ["utility_fees.json has no list 'stamp_duty'"]),
    "fee source matching nothing": (_source(match={"utility": "steam"}), [
        "no row of utility_fees.json fees matches {'utility': 'steam'}"]),
    "fee source file missing": (_source(file="water_fees.json"), ["water_fees.json: no such data file"]),
    "misspelt field": (_typo, ["(suspension from 2024-07-01): mterials: Extra inputs are not permitted",
                               "(suspension from 2024-07-01): materials: Field required"]),
    "certificate of an unknown service": (_unknown_issuer, ["issued_by 'courts' is not a service"]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_file_is_refused_naming_what_is_wrong(tmp_path: Path, case: str) -> None:
    mutate, expected = MALFORMED[case]
    data = shipped_data()
    mutate(data)
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(write(tmp_path, data))
    for fragment in expected:
        assert fragment in str(raised.value), str(raised.value)


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    data = shipped_data()
    _material_twice(data)
    _entry("water_connection", channels=["fax"])(data)
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(write(tmp_path, data))
    assert len(raised.value.problems) == 2
    assert str(raised.value).startswith(f"malformed service catalogue {tmp_path / 'catalogue.json'}:")


def test_a_key_twice_in_one_object_and_text_that_is_no_json_are_refused(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    doubled = text.replace('"time_limit_working_days": 1,', '"time_limit_working_days": 1, '
                                                            '"time_limit_working_days": 1,', 1)
    with pytest.raises(CatalogueError, match="the key 'time_limit_working_days' appears twice in one object "
                                             r"\(in the object with code 'enterprise_opening'\)"):
        load_catalogue(write(tmp_path, doubled))
    with pytest.raises(CatalogueError, match="not JSON"):
        load_catalogue(write(tmp_path, text[:-10]))


def test_fee_sources_are_read_from_the_data_folder_given(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"realestate_rates\.json: no such data file"):
        load_catalogue(SHIPPED, data_dir=tmp_path)


# --- Key and deferrable materials, 一证通办 ----------------------------------------------------------------------


def test_missing_key_materials_refuse_and_missing_deferrable_ones_wait(cat: Catalogue) -> None:
    everything = {m.code for m in cat.entry("suspension", DAY).materials}
    assert cat.missing("suspension", DAY, everything) == ((), ())
    key, deferrable = cat.missing("suspension", DAY, everything - {"cause_proof"})
    assert key == () and codes(deferrable) == {"cause_proof"}
    assert cat.deferral_working_days("suspension", DAY) == 5
    key, deferrable = cat.missing("suspension", DAY, everything - {"employees_consultation", "cause_proof"})
    assert codes(key) == {"employees_consultation"} and codes(deferrable) == {"cause_proof"}
    # "other" as the cause asks for a statement of it; codes that are not the item's materials are ignored.
    key, _ = cat.missing("suspension", DAY, everything - {"cause_statement"} | {"photo"}, circumstances={"other_cause"})
    assert codes(key) == {"cause_statement"}
    assert catalogue.missing("suspension", DAY, everything) == ((), ())


def test_required_materials_follow_the_circumstances(cat: Catalogue) -> None:
    key, deferrable = cat.required_materials("enterprise_opening", DAY,
                                             circumstances={"company", "residential_use", "seal_chosen"})
    assert {"articles_of_association", "neighbours_consent", "residential_use_declaration",
            "beneficial_owner_information", "officers_appointment"} <= codes(key)
    assert "partnership_agreement" not in codes(key) and codes(deferrable) == {"seal_specimen"}
    key, deferrable = catalogue.required_materials("enterprise_opening", DAY)
    assert codes(key) == {"application_form", "identity_proofs", "address_declaration"} and deferrable == ()
    with pytest.raises(ValueError, match="enterprise_opening knows no circumstance residential"):
        cat.required_materials("enterprise_opening", DAY, circumstances={"residential"})


def test_a_certificate_the_system_holds_replaces_its_material(cat: Catalogue) -> None:
    everything = {m.code for m in cat.entry("property_transfer", DAY).materials}
    held = everything - {"property_certificate", "business_licence"}
    key, _ = cat.missing("property_transfer", DAY, held, circumstances={"enterprise_party"})
    assert codes(key) == {"property_certificate", "business_licence"}
    assert cat.missing("property_transfer", DAY, held, circumstances={"enterprise_party"},
                       certificates={"property_certificate", "business_licence"}) == ((), ())
    with pytest.raises(ValueError, match="no certificate passport"):
        cat.missing("property_transfer", DAY, held, certificates={"passport"})


def test_recognised_certificates_are_verified_by_code_at_a_public_path(cat: Catalogue) -> None:
    transfer = cat.recognised_certificates("property_transfer", DAY)
    assert {m: c.code for m, c in transfer.items()} == {"business_licence": "business_licence",
                                                         "property_certificate": "property_certificate"}
    mortgaged = catalogue.recognised_certificates("mortgaged_transfer", DAY)
    assert mortgaged["mortgage_proof"].code == "mortgage_proof"
    assert cat.recognised_certificates("suspension", DAY)["business_licence"].issued_by == "registration"
    for cert in cat.certificates.values():
        assert registry.is_anonymous(cert.verify_path)
        owner = registry.owner_of(cert.verify_path)
        assert owner is not None and owner.name == cert.issued_by
    # A material's own electronic certificate: every item that asks for the licence takes the e-licence.
    for e in cat.entries(DAY):
        for m in e.materials:
            if m.code in ("business_licence", "property_certificate", "mortgage_proof"):
                assert m.certificate == m.code, (e.code, m.code)


def test_a_credit_report_stands_in_for_the_property_certificate_for_power_only(cat: Catalogue) -> None:
    base = {"connection_application", "business_licence", "load_information"}
    key, _ = cat.missing("power_low_voltage_connection", DAY, base | {"credit_report"},
                         circumstances={"enterprise", "credit_report_district"})
    assert key == ()
    key, _ = cat.missing("power_low_voltage_connection", DAY, base | {"credit_report"}, circumstances={"enterprise"})
    assert codes(key) == {"property_certificate"}  # the district has not switched 信用+报装 on
    water = {"connection_application", "business_licence", "water_use_information", "credit_report"}
    with pytest.raises(ValueError, match="knows no circumstance credit_report_district"):
        cat.missing("water_connection", DAY, water, circumstances={"enterprise", "credit_report_district"})
    key, _ = cat.missing("water_connection", DAY, water, circumstances={"enterprise"})
    assert codes(key) == {"property_certificate"}


# --- Time limits and steps agree with the services' plans ------------------------------------------------------

StepSet = set[tuple[str, str, frozenset[str], int]]


def catalogue_steps(e: Entry, circumstances: Collection[str]) -> StepSet:
    """The entry's steps that apply, each waiting only for steps that apply too (as a plan has them)."""
    taken = [s for s in e.steps if not s.when or any(c in circumstances for c in s.when)]
    present = {s.department for s in taken}
    return {(s.department.value, s.kind, frozenset(d.value for d in s.after if d in present), s.working_days)
            for s in taken}


def plan_steps(plan: Plan) -> StepSet:
    return {(s.department.value, s.kind, frozenset(d.value for d in s.depends_on), s.working_days)
            for s in plan.steps}


def at(day: date, hour: int = 10) -> datetime:
    """A moment of ``day`` in Jiangmen, when an application was submitted."""
    return datetime.combine(day, time(hour), LOCAL_TZ)


def utility_plan(cat: Catalogue, form: ConnectionCreate, day: date = DAY) -> Plan:
    """A connection's plan timed by ``cat``'s entries of its utilities on ``day``."""
    items = utilities.catalogue_items(form, low_voltage_max_kw=utilities.LOW_VOLTAGE_MAX_KW_DEFAULT)
    guide = {u: cat.entry(code, day) for u, code in items.items()}
    return utilities.plan_for(form, low_voltage_max_kw=utilities.LOW_VOLTAGE_MAX_KW_DEFAULT, guide=guide)


PACKAGES: dict[str, frozenset[str]] = {
    "seal": frozenset({"seal_chosen"}), "tax": frozenset({"tax_chosen"}),
    "social_insurance": frozenset({"social_insurance_chosen"}), "housing_fund": frozenset({"housing_fund_chosen"}),
    "bank_account": frozenset({"bank_account_chosen"}),
}


@pytest.mark.parametrize("chosen", [(), ("tax",), ("seal", "bank_account"), tuple(PACKAGES)])
def test_the_opening_steps_and_time_limit_are_registrations_plan(cat: Catalogue, chosen: tuple[str, ...]) -> None:
    package = PackageIn(**{name: name in chosen for name in PACKAGES})
    opening = cat.entry("enterprise_opening", DAY)
    plan = registration.plan_for(partial(RegistrationCreate, package=package), opening)
    circumstances = set().union(*(PACKAGES[name] for name in chosen))
    assert catalogue_steps(opening, circumstances) == plan_steps(plan)
    assert opening.time_limit_working_days == plan.working_days == 1  # 11110: within one working day


@pytest.mark.parametrize(("kind", "fields", "code", "circumstances"), [
    ("change", ["officers"], "enterprise_change", set()),
    ("change", ["name", "business_scope"], "enterprise_change", {"tax_relevant_change"}),
    ("move", ["address"], "enterprise_move", set()),
])
def test_change_and_move_steps_and_time_limits_are_registrations_plan(cat: Catalogue, kind: str, fields: list[str],
                                                                      code: str, circumstances: set[str]) -> None:
    form = partial(ChangeCreate, kind=kind, **{f: "x" for f in fields})
    plan = registration.change_plan(kind, registration.changed_fields(form), cat.entry(code, DAY))
    assert registration.CATALOGUE_ITEMS[kind] == code
    assert catalogue_steps(cat.entry(code, DAY), circumstances) == plan_steps(plan)
    assert cat.time_limit(code, DAY) == plan.working_days == 1


HELD = {"hrss": "hrss_registered", "medicare": "medicare_registered", "hpf": "hpf_registered",
        "bank": "bank_account_held", "customs": "customs_registered"}


@pytest.mark.parametrize(("code", "procedure", "tax_circumstance"), [
    ("simplified_deregistration", "simplified", "tax_matters"),
    ("individual_business_simplified_deregistration", "simplified", "tax_matters"),
    ("general_deregistration", "general", "tax_registered"),
])
@pytest.mark.parametrize(("registered_with", "tax"), [(set(HELD), True), ({"bank"}, False), (set(), True)])
def test_deregistration_departments_and_time_limits_are_its_plans(cat: Catalogue, code: str, procedure: str,
                                                                  tax_circumstance: str, registered_with: set[str],
                                                                  tax: bool) -> None:
    holdings = deregistration.Holdings(frozenset(registered_with), has_tax_matters=tax)
    e = cat.entry(code, DAY)
    plan = deregistration.plan_for(procedure, holdings, e)
    circumstances = {HELD[d] for d in registered_with} | ({tax_circumstance} if tax else set())
    assert catalogue_steps(e, circumstances) == plan_steps(plan)
    # The time limit is the plan's with everything held: every department, the longest chain.
    everything = deregistration.plan_for(procedure, deregistration.Holdings(frozenset(HELD), customs_registered=True),
                                         e)
    assert e.time_limit_working_days == everything.working_days
    assert set(e.departments) == set(everything.departments)


def test_deregistration_and_suspension_periods_are_the_services_parameters(cat: Catalogue) -> None:
    defaults = deregistration.Periods()

    def periods(code: str) -> dict[str, tuple[int, str]]:
        return {p.code: (p.value, p.unit) for p in cat.entry(code, DAY).periods}

    assert periods("simplified_deregistration")["public_notice"] == (defaults.public_notice_days, "calendar_days")
    assert periods("individual_business_simplified_deregistration") == {
        "objection_window": (defaults.objection_window_days, "calendar_days")}
    assert periods("general_deregistration") == {
        "liquidation_filing": (deregistration.LIQUIDATION_FILING_DAYS, "calendar_days"),
        "creditor_notice": (defaults.creditor_notice_days, "calendar_days"),
        "sole_proprietorship_notice": (defaults.sole_proprietorship_notice_days, "calendar_days")}
    assert periods("suspension") == {
        "max_total": (deregistration.MAX_SUSPENSION_YEARS, "years"),
        "extension_window": (deregistration.EXTENSION_WINDOW_DAYS, "calendar_days"),
        "early_end_publication": (deregistration.EARLY_END_PUBLICATION_DAYS, "calendar_days")}


UTILITY_FORMS: dict[str, dict[str, Any]] = {
    "power_low_voltage_connection": {"power": {"voltage": "low", "capacity_kw": utilities.LOW_VOLTAGE_MAX_KW_DEFAULT}},
    "power_high_voltage_connection": {"power": {"voltage": "high", "capacity_kw": 800}},
    "water_connection": {"water": {"diameter_mm": 25}},
    "gas_connection": {"gas": {"monthly_m3": 300}},
    "telecom_connection": {"telecom": {"bandwidth_mbps": 1000}},
    "cabletv_connection": {"cabletv": {}},
}
WORKS = {"road_works": {"dig_city_road": True}, "green_space": {"occupy_green_space": True},
         "highway": {"highway": True}}


@pytest.mark.parametrize("code", list(UTILITY_FORMS))
@pytest.mark.parametrize("works", [(), ("road_works",), ("green_space", "highway"), tuple(WORKS)])
def test_utility_steps_and_time_limits_are_the_utilities_plan(cat: Catalogue, code: str,
                                                              works: tuple[str, ...]) -> None:
    external = ExternalWorksIn(**{k: v for w in works for k, v in WORKS[w].items()})
    form = partial(ConnectionCreate, utilities=UtilitiesIn.model_validate(UTILITY_FORMS[code]), external_works=external)
    plan = utility_plan(cat, form)
    e = cat.entry(code, DAY)
    circumstances = set(works) & {c.code for c in e.circumstances}
    assert catalogue_steps(e, circumstances) == plan_steps(plan)
    # The committed limit is the plan's when the works need every permit.
    every = partial(ConnectionCreate, utilities=form.utilities, external_works=ExternalWorksIn(
        dig_city_road=True, occupy_green_space=True, highway=True))
    assert e.time_limit_working_days == utility_plan(cat, every).working_days
    for s in e.steps:
        if s.department in utilities.PERMIT_KINDS:  # 并联审批 within 5 working days (§18)
            assert s.working_days == 5


def test_low_voltage_power_within_the_threshold_needs_no_permits(cat: Catalogue) -> None:
    e = cat.entry("power_low_voltage_connection", DAY)
    assert e.departments == (utilities.Utility.power.department,)
    assert not set(e.departments) & set(utilities.PERMIT_KINDS)
    low = partial(ConnectionCreate, utilities=UtilitiesIn.model_validate(UTILITY_FORMS["power_low_voltage_connection"]),
                  external_works=ExternalWorksIn(dig_city_road=True))
    assert cat.time_limit("power_low_voltage_connection", DAY) == utility_plan(cat, low).working_days == 5


@pytest.mark.parametrize(("code", "mortgage"), [("property_transfer", None),
                                                ("mortgaged_transfer", TransferMortgageIn(existing="repay"))])
def test_transfer_steps_and_time_limits_are_the_realestate_plan(cat: Catalogue, code: str,
                                                                mortgage: TransferMortgageIn | None) -> None:
    form = partial(TransferCreate, mortgage=mortgage)
    assert realestate.catalogue_item(form) == code
    plan = realestate.plan_for(form, cat.entry(code, DAY))
    assert catalogue_steps(cat.entry(code, DAY), set()) == plan_steps(plan)
    assert cat.time_limit(code, DAY) == plan.working_days <= realestate.LEGAL_MAX_WORKING_DAYS


@pytest.mark.parametrize(("code", "kind"), [("mortgage_registration", realestate_handlers.MORTGAGE),
                                            ("mortgage_release", realestate_handlers.MORTGAGE_RELEASE)])
def test_mortgage_steps_and_time_limits_are_the_realestate_plan(cat: Catalogue, code: str, kind: str) -> None:
    plan = realestate_handlers.plan_of(cast(Any, SimpleNamespace(kind=kind, created_at=at(DAY))))
    assert catalogue_steps(cat.entry(code, DAY), set()) == plan_steps(plan)
    assert catalogue.time_limit(code, DAY) == plan.working_days == 1


# --- 限时办结: the catalogue's figures, not the code's -----------------------------------------------------------
#
# A later version of an item with other working days and time limits (ONESTOP_CATALOGUE_PATH): an application
# submitted from its first day is planned by it, one submitted the day before by the version it was accepted under.

LATER = date(2027, 3, 1)
SLOWER: dict[str, tuple[int, dict[str, int]]] = {  # item: (time limit, working days by department)
    "enterprise_opening": (3, {"samr": 2}),
    "enterprise_change": (2, {"samr": 1, "tax": 1}),
    "simplified_deregistration": (10, {"tax": 4, "samr": 2, "bank": 5}),
    "property_transfer": (4, {"nr": 2, "tax": 2, "bank": 3}),
    "mortgage_registration": (2, {"nr": 2}),
    "water_connection": (12, {"water": 7}),
}


def with_later_versions(data: dict[str, Any]) -> dict[str, Any]:
    """The data with a version from ``LATER`` of every item in ``SLOWER``, placed after its last version."""
    for code, (limit, days) in SLOWER.items():
        last = [e for e in data["entries"] if e["code"] == code][-1]
        later = json.loads(json.dumps(last))
        later["effective_from"] = LATER.isoformat()
        later["time_limit_working_days"] = limit
        for step in later["steps"]:
            step["working_days"] = days.get(step["department"], step["working_days"])
        data["entries"].insert(data["entries"].index(last) + 1, later)
    return data


@pytest.fixture
def later_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The catalogue in use is the shipped one with the later versions: the services read it, no code changed."""
    monkeypatch.setenv("ONESTOP_CATALOGUE_PATH", str(write(tmp_path, with_later_versions(shipped_data()))))
    get_settings.cache_clear()
    yield catalogue.default_catalogue()
    monkeypatch.delenv("ONESTOP_CATALOGUE_PATH")
    get_settings.cache_clear()


def step_days(plan: Plan) -> dict[str, int]:
    return {s.department.value: s.working_days for s in plan.steps}


def test_a_step_takes_its_own_entrys_days_and_the_whole_is_capped_by_the_time_limit(cat: Catalogue) -> None:
    water, gas = cat.entry("water_connection", DAY), cat.entry("gas_connection", DAY)
    steps = [Step(Department.urban, "permit"), Step(Department.water, "w", (Department.urban,)),
             Step(Department.gas, "g", (Department.urban,))]
    plan = timed_plan(steps, [water, gas], own={Department.gas: gas})
    assert step_days(plan) == {"urban": 5, "water": 5, "gas": 5} and plan.working_days == 10
    # A department no entry has a step for has the item's whole time limit, and the chain never exceeds it.
    stranger = timed_plan([Step(Department.samr, "x"), Step(Department.customs, "y", (Department.samr,))],
                          cat.entry("suspension", DAY))
    assert step_days(stranger) == {"samr": 1, "customs": 1} and stranger.working_days == 1
    with pytest.raises(ValueError, match="at least one catalogue entry"):
        timed_plan(steps, [])


def test_registration_follows_the_catalogue_in_force_the_day_it_was_submitted(later_catalogue: Catalogue) -> None:
    form = RegistrationCreate.model_validate(EXAMPLE_REGISTRATION)

    def opening(submitted: datetime) -> Plan:
        return registration_handlers.plan_of(RegistrationApplication(
            number="n", applicant="a", submitted_by="a", status="in_progress", kind="opening",
            enterprise_name=form.enterprise.name, district_code="440703", entity_type="limited_company", address="x",
            form=form.model_dump(mode="json"), form_version=REGISTRATION_FORM.version, created_at=submitted))

    before, after = opening(at(LATER - timedelta(days=1), 23)), opening(at(LATER, 8))
    assert set(step_days(before).values()) == {1} and before.working_days == 1
    assert step_days(after)["samr"] == 2 and step_days(after)["tax"] == 1
    assert after.working_days == 3  # samr's two days, then a day for the others: within the new time limit
    change = registration.change_plan("change", ["name"], later_catalogue.entry("enterprise_change", LATER))
    assert step_days(change) == {"samr": 1, "tax": 1} and change.working_days == 2


def test_deregistration_follows_the_catalogue_in_force_the_day_it_was_submitted(later_catalogue: Catalogue) -> None:
    holdings = {"registered_with": ["bank"], "has_tax_matters": True, "customs_registered": False}

    def plan(submitted: datetime, notice_kind: str) -> Plan:
        return deregistration_handlers.plan_of(cast(Any, SimpleNamespace(
            procedure="simplified", notice_kind=notice_kind, holdings=holdings, created_at=submitted)))

    assert step_days(plan(at(LATER - timedelta(days=1)), "public_notice")) == {"tax": 3, "samr": 1, "bank": 3}
    later = plan(at(LATER), "public_notice")
    assert step_days(later) == {"tax": 4, "samr": 2, "bank": 5}
    assert later.working_days == 10  # the chain is 11 working days: the time limit caps it
    # A 个体工商户's simplified deregistration is another item, not changed here.
    assert step_days(plan(at(LATER), "objection_window")) == {"tax": 3, "samr": 1, "bank": 3}


def test_realestate_follows_the_catalogue_in_force_the_day_it_was_filed(later_catalogue: Catalogue) -> None:
    transfer = realestate.plan_for(partial(TransferCreate, mortgage=None),
                                   later_catalogue.entry("property_transfer", LATER))
    assert step_days(transfer) == {"nr": 2, "housing": 1, "tax": 2, "bank": 3}
    assert transfer.working_days == 4  # tax then payment is 5: the time limit caps it

    def mortgage(submitted: datetime) -> Plan:
        return realestate_handlers.plan_of(cast(Any, SimpleNamespace(kind=realestate_handlers.MORTGAGE,
                                                                     created_at=submitted)))

    assert step_days(mortgage(at(LATER - timedelta(days=1)))) == {"nr": 1}
    assert step_days(mortgage(at(LATER))) == {"nr": 2} and mortgage(at(LATER)).working_days == 2


def test_utilities_follow_the_catalogue_in_force_the_day_it_was_submitted(later_catalogue: Catalogue) -> None:
    def water(works: ExternalWorksIn, submitted: datetime) -> Plan:
        form = partial(ConnectionCreate, utilities=UtilitiesIn.model_validate(UTILITY_FORMS["water_connection"]),
                       external_works=works)
        return utilities_handlers.connection_plan(form, submitted)

    assert step_days(water(ExternalWorksIn(), at(LATER - timedelta(days=1)))) == {"water": 5}
    assert step_days(water(ExternalWorksIn(), at(LATER))) == {"water": 7}
    dug = water(ExternalWorksIn(dig_city_road=True), at(LATER))
    assert step_days(dug) == {"urban": 5, "traffic": 5, "water": 7} and dug.working_days == 12


# --- Fees from the dated data, and the public view ----------------------------------------------------------------


def fee(cat: Catalogue, code: str, fee_code: str, day: date) -> dict[str, Any]:
    item = cat.public_item(code, day, "en")
    found: dict[str, Any] = next(f for f in item["fees"] if f["code"] == fee_code)
    return found


def test_fees_show_the_row_in_force_of_their_dated_data(cat: Catalogue) -> None:
    table = utilities.load_fee_table()
    for day in (date(2026, 6, 30), date(2026, 7, 1)):  # the water fee changes on 2026-07-01
        row = fee(cat, "water_connection", "connection_fee", day)["in_force"]
        assert yuan_to_fen(row["fee_yuan"]) == table.fee_on(utilities.Utility.water, day)
    rates = realestate.load_rates()
    for day in (date(2024, 11, 30), date(2024, 12, 1)):  # the deed tax's area threshold changes
        row = fee(cat, "property_transfer", "deed_tax", day)["in_force"]
        assert Decimal(row["area_threshold_m2"]) == rates.deed_tax_on(day).area_threshold_m2
    registration_fee = fee(cat, "mortgage_registration", "registration_fee", DAY)["in_force"]
    assert yuan_to_fen(registration_fee["residential_yuan"]) == rates.fee_on(DAY).residential
    release = fee(cat, "mortgage_release", "registration_fee", DAY)  # cancellation registrations are free
    assert release["free"] and release["source"] is None and release["in_force"] is None
    assert all(f["free"] for f in cat.public_item("enterprise_opening", DAY)["fees"])


def test_the_public_view_is_json_in_either_language_or_both(cat: Catalogue) -> None:
    zh = cat.public_view(DAY)
    assert zh["day"] == DAY.isoformat() and zh["lang"] == "zh"
    assert [item["code"] for item in zh["items"]] == [e.code for e in cat.entries(DAY)]
    json.dumps(zh, ensure_ascii=False)  # JSON-ready: no dates, enums or models left
    opening = cat.public_item("enterprise_opening", DAY, "zh")
    assert opening["name"].startswith("企业开办") and opening["departments"][0] == {
        "code": "samr", "name": "市场监督管理局"}
    english = catalogue.public_item("enterprise_opening", DAY, "en")
    assert english["name"].startswith("Enterprise opening")
    assert english["departments"][0]["name"] == "Administration for Market Regulation"
    assert english["channels"] == [{"code": "online", "name": "fully online"},
                                   {"code": "any_hall", "name": "any service hall window in the city"},
                                   {"code": "video", "name": "by video call"}]
    licence = next(m for m in english["materials"] if m["code"] == "enterprise_investor_licence")
    assert licence["certificate"]["verify_path"] == "/api/v1/licenses/{verification_code}"
    both = catalogue.public_view(DAY, "both")
    first = both["items"][0]
    assert {"name_zh", "name_en"} <= set(first) and {"text_zh", "text_en"} == set(first["conditions"][0])
    json.dumps(both, ensure_ascii=False)
    with pytest.raises(ValueError, match="lang must be one of zh, en, both"):
        cat.public_view(DAY, "fr")
    with pytest.raises(UnknownItem):
        cat.public_item("passport", DAY)
