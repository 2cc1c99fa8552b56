"""The rules of the registration service, alone: 企业开办 (company law included), samr's USCC, tax's step, names,
and changes and moves of registered enterprises."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
from datetime import date
from pathlib import Path
from typing import Any

from services.registration import domain
from services.registration.forms import FORM, ChangeCreate
from services.registration.handlers import opening_details
from services.registration.models import RegistrationApplication
from services.registration.names import CONFUSABLES, name_key
from services.registration.schemas import RegistrationCreate
from shared.applications import merge_supplement
from shared.catalogue import load_catalogue
from shared.departments import Department
from shared.identifiers import generate_org_code, generate_uscc, make_uscc
from shared.records import DepartmentTask
from tests.support import EXAMPLE_REGISTRATION

DAY = date(2026, 3, 2)
SHIPPED = load_catalogue()  # the shipped catalogue's time limits
OPENING = SHIPPED.entry("enterprise_opening", DAY)

TODAY = date(2026, 11, 29)
ZHANG = "11010519491231002X"  # the example's legal representative, investor, executive director and manager
LI = "440704198503152340"
WANG = "440703198806121019"
ZHAO = "440704199003052022"
HK_RESIDENT_ID = "810000198001011236"  # a Hong Kong resident's residence permit number (resident ID format)


def body(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLE_REGISTRATION)
    for path, value in changes.items():
        target = data
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        target[keys[-1]] = value
    return data


def form(**changes: Any) -> RegistrationCreate:
    return RegistrationCreate.model_validate(body(**changes))


def codes(f: RegistrationCreate, today: date = TODAY) -> dict[str, list]:
    return {p.code: p.loc for p in domain.validate(f, today=today)}


def every(f: RegistrationCreate) -> set[tuple[str, tuple]]:
    """Every problem as (code, loc), where one code may be at several places."""
    return {(p.code, tuple(p.loc)) for p in domain.validate(f, today=TODAY)}


def investor(name: str, number: str, share: str, **more: str) -> dict[str, str]:
    return {"name": name, "document_type": "resident_id", "document_number": number, "share_percent": share,
            "contribution_form": "monetary", "subscription_deadline": "2030-12-31", **more}


def test_example_is_valid() -> None:
    assert domain.validate(form(), today=TODAY) == []


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
    found = codes(form(investors__0__document_number="110105194913310028", enterprise__district_code="440100"))
    assert "resident_id_birth_date" in found or "resident_id_check_digit" in found
    assert found["unknown_district"] == ["enterprise", "district_code"]


def test_capital_precision_and_type() -> None:
    assert "capital_precision" in codes(form(enterprise__registered_capital="100.001"))
    assert "entity_type_unknown" in codes(form(enterprise__entity_type="llc"))


def test_shares_sum_exactly_100_across_investors() -> None:
    f = form(investors=[investor("张三", ZHANG, "33.34"), investor("李四", LI, "66.66")])
    assert domain.validate(f, today=TODAY) == []
    f = form(investors=[investor("张三", ZHANG, "33.33"), investor("李四", LI, "66.66")])
    assert "shares_not_100" in codes(f)


# --- Rule 1: company-law checks at opening -----------------------------------------------------------------------


def test_limited_company_investors_contribution_form_and_five_year_subscription_deadline() -> None:
    """有限责任公司: 1-50 investors, each with a contribution form and a deadline within 5 years (art. 47)."""
    fifty_one = [investor(f"股东{i}", ZHANG if i == 0 else LI, "1") for i in range(51)]
    assert codes(form(investors=fifty_one))["investors_count"] == ["investors"]
    assert codes(form(investors__0__subscription_deadline="2031-11-30")) == {
        "subscription_beyond_five_years": ["investors", 0, "subscription_deadline"]}
    assert codes(form(investors__0__subscription_deadline="2031-11-29")) == {}
    assert codes(form(investors__0__subscription_deadline="2031-02-30")) == {
        "date_invalid": ["investors", 0, "subscription_deadline"]}
    assert codes(form(investors__0__contribution_form="labour")) == {
        "contribution_form_unknown": ["investors", 0, "contribution_form"]}
    missing = body()
    del missing["investors"][0]["contribution_form"], missing["investors"][0]["subscription_deadline"]
    assert every(RegistrationCreate.model_validate(missing)) == {
        ("required", ("investors", 0, "contribution_form")), ("required", ("investors", 0, "subscription_deadline"))}
    for contribution in domain.CONTRIBUTION_FORMS:
        assert codes(form(investors__0__contribution_form=contribution)) == {}


def test_joint_stock_company_pays_all_its_capital_before_incorporation() -> None:
    """股份有限公司: paid-in = registered capital (art. 98); its name says 股份有限公司."""
    jsc = {"enterprise__entity_type": "joint_stock_company", "enterprise__name": "江门市云帆软件科技股份有限公司"}
    assert codes(form(**jsc)) == {"required": ["enterprise", "paid_in_capital"]}
    assert codes(form(**jsc, enterprise__paid_in_capital="500000.00")) == {
        "paid_in_must_equal_registered": ["enterprise", "paid_in_capital"]}
    assert codes(form(**jsc, enterprise__paid_in_capital="1000000")) == {}
    limited_name = {**jsc, "enterprise__name": "江门市云帆软件科技有限公司"}
    assert codes(form(**limited_name, enterprise__paid_in_capital="1000000")) == {
        "name_lacks_form": ["enterprise", "name"]}
    # A limited company may have paid in part of its capital, never more than all of it.
    assert codes(form(enterprise__paid_in_capital="200000")) == {}
    assert codes(form(enterprise__paid_in_capital="2000000")) == {
        "paid_in_exceeds_registered": ["enterprise", "paid_in_capital"]}


def test_joint_stock_company_uscc_takes_the_city_division() -> None:
    """Joint-stock companies are registered at city level: their USCC's division is 440700."""
    assert domain.registration_division("joint_stock_company", "440703") == "440700"
    assert domain.registration_division("limited_company", "440703") == "440703"
    city = generate_uscc("440700", "1")
    assert domain.assigned_uscc({"uscc": city}, entity_type="joint_stock_company", district_code="440703") == (city, [])
    district = generate_uscc("440703", "1")
    _, problems = domain.assigned_uscc({"uscc": district}, entity_type="joint_stock_company", district_code="440703")
    assert [p.code for p in problems] == ["uscc_wrong_division"]


def test_sole_proprietorship_one_natural_person_and_no_company_words() -> None:
    """个人独资企业: exactly one natural-person investor; no 有限 or 公司 in its name."""
    sole = {"enterprise__entity_type": "sole_proprietorship", "enterprise__registered_capital": None}
    assert codes(form(**sole, enterprise__name="江门市蓬江区云帆软件工作室")) == {}
    found = codes(form(**sole))  # the example's name ends 有限公司
    assert found == {"name_words_not_allowed": ["enterprise", "name"]}
    problem = next(p for p in domain.validate(form(**sole), today=TODAY) if p.code == "name_words_not_allowed")
    assert "有限、公司" in problem.message_zh
    two = [investor("张三", ZHANG, "50"), investor("李四", LI, "50")]
    assert codes(form(**sole, enterprise__name="江门市蓬江区云帆软件工作室", investors=two)) == {
        "investors_count": ["investors"]}
    enterprise = [{"name": "江门市某投资有限公司", "uscc": "91440700708039146Q", "share_percent": "100"}]
    assert codes(form(**sole, enterprise__name="江门市蓬江区云帆软件工作室", investors=enterprise)) == {
        "investor_natural_person_required": ["investors", 0, "uscc"]}


def test_partnership_two_partners_and_its_form_in_the_name() -> None:
    """合伙企业: at least 2 partners; its form (普通合伙/有限合伙) in its name."""
    partners = [investor("张三", ZHANG, "50", contribution_form="labour"), investor("李四", LI, "50")]
    # A partnership's capital is not registered here, so it cannot show it is exempt: it files its beneficial owners.
    owners = [{"name": "张三", "document_number": ZHANG, "basis": "control"}]
    base = {"enterprise__entity_type": "partnership", "enterprise__registered_capital": None, "investors": partners,
            "beneficial_owners": owners}
    general = "江门市云帆咨询中心（普通合伙）"
    assert codes(form(**base, enterprise__name=general, enterprise__partnership_form="general")) == {}
    assert codes(form(**base, enterprise__name="江门市云帆咨询中心", enterprise__partnership_form="limited")) == {
        "name_lacks_form": ["enterprise", "name"]}
    assert codes(form(**base, enterprise__name="江门市云帆咨询中心（有限合伙）")) == {
        "required": ["enterprise", "partnership_form"]}
    one = {**base, "investors": [investor("张三", ZHANG, "100")]}
    limited = "江门市云帆咨询中心（有限合伙）"
    assert codes(form(**one, enterprise__name=limited, enterprise__partnership_form="limited")) == {
        "investors_count": ["investors"]}


def test_individual_business_has_an_operator_not_investors_shares() -> None:
    """个体工商户: no investors' shares, an operator instead."""
    ib = {"enterprise__entity_type": "individual_business", "enterprise__registered_capital": None,
          "enterprise__name": "江门市蓬江区云帆电脑维修店"}
    assert codes(form(**ib)) == {"investors_not_allowed": ["investors"], "required": ["operator"]}
    operator = {"name": "张三", "id_number": ZHANG}
    assert codes(form(**ib, investors=[], operator=operator)) == {}


def test_two_investors_sharing_one_id_are_refused() -> None:
    """Two investors with one ID are one investor listed twice, however the ID is typed."""
    twins = [investor("张三", ZHANG, "50"), investor("张叁", ZHANG.lower(), "50")]
    assert codes(form(investors=twins)) == {"investor_duplicate": ["investors", 1, "document_number"]}
    same_enterprise = [{"name": "甲公司", "uscc": "91440700708039146Q", "share_percent": "50",
                        "contribution_form": "monetary", "subscription_deadline": "2030-12-31"},
                       {"name": "甲公司", "uscc": "9144 0700 7080 3914 6q", "share_percent": "50",
                        "contribution_form": "monetary", "subscription_deadline": "2030-12-31"}]
    found = codes(form(investors=same_enterprise))
    assert found["investor_duplicate"] == ["investors", 1, "uscc"]


def test_investors_may_be_enterprises_or_residents_of_hk_macao_taiwan_or_abroad() -> None:
    """Investors by USCC (an enterprise) or by permit or passport, each validated by its own rule."""
    valid = [
        {"name": "江门市某投资有限公司", "uscc": "91440700708039146Q", "share_percent": "20"},
        {"name": "陈大文", "document_type": "hk_macao_permit", "document_number": "H12345678", "share_percent": "20"},
        {"name": "林志明", "document_type": "taiwan_permit", "document_number": "12345678", "share_percent": "20"},
        {"name": "John Smith", "document_type": "passport", "document_number": "E12345678", "nationality": "USA",
         "share_percent": "20"},
        {"name": "何家俊", "document_type": "resident_id", "document_number": HK_RESIDENT_ID, "share_percent": "20"},
    ]
    investors = [{**i, "contribution_form": "monetary", "subscription_deadline": "2030-12-31"} for i in valid]
    assert codes(form(investors=investors, beneficial_owners=[
        {"name": "张三", "document_number": ZHANG, "basis": "control"}])) == {}
    wrong = copy.deepcopy(investors)
    wrong[0]["uscc"] = "91440700708039146A"
    wrong[1]["document_number"] = "12345678"
    wrong[2]["document_number"] = "H1234567"
    del wrong[3]["nationality"]
    wrong[4]["document_type"] = "military_id"
    assert codes(form(investors=wrong, beneficial_owners=[{"name": "张三", "document_number": ZHANG,
                                                           "basis": "control"}])) == {
        "uscc_invalid": ["investors", 0, "uscc"],
        "hk_macao_permit_invalid": ["investors", 1, "document_number"],
        "taiwan_permit_invalid": ["investors", 2, "document_number"],
        "required": ["investors", 3, "nationality"],
        "document_type_unknown": ["investors", 4, "document_type"],
    }
    both = [{**investors[0], "document_number": ZHANG}, *investors[1:]]
    assert codes(form(investors=both))["investor_identity_ambiguous"] == ["investors", 0]
    neither = [{k: v for k, v in investors[1].items() if k not in ("document_type", "document_number")},
               *investors[1:]]
    assert codes(form(investors=neither))["investor_identity_required"] == ["investors", 0, "document_number"]


def test_officers_filed_and_the_legal_representative_is_a_director_or_the_manager() -> None:
    """Directors, supervisors and the manager are filed; the legal representative is one of the directors or the
    manager (公司法 art. 10)."""
    assert codes(form(officers=[])) == {"directors_required": ["officers"],
                                        "legal_representative_not_officer": ["legal_representative"]}
    others = [{"name": "李四", "id_number": LI, "role": "executive_director"},
              {"name": "王五", "id_number": WANG, "role": "manager"}]
    assert codes(form(officers=others)) == {"legal_representative_not_officer": ["legal_representative"]}
    as_director = [{"name": "张三", "id_number": ZHANG, "role": "director"},
                   {"name": "李四", "id_number": LI, "role": "director"},
                   {"name": "王五", "id_number": WANG, "role": "director"}]
    assert codes(form(officers=as_director)) == {}
    assert codes(form(officers=[*as_director, {"name": "赵六", "id_number": ZHAO, "role": "executive_director"}])) == {
        "executive_director_alone": ["officers"]}
    assert codes(form(officers=[{"name": "张三", "id_number": ZHANG, "role": "chairman"}])) == {
        "officer_role_unknown": ["officers", 0, "role"]}
    # A foreign director files by passport.
    foreign = [*as_director, {"name": "John Smith", "id_number": "E12345678", "document_type": "passport",
                              "role": "director"}]
    assert codes(form(officers=foreign)) == {}


def test_a_director_or_manager_is_no_supervisor() -> None:
    """董事、高级管理人员不得兼任监事 (公司法 art. 76, 130)."""
    officers = [*EXAMPLE_REGISTRATION["officers"], {"name": "张三", "id_number": ZHANG, "role": "supervisor"}]
    assert codes(form(officers=officers)) == {"supervisor_conflict": ["officers", 3, "role"]}


def test_beneficial_owners_filed_unless_exempt() -> None:
    """受益所有人 (since 2024-11-01): filed, unless capital is at most ¥10 million with natural-person investors."""
    assert codes(form()) == {}  # ¥1 million, one natural person: exempt
    assert codes(form(enterprise__registered_capital="10000000.01")) == {
        "beneficial_owners_required": ["beneficial_owners"]}
    assert codes(form(enterprise__registered_capital="10000000.01", investors__0__subscription_deadline="2029-06-30"),
                 today=date(2024, 10, 31)) == {}  # before the rule
    owners = [{"name": "张三", "document_number": ZHANG, "basis": "ownership"}]
    assert codes(form(enterprise__registered_capital="10000000.01", beneficial_owners=owners)) == {}
    enterprise_investor = [{"name": "江门市某投资有限公司", "uscc": "91440700708039146Q", "share_percent": "100",
                            "contribution_form": "monetary", "subscription_deadline": "2030-12-31"}]
    assert codes(form(investors=enterprise_investor)) == {"beneficial_owners_required": ["beneficial_owners"]}
    assert codes(form(beneficial_owners=[{**owners[0], "basis": "friendship"}])) == {
        "beneficial_owner_basis_unknown": ["beneficial_owners", 0, "basis"]}


def test_residential_address_needs_declaration_and_neighbours_consent() -> None:
    """住改商: the declaration and the consent of the affected owners (民法典 art. 279)."""
    residential = {"town_code": "440703006", "road": "建设三路", "number": "88号", "residential": True}
    assert codes(form(enterprise__address=residential)) == {
        "residential_declaration_required": ["enterprise", "residential_use"],
        "residential_consent_required": ["enterprise", "residential_use", "neighbours_consent"]}
    assert codes(form(enterprise__address=residential, enterprise__residential_use={"commitment": True})) == {
        "residential_consent_required": ["enterprise", "residential_use", "neighbours_consent"]}
    assert codes(form(enterprise__address=residential,
                      enterprise__residential_use={"commitment": True, "neighbours_consent": True})) == {}
    extra = [{"town_code": "440704001", "road": "江南路", "number": "1号"}]  # a town of another district
    assert codes(form(enterprise__extra_addresses=extra)) == {
        "town_not_in_district": ["enterprise", "extra_addresses", 0, "town_code"]}


def test_a_sole_proprietorship_named_limited_company_with_twin_investors_is_one_reply() -> None:
    """Every company-law problem in one reply (一次告知)."""
    found = codes(form(enterprise__entity_type="sole_proprietorship",
                       investors=[investor("张三", ZHANG, "50"), investor("张三", ZHANG, "50")]))
    assert found == {"name_words_not_allowed": ["enterprise", "name"], "investors_count": ["investors"],
                     "investor_duplicate": ["investors", 1, "document_number"]}


def test_stored_version_1_forms_read_as_version_2() -> None:
    """A form stored under shape 1 (investors by id_number) reads as today's shape: a resident-ID document."""
    v1 = json.loads(json.dumps(EXAMPLE_REGISTRATION))
    for key in ("officers", "finance_officer", "tax_agent"):
        del v1[key]
    v1["investors"] = [{"name": "张三", "id_number": ZHANG, "share_percent": "100"}]
    read = FORM.read(v1, 1)
    assert FORM.version == 2
    assert read.investors[0].document_type == "resident_id" and read.investors[0].document_number == ZHANG
    assert read.officers == [] and read.finance_officer is None


# --- Rule 2: samr's USCC is checked, not made up ------------------------------------------------------------------


def test_samr_uscc_is_valid_market_regulation_of_the_type_and_the_district() -> None:
    good = generate_uscc("440703", "1")
    assert domain.assigned_uscc({"uscc": good.lower()}, entity_type="limited_company", district_code="440703") == (
        good, [])

    def problems(outputs: dict[str, Any], entity_type: str = "limited_company") -> list[str]:
        return [p.code for p in domain.assigned_uscc(outputs, entity_type=entity_type, district_code="440703")[1]]

    assert problems({}) == ["uscc_missing"]
    assert problems({"uscc": good[:-1] + ("0" if good[-1] != "0" else "1")}) == ["uscc_invalid"]
    assert problems({"uscc": make_uscc("440703", generate_org_code(), authority="5", category="1")}) == [
        "uscc_not_market_regulation"]
    assert problems({"uscc": "9I44O7O37O8O39146Q"}) == ["uscc_invalid"]  # not valid however O and I are read
    assert problems({"uscc": generate_uscc("440703", "2")}) == ["uscc_wrong_category"]
    assert problems({"uscc": generate_uscc("440703", "2")}, "individual_business") == []
    assert problems({"uscc": generate_uscc("440704", "1")}) == ["uscc_wrong_division"]


# --- Rule 3: tax's step ----------------------------------------------------------------------------------------------


def test_tax_step_needs_the_finance_officer_and_tax_agent_by_real_name() -> None:
    assert every(form(finance_officer=None, tax_agent=None)) == {("required", ("finance_officer",)),
                                                                 ("required", ("tax_agent",))}
    assert codes(form(tax_agent={"name": "赵六", "id_number": ZHAO})) == {"required": ["tax_agent", "mobile"]}
    assert codes(form(finance_officer=None, tax_agent=None, package={"tax": False})) == {}


def test_e_invoices_are_an_amount_limit_not_copies() -> None:
    """数电发票 are granted as an amount limit (额度, plain decimal yuan), not a number of copies."""
    e_invoices = {"types": ["vat_electronic"], "amount_limit": "100000.00"}
    assert codes(form(package__invoices=e_invoices)) == {}
    assert codes(form(package__invoices={"types": ["vat_electronic"], "quantity": 25})) == {
        "invoice_quantity_not_for_electronic": ["package", "invoices", "quantity"],
        "invoice_amount_limit": ["package", "invoices", "amount_limit"]}
    assert codes(form(package__invoices={"types": ["vat_electronic"], "amount_limit": "1e5"})) == {
        "invoice_amount_limit": ["package", "invoices", "amount_limit"]}
    assert codes(form(package__invoices={"types": ["vat_general"], "quantity": 25, "amount_limit": "5000"})) == {
        "invoice_amount_limit_only_electronic": ["package", "invoices", "amount_limit"]}
    both = {"types": ["vat_general", "vat_electronic"], "quantity": 25, "amount_limit": "5000"}
    assert codes(form(package__invoices=both)) == {}


def test_full_ids_only_for_the_departments_that_legally_need_them() -> None:
    """psb (seal filing) and the bank (KYC) get the legal representative's whole ID; tax the finance officer's and
    the tax agent's (实名办税); every other department sees IDs masked."""
    f = form(package__bank_account=True, package__housing_fund=True,
             package__invoices={"types": ["vat_electronic"], "amount_limit": "100000.00"})
    app = RegistrationApplication(number="QYKB-440703-20261129-000001", applicant="a", submitted_by="a",
                                  status="in_progress", kind="opening", enterprise_name=f.enterprise.name,
                                  district_code="440703", entity_type="limited_company", address="x",
                                  form=f.model_dump(mode="json"), form_version=FORM.version)
    plan = domain.plan_for(f, OPENING)
    tasks = [DepartmentTask(application_id=app.id, application_number=app.number, service="registration",
                            department=s.department, kind=s.kind, status="waiting", working_days=1)
             for s in plan.steps]
    details = opening_details(app, tasks)
    seen = {t.department: details(t) for t in tasks}
    assert seen[Department.samr]["registration_division"] == "440703" and seen[Department.samr]["uscc_category"] == "1"
    for full in (Department.psb, Department.bank):
        assert seen[full]["legal_representative"]["id_number"] == ZHANG
    for masked in (Department.tax, Department.hrss, Department.medicare, Department.hpf):
        assert ZHANG not in json.dumps(seen[masked]) and "13800138000" not in json.dumps(seen[masked]), masked
        assert seen[masked]["legal_representative"]["id_number"] == "110105********002X"
    tax = seen[Department.tax]
    assert tax["finance_officer"]["id_number"] == WANG and tax["tax_agent"]["id_number"] == ZHAO
    assert "contribution_registration" in tax["services"]  # 单位缴费登记
    assert tax["invoices"] == {"types": ["vat_electronic"], "amount_limit": "100000.00"}
    assert WANG not in json.dumps(seen[Department.psb]) and ZHAO not in json.dumps(seen[Department.hrss])


def test_plan_samr_first_then_only_the_chosen() -> None:
    plan = domain.plan_for(form(), OPENING)
    assert plan.departments == [Department.samr, Department.psb, Department.tax, Department.hrss,
                                Department.medicare]
    assert all(s.depends_on == (Department.samr,) for s in plan.steps[1:])
    assert plan.working_days == 1
    minimal = domain.plan_for(form(package={"seal": False, "tax": False}), OPENING)
    assert minimal.departments == [Department.samr]
    everything = domain.plan_for(form(package={"seal": True, "social_insurance": True, "housing_fund": True,
                                               "bank_account": True}), OPENING)
    assert set(everything.departments) == {Department.samr, Department.psb, Department.tax, Department.hrss,
                                           Department.medicare, Department.hpf, Department.bank}


# --- Rule 4: USCCs normalised at the edge ---------------------------------------------------------------------------


def test_usccs_in_requests_are_normalised_and_o_or_i_typed_for_0_or_1_is_named() -> None:
    """A USCC typed in lower case, with spaces or in full width is read as the code; one with O for 0 or I for 1
    is refused with the code it would be."""
    assert ChangeCreate.model_validate({"uscc": " ９１４４ ０７００ 7080-3914 6q"}).uscc == "91440700708039146Q"
    enterprise = {"name": "江门市某投资有限公司", "uscc": "9144 0700 7080 3914 6q", "share_percent": "100",
                  "contribution_form": "monetary", "subscription_deadline": "2030-12-31"}
    f = form(investors=[enterprise], beneficial_owners=[{"name": "张三", "document_number": ZHANG, "basis": "control"}])
    assert f.investors[0].uscc == "91440700708039146Q" and codes(f) == {}
    typo = form(investors=[{**enterprise, "uscc": "9144O7OO7O8O39146Q"}],
                beneficial_owners=[{"name": "张三", "document_number": ZHANG, "basis": "control"}])
    [problem] = domain.validate(typo, today=TODAY)
    assert problem.code == "uscc_lookalike" and problem.loc == ["investors", 0, "uscc"]
    assert "91440700708039146Q" in problem.message_zh and "91440700708039146Q" in problem.message_en


# --- Rule 5: names normalised for uniqueness --------------------------------------------------------------------------


def test_names_compare_without_width_or_spaces() -> None:
    assert domain.normalise_name("江门市 云帆（软件）有限公司") == domain.normalise_name("江门市云帆(软件)有限公司")


def test_names_differing_by_invisible_characters_or_lookalikes_share_one_key() -> None:
    """NFKC, invisible characters dropped, TR39 look-alikes folded: these all collide with the registered name."""
    registered = "江门市ABC科技有限公司"
    variants = [
        "江门市A\u200bBC科技有限公司",  # zero-width space
        "江门市AB\u2060C科技有限公司",  # word joiner
        "江门市A\u00adBC科技有限公司",  # soft hyphen
        "江门市AB\u200dC科技有限公司",  # zero-width joiner
        "江门市\u0410\u0412\u0421科技有限公司",  # Cyrillic А В С
        "江门市ＡＢＣ科技有限公司",  # full width
        "江门市 A B C 科技有限公司",
    ]
    assert all(name_key(v) == name_key(registered) for v in variants), [name_key(v) for v in variants]
    assert name_key("江门市c\u043er\u0435科技有限公司") == name_key("江门市core科技有限公司")  # Cyrillic о and е
    assert name_key("江门市1O1科技有限公司") == name_key("江门市l01科技有限公司")  # TR39: 1/l, 0/O
    assert name_key("江门市ABC科技有限公司") != name_key("江门市ABD科技有限公司")
    # Invisible characters are refused in a name, and the key would ignore them anyway.
    assert codes(form(enterprise__name="江门市云帆\u200b软件科技有限公司")) == {
        "text_invalid_characters": ["enterprise", "name"]}


def test_the_newest_re_keying_revision_folds_as_names_do() -> None:
    """Keys of names held are re-keyed by a migration revision with the fold spelled out; the newest such
    revision must fold exactly as ``names`` does, or names held before and after it would not collide."""
    versions = Path(domain.__file__).parent / "migrations" / "versions"
    rekeying = sorted(p for p in versions.glob("*.py") if "_FOLDED" in p.read_text())
    spec = importlib.util.spec_from_file_location("rekeying_revision", rekeying[-1])
    assert spec is not None and spec.loader is not None
    revision = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(revision)
    assert revision._FOLDED == str.maketrans(CONFUSABLES)


# --- Rule 6: changes and moves ---------------------------------------------------------------------------------

CURRENT = domain.EnterpriseFacts(uscc="91440703MA00000000", name="江门市蓬江区云帆软件科技有限公司",
                                 entity_type="limited_company", district_code="440703",
                                 legal_representative=("resident_id", ZHANG))


def change_problems(**fields: Any) -> list[Any]:
    f = ChangeCreate.model_validate({"uscc": "91440700708039146Q", **fields})
    return domain.validate_change(f, CURRENT, today=TODAY)


def change(**fields: Any) -> dict[str, list]:
    return {p.code: p.loc for p in change_problems(**fields)}


def test_a_change_names_only_what_changes_and_each_is_checked() -> None:
    assert change() == {"nothing_to_change": []}
    new_address = {"town_code": "440703002", "road": "白沙大道", "number": "1号"}
    assert change(address=new_address, business_scope=["软件开发", "数据处理服务"]) == {}
    assert change(address={"town_code": "440705001", "road": "中心路", "number": "1号"}) == {
        "town_not_in_district": ["address", "town_code"]}
    assert change(name="江门市蓬江区云帆软件科技有限公司") == {"name_unchanged": ["name"]}
    assert change(name="江门市蓬江区云帆软件工作室") == {"name_lacks_form": ["name"]}
    assert change(registered_capital="0") == {"capital_invalid": ["registered_capital"]}
    assert change(district_code="440705", business_scope=["软件开发"]) == {
        "district_change_is_move": ["district_code"]}
    # The legal representative stays a director or the manager.
    assert change(officers=[{"name": "李四", "id_number": LI, "role": "executive_director"}]) == {
        "legal_representative_not_officer": ["officers"]}
    assert change(officers=[{"name": "张三", "id_number": ZHANG, "role": "executive_director"}]) == {}
    sole = dataclasses.replace(CURRENT, entity_type="sole_proprietorship", name="江门市蓬江区云帆软件工作室")
    f = ChangeCreate.model_validate({"uscc": "91440700708039146Q", "registered_capital": "10"})
    assert [p.code for p in domain.validate_change(f, sole, today=TODAY)] == ["capital_not_applicable"]


def test_a_move_goes_to_another_district_of_jiangmen_within_guangdong() -> None:
    to_xinhui = {"kind": "move", "district_code": "440705", "to_province_city": "广东省江门市",
                 "address": {"town_code": "440705001", "road": "中心路", "number": "1号"}}
    assert change(**to_xinhui) == {}
    assert change(**{**to_xinhui, "to_province_city": "湖南省长沙市"}) == {
        "move_outside_province": ["to_province_city"]}
    assert change(**{**to_xinhui, "to_province_city": "广东省广州市"}) == {
        "move_city_not_served": ["to_province_city"]}
    assert change(**{**to_xinhui, "district_code": "440703",
                     "address": {"town_code": "440703002", "road": "白沙大道", "number": "1号"}}) == {
        "move_same_district": ["district_code"]}
    assert {(p.code, tuple(p.loc)) for p in change_problems(kind="move")} == {
        ("required", ("district_code",)), ("required", ("address",)), ("required", ("to_province_city",))}
    assert change(kind="transfer", business_scope=["软件开发"]) == {"change_kind_unknown": ["kind"]}
    assert change(to_province_city="广东省江门市", business_scope=["软件开发"]) == {
        "only_for_move": ["to_province_city"]}


def test_a_change_goes_to_samr_then_tax_unless_only_officers_change() -> None:
    change = SHIPPED.entry("enterprise_change", DAY)
    plan = domain.change_plan("change", ["address", "business_scope"], change)
    assert plan.departments == [Department.samr, Department.tax]
    assert plan.step(Department.tax).depends_on == (Department.samr,)
    assert domain.change_plan("change", ["officers"], change).departments == [Department.samr]
    move = domain.change_plan("move", ["address", "district_code"], SHIPPED.entry("enterprise_move", DAY))
    assert [s.kind for s in move.steps] == ["move_registration", "tax_move"]


def test_supplement_merges_objects_and_replaces_lists() -> None:
    merged = merge_supplement({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": 3}, "l": [2]})
    assert merged == {"a": {"b": 1, "c": 3}, "l": [2]}
