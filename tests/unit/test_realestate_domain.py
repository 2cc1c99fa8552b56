"""The pure rules of 不动产登记+交易+缴税 (§17): the unit number, the forms' problems all at once, the
registration fee and the taxes by date, the exact split of one payment (清分), the parallel fan-out and
when entry (登簿) may happen, and what a title query shows to anyone but the owner."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.realestate import domain
from services.realestate.domain import (
    Account,
    Assessment,
    BankAction,
    BankRole,
    Charge,
    Mortgage,
    Owner,
    Seizure,
    Title,
    TransferFacts,
    Use,
)
from services.realestate.forms import (
    FORM,
    MortgageCreate,
    MortgageRelease,
    PropertyImport,
    TransferCreate,
)
from shared.catalogue import load_catalogue
from shared.departments import Department as D
from shared.fanout import TaskStatus as T
from shared.fanout import ready_steps
from shared.money import yuan_to_fen
from shared.refusals import Conflict

RATES = domain.load_rates()
SHIPPED = json.loads(resources.files("shared").joinpath("data", "realestate_rates.json").read_text(encoding="utf-8"))
TODAY = date(2025, 6, 1)  # after Guangdong's 2024-12-01 deed tax change
BEFORE_2024_CHANGE = date(2024, 6, 1)
UNIT = "440703003012GB00123F00010001"  # 蓬江区, zone 003012, parcel GB00123, building 0001 unit 0001
SELLER_ID = "440703198506123012"
SELLER2_ID = "440705197803151237"
BUYER_ID = "440781199001014527"
ENTERPRISE = "91440700708039146Q"
BANK = "91310110666007217T"
OTHER_BANK = "91110000600037341L"


def transfer(**changes: Any) -> TransferCreate:
    """A valid transfer by an individual to an individual, with top-level parts replaced."""
    data: dict[str, Any] = {
        "unit_number": UNIT,
        "buyer": {"sub": "buyer-sub", "name": "李四", "id_number": BUYER_ID},
        "price_yuan": "1000000.00",
        "buyer_family_has_other_home": False,
        "acquired_on": "2020-03-10",
        "linked_utilities": True,
    }
    data.update(changes)
    return TransferCreate.model_validate(data)


def property_import(**changes: Any) -> PropertyImport:
    """A valid import of a home two people own half each, mortgaged once."""
    data: dict[str, Any] = {
        "unit_number": UNIT,
        "premises": {"district_code": "440703", "town_code": "440703006", "road": "建设三路", "number": "88号",
                     "building": "1栋", "room": "1201"},
        "use": "residential",
        "area_m2": "100.00",
        "owners": [
            {"sub": "seller-sub", "name": "张三", "id_number": SELLER_ID, "share_percent": "50"},
            {"sub": None, "name": "王小红", "id_number": SELLER2_ID, "share_percent": "50"},
        ],
        "certificate_number": "粤(2020)江门市不动产权第0012345号",
        "mortgages": [{"mortgagee_uscc": BANK, "mortgagee_name": "某银行江门分行", "amount_yuan": "300000.00",
                       "certificate_number": "粤(2020)江门市不动产证明第0004567号"}],
    }
    data.update(changes)
    return PropertyImport.model_validate(data)


def title(**changes: Any) -> Title:
    """The title of the import above, with fields replaced."""
    base = domain.title_from_import(property_import(), "广东省江门市蓬江区环市街道建设三路88号1栋1201室")
    return replace(base, **changes)


def facts(**changes: Any) -> TransferFacts:
    """A home of 100 m² sold for 1,000,000 yuan by an individual to an individual's family's first home."""
    values: dict[str, Any] = {
        "use": Use.residential, "area_m2": Decimal("100"), "price_fen": yuan_to_fen("1000000"),
        "buyer_is_individual": True, "buyer_family_has_other_home": False, "buyer_small_micro": False,
        "seller_is_individual": True, "seller_acquired_on": date(2022, 1, 10), "seller_family_only_home": False,
        "extra_certificates": 0,
    }
    values.update(changes)
    return TransferFacts(**values)


def problems(found: list[Any]) -> set[tuple[tuple[str | int, ...], str]]:
    return {(tuple(p.loc), p.code) for p in found}


# --- The forms -------------------------------------------------------------------------------------------------


def test_the_examples_are_valid_forms() -> None:
    assert FORM.model is TransferCreate and FORM.version == 1
    assert domain.validate_transfer(transfer(), today=TODAY) == []
    assert domain.validate_import(property_import()) == []


def test_the_forms_are_strict_from_a_request_and_bounded() -> None:
    with pytest.raises(ValidationError):
        transfer(surprise=True)
    with pytest.raises(ValidationError):
        transfer(buyer={"name": "李四", "id_number": BUYER_ID, "age": 30})
    with pytest.raises(ValidationError):
        transfer(extra_certificates=10**12)
    with pytest.raises(ValidationError):
        transfer(unit_number="4" * 101)
    with pytest.raises(ValidationError):
        property_import(owners=[{"name": "张三", "id_number": SELLER_ID, "share_percent": "1"}] * 51)


def test_a_stored_transfer_with_a_field_since_removed_still_reads() -> None:
    stored = transfer().model_dump()
    stored["retired_field"] = "x"
    assert FORM.read(stored, version=1).unit_number == UNIT


# --- The unit number (不动产单元号) ---------------------------------------------------------------------------


def test_a_unit_number_has_28_characters_in_its_layers() -> None:
    assert len(UNIT) == 28
    assert domain.unit_number_problem(UNIT) is None
    assert domain.unit_number_problem("440785001002JC00001W00000000") is None  # 恩平市, collective land, no fixture


@pytest.mark.parametrize("number", [
    UNIT[:-1],  # 27 characters
    UNIT + "1",  # 29
    UNIT.lower(),
    "440703003012G100123F00010001",  # the parcel starts with two letters
    "440703003012GB00123X00010001",  # X is no fixture code
    "440703003012GB00123F0001000１",  # a full-width digit
    "4407030030１2GB00123F00010001",
])
def test_a_malformed_unit_number_is_refused(number: str) -> None:
    assert domain.unit_number_problem(number) == "unit_number_invalid"


def test_a_unit_number_of_another_city_is_refused() -> None:
    assert domain.unit_number_problem("440104003012GB00123F00010001") == "unit_number_not_jiangmen"  # 广州越秀
    assert domain.unit_number_problem("440700003012GB00123F00010001") == "unit_number_not_jiangmen"  # the city


def test_the_unit_numbers_district_must_be_the_premises_district() -> None:
    other = "440705003012GB00123F00010001"  # 新会区
    assert problems(domain.validate_import(property_import(unit_number=other))) == {
        (("unit_number",), "unit_district_mismatch")}


# --- Every problem at once (一次告知) -----------------------------------------------------------------------------


def test_a_bad_transfer_is_told_every_problem_at_once() -> None:
    bad = transfer(
        unit_number="440104003012GB00123F00010001",
        buyer={"name": "", "id_number": "440781199001014526", "uscc": None, "is_small_micro_enterprise": True},
        price_yuan="1e6",
        acquired_on="2025-06-02",
        extra_certificates=-1,
        mortgage={"existing": "forget", "new_loan": {"lender_uscc": "91310110666007217X", "lender_name": "某银行",
                                                    "amount_yuan": "2000000.00"}},
    )
    assert problems(domain.validate_transfer(bad, today=TODAY)) == {
        (("unit_number",), "unit_number_not_jiangmen"),
        (("buyer", "name"), "required"),
        (("buyer", "id_number"), "resident_id_check_digit"),
        (("buyer", "is_small_micro_enterprise"), "small_micro_needs_uscc"),
        (("price_yuan",), "amount_invalid"),
        (("acquired_on",), "acquired_in_future"),
        (("extra_certificates",), "extra_certificates_invalid"),
        (("mortgage", "existing"), "existing_mortgage_choice_unknown"),
        (("mortgage", "new_loan", "lender_uscc"), "uscc_invalid"),
    }
    messages = domain.validate_transfer(bad, today=TODAY)
    assert all(p.message_zh and p.message_en for p in messages)


def test_a_loan_above_the_price_and_an_empty_mortgage_part_are_refused() -> None:
    loan = {"lender_uscc": OTHER_BANK, "lender_name": "某银行", "amount_yuan": "1000000.01"}
    assert problems(domain.validate_transfer(transfer(mortgage={"new_loan": loan}), today=TODAY)) == {
        (("mortgage", "new_loan", "amount_yuan"), "loan_exceeds_price")}
    assert problems(domain.validate_transfer(transfer(mortgage={}), today=TODAY)) == {
        (("mortgage",), "mortgage_part_empty")}


@pytest.mark.parametrize(("buyer", "expected"), [
    ({"name": "李四"}, {(("buyer", "id_number"), "party_id_required")}),
    ({"name": "李四", "id_number": BUYER_ID, "uscc": ENTERPRISE}, {(("buyer", "uscc"), "party_id_both")}),
    ({"name": "某公司", "uscc": "91440700708039146A"}, {(("buyer", "uscc"), "uscc_invalid")}),
    ({"name": "某公司", "uscc": ENTERPRISE, "is_small_micro_enterprise": True}, set()),
])
def test_a_party_is_a_person_or_an_enterprise(buyer: dict[str, Any], expected: set[Any]) -> None:
    assert problems(domain.validate_transfer(transfer(buyer=buyer), today=TODAY)) == expected


def test_co_ownership_shares_must_sum_to_exactly_100_with_at_most_4_decimals() -> None:
    def owners(*shares: str) -> list[dict[str, Any]]:
        ids = [SELLER_ID, SELLER2_ID, BUYER_ID]
        return [{"name": "张三", "id_number": ids[i], "share_percent": s} for i, s in enumerate(shares)]

    assert domain.validate_import(property_import(owners=owners("33.3333", "33.3333", "33.3334"))) == []
    assert problems(domain.validate_import(property_import(owners=owners("33.3333", "33.3333", "33.3333")))) == {
        (("owners",), "owner_shares_not_100")}
    assert problems(domain.validate_import(property_import(owners=owners("50.00001", "49.99999")))) == {
        (("owners", 0, "share_percent"), "owner_share_invalid"),
        (("owners", 1, "share_percent"), "owner_share_invalid")}
    assert problems(domain.validate_import(property_import(owners=owners("0", "100")))) == {
        (("owners", 0, "share_percent"), "owner_share_invalid")}


def test_an_import_reports_its_owners_encumbrances_and_premises_together() -> None:
    bad = property_import(
        premises={"district_code": "440703", "town_code": "440705100", "road": "建设三路", "number": "88号"},
        use="garden", area_m2="-3",
        owners=[{"name": "张三", "id_number": SELLER_ID, "share_percent": "50"},
                {"name": "张三", "id_number": SELLER_ID, "share_percent": "50"}],
        certificate_number="粤(2014)江门市不动产权第0012345号",
        mortgages=[{"mortgagee_uscc": BANK, "mortgagee_name": "某银行", "amount_yuan": "0",
                    "certificate_number": "粤(2020)江门市不动产权第0004567号"}],
        seizures=[{"authority": "", "reference": "(2025)粤0703执1号"}],
    )
    found = problems(domain.validate_import(bad))
    assert {
        (("use",), "use_unknown"),
        (("area_m2",), "area_invalid"),
        (("owners", 1), "owner_duplicate"),
        (("certificate_number",), "certificate_number_invalid"),
        (("mortgages", 0, "amount_yuan"), "amount_invalid"),
        (("mortgages", 0, "certificate_number"), "proof_number_invalid"),
        (("seizures", 0, "authority"), "required"),
    } <= found
    assert any(loc[0] == "premises" for loc, _ in found)


def test_a_mortgage_and_its_release_are_validated() -> None:
    good = MortgageCreate(unit_number=UNIT, mortgagor={"name": "张三", "id_number": SELLER_ID},
                          mortgagee_uscc=BANK, mortgagee_name="某银行江门分行", amount_yuan="500000",
                          term_start="2025-06-01", term_end="2045-05-31")
    assert domain.validate_mortgage(good) == []
    bad = good.model_copy(update={"amount_yuan": "0.001", "term_end": "2025-06-01", "mortgagee_uscc": "x"})
    assert problems(domain.validate_mortgage(bad)) == {
        (("amount_yuan",), "amount_invalid"), (("term_end",), "term_end_before_start"),
        (("mortgagee_uscc",), "uscc_invalid")}
    release = MortgageRelease(unit_number=UNIT, certificate_number="粤（2020）江门市不动产证明第0004567号",
                              mortgagee_uscc=BANK)
    assert domain.validate_release(release) == []
    assert problems(domain.validate_release(release.model_copy(
        update={"certificate_number": "粤(2020)江门市不动产权第0004567号"}))) == {
        (("certificate_number",), "proof_number_invalid")}


# --- What the title forbids ----------------------------------------------------------------------------------


def test_a_mortgaged_title_needs_the_choice_of_repaying_or_keeping_the_mortgage() -> None:
    assert problems(domain.title_problems(transfer(), title())) == {
        (("mortgage", "existing"), "mortgage_decision_required")}
    assert domain.title_problems(transfer(mortgage={"existing": "repay"}), title()) == []
    assert domain.title_problems(transfer(mortgage={"existing": "keep"}), title()) == []
    assert problems(domain.title_problems(transfer(mortgage={"existing": "repay"}), title(mortgages=()))) == {
        (("mortgage", "existing"), "no_mortgage_to_handle")}


def test_a_seized_title_cannot_be_transferred_or_mortgaged() -> None:
    seized = title(mortgages=(), seizures=(Seizure("江门市蓬江区人民法院", "(2025)粤0703执1号"),))
    assert problems(domain.title_problems(transfer(), seized)) == {(("unit_number",), "title_seized")}
    mortgage = MortgageCreate(unit_number=UNIT, mortgagor={"name": "张三", "id_number": SELLER_ID},
                              mortgagee_uscc=BANK, mortgagee_name="某银行", amount_yuan="1",
                              term_start="2025-06-01", term_end="2026-06-01")
    assert problems(domain.mortgage_title_problems(mortgage, seized)) == {(("unit_number",), "title_seized")}
    stranger = mortgage.model_copy(update={"mortgagor": mortgage.mortgagor.model_copy(
        update={"id_number": BUYER_ID})})
    assert problems(domain.mortgage_title_problems(stranger, title())) == {(("mortgagor",), "mortgagor_not_owner")}


def test_the_buyer_must_not_already_hold_the_property() -> None:
    same_person = transfer(buyer={"name": "王小红", "id_number": SELLER2_ID.lower()}, mortgage={"existing": "repay"})
    assert problems(domain.title_problems(same_person, title())) == {(("buyer",), "buyer_is_owner")}
    same_account = transfer(buyer={"sub": "seller-sub", "name": "李四", "id_number": BUYER_ID},
                            mortgage={"existing": "repay"})
    assert problems(domain.title_problems(same_account, title())) == {(("buyer",), "buyer_is_owner")}


# --- Registration fee (不动产登记费) ------------------------------------------------------------------------------


@pytest.mark.parametrize(("use", "fen"), [("residential", 8000), ("parking", 8000), ("non_residential", 55000)])
def test_the_registration_fee_per_case_by_use(use: str, fen: int) -> None:
    assert domain.registration_fee(use, 0, small_micro=False, day=TODAY, rates=RATES) == fen


def test_the_first_certificate_is_free_and_each_extra_costs_10_yuan() -> None:
    assert domain.registration_fee(Use.residential, 2, small_micro=False, day=TODAY, rates=RATES) == 8000 + 2000
    assert domain.registration_fee(Use.non_residential, 1, small_micro=False, day=TODAY, rates=RATES) == 56000


def test_small_and_micro_enterprises_pay_no_registration_fee() -> None:
    assert domain.registration_fee(Use.non_residential, 3, small_micro=True, day=TODAY, rates=RATES) == 0


@pytest.mark.parametrize("kind", ["cancellation", "correction", "objection"])
def test_cancellation_correction_and_objection_registrations_are_free(kind: str) -> None:
    assert domain.registration_fee(Use.non_residential, 0, small_micro=False, day=TODAY, rates=RATES,
                                   kind=domain.RegistrationKind(kind)) == 0


def test_the_registration_fee_is_the_one_in_force_on_the_day() -> None:
    data = copy.deepcopy(SHIPPED)
    data["registration_fee"].append({"effective_from": "2027-01-01", "residential_yuan": "60.00",
                                     "parking_yuan": "40.00", "non_residential_yuan": "500.00",
                                     "extra_certificate_yuan": "5.00"})
    rates = domain.parse_rates(data)
    assert domain.registration_fee(Use.parking, 1, small_micro=False, day=date(2026, 12, 31), rates=rates) == 9000
    assert domain.registration_fee(Use.parking, 1, small_micro=False, day=date(2027, 1, 1), rates=rates) == 4500
    with pytest.raises(LookupError):
        domain.registration_fee(Use.residential, 0, small_micro=False, day=date(2016, 12, 31), rates=rates)


def test_the_shipped_rates_keep_both_deed_tax_periods() -> None:
    assert RATES.deed_tax_on(date(2024, 11, 30)).area_threshold_m2 == 90
    assert RATES.deed_tax_on(date(2024, 12, 1)).area_threshold_m2 == 140


@pytest.mark.parametrize(("change", "message"), [
    ({"vat": [{"effective_from": "2016-05-01", "rate_percent": 5, "home_exempt_years": 2}]}, "rate"),
    ({"vat": []}, "non-empty"),
    ({"deed_tax": [{"effective_from": "2024-12-01", "area_threshold_m2": "140"}]}, "expected exactly"),
    ({"income_tax": [{"effective_from": "2026-02-30", "deemed_rate_percent": "1", "only_home_exempt_years": 5}]},
     "ISO date"),
    ({"registration_fee": [
        {"effective_from": "2018-01-01", "residential_yuan": "80", "parking_yuan": "80",
         "non_residential_yuan": "550", "extra_certificate_yuan": "10"},
        {"effective_from": "2017-01-01", "residential_yuan": "80", "parking_yuan": "80",
         "non_residential_yuan": "550", "extra_certificate_yuan": "10"}]}, r"registration_fee\[1\]: not after"),
    ({"registration_fee": [
        {"effective_from": "2017-01-01", "residential_yuan": "80", "parking_yuan": "80",
         "non_residential_yuan": "550", "extra_certificate_yuan": "10.001"}]}, r"registration_fee\[0\]: an amount"),
])
def test_bad_rates_data_is_refused_naming_the_entry(change: dict[str, Any], message: str) -> None:
    data = {**copy.deepcopy(SHIPPED), **change}
    with pytest.raises(ValueError, match=message):
        domain.parse_rates(data)


# --- Deed tax (契税) -----------------------------------------------------------------------------------------------

PRICE = yuan_to_fen("1000000")


@pytest.mark.parametrize(("day", "area", "other_home", "percent"), [
    # From 2024-12-01: 140 m² the bracket, first home 1% / 1.5%, second home 1% / 2%.
    (TODAY, "100", False, "1"),
    (TODAY, "140", False, "1"),  # 140 m² and below (及以下)
    (TODAY, "140.01", False, "1.5"),
    (TODAY, "100", True, "1"),
    (TODAY, "140.01", True, "2"),
    # Before: 90 m² the bracket.
    (BEFORE_2024_CHANGE, "90", False, "1"),
    (BEFORE_2024_CHANGE, "100", False, "1.5"),
    (BEFORE_2024_CHANGE, "90", True, "1"),
    (BEFORE_2024_CHANGE, "100", True, "2"),
    (date(2024, 11, 30), "100", True, "2"),
    (date(2024, 12, 1), "100", True, "1"),
])
def test_deed_tax_of_an_individuals_home_by_home_count_area_and_period(day: date, area: str, other_home: bool,
                                                                        percent: str) -> None:
    f = facts(area_m2=Decimal(area), buyer_family_has_other_home=other_home)  # held 2+ years: no VAT
    assert domain.assess(f, day, RATES).deed_tax == PRICE * Decimal(percent) / 100


@pytest.mark.parametrize(("change", "deed_tax_fen"), [
    ({"buyer_is_individual": False}, 3_000_000),  # a home held long: no VAT, 3% of the price
    # Not a home: VAT is due whatever the holding, so 3% of 95,238,095 fen = 2,857,142.85 → 2,857,143.
    ({"use": Use.non_residential}, 2_857_143),
    ({"use": Use.parking}, 2_857_143),
])
def test_an_enterprise_buyer_and_a_non_home_pay_the_general_3_percent(change: dict[str, Any],
                                                                      deed_tax_fen: int) -> None:
    f = facts(seller_acquired_on=date(2010, 1, 1), **change)
    assert domain.assess(f, TODAY, RATES).deed_tax == deed_tax_fen


def test_deed_tax_is_on_the_price_without_vat() -> None:
    recent = facts(seller_acquired_on=date(2024, 1, 10))  # held under 2 years: VAT due
    a = domain.assess(recent, TODAY, RATES)
    assert a.vat == 4_761_905  # 100,000,000 × 5 / 105 = 4,761,904.76… fen
    assert a.deed_tax == 952_381  # 1% of 95,238,095 fen, rounded half up


# --- VAT (增值税): the 2-year rule ---------------------------------------------------------------------------------


def test_vat_exempt_for_an_individuals_home_held_2_years_or_more() -> None:
    assert domain.assess(facts(seller_acquired_on=date(2023, 6, 1)), TODAY, RATES).vat == 0  # exactly 2 years
    assert domain.assess(facts(seller_acquired_on=date(2023, 6, 2)), TODAY, RATES).vat == 4_761_905


def test_vat_on_a_29_february_acquisition_counts_from_the_28th() -> None:
    f = facts(seller_acquired_on=date(2020, 2, 29))
    assert domain.assess(f, date(2022, 2, 28), RATES).vat == 0
    assert domain.assess(f, date(2022, 2, 27), RATES).vat > 0


@pytest.mark.parametrize("change", [{"use": Use.non_residential}, {"use": Use.parking},
                                    {"seller_is_individual": False}])
def test_vat_on_a_non_home_or_an_enterprise_seller_whatever_the_holding(change: dict[str, Any]) -> None:
    assert domain.assess(facts(seller_acquired_on=date(2000, 1, 1), **change), TODAY, RATES).vat == 4_761_905


@pytest.mark.parametrize(("price_fen", "vat_fen"), [(10, 0), (11, 1), (21, 1), (31, 1), (32, 2)])
def test_vat_is_price_times_5_over_105_rounded_half_up_to_the_fen(price_fen: int, vat_fen: int) -> None:
    # 10/21 = 0.476 → 0; 11/21 = 0.524 → 1; 31/21 = 1.476 → 1; 32/21 = 1.524 → 2
    f = facts(price_fen=price_fen, seller_acquired_on=date(2025, 1, 1))
    assert domain.assess(f, TODAY, RATES).vat == vat_fen


# --- Individual income tax (个人所得税): 满五唯一 -------------------------------------------------------------------


def test_income_tax_exempt_for_the_familys_only_home_held_5_years_or_more() -> None:
    only_home = facts(seller_family_only_home=True, seller_acquired_on=date(2020, 6, 1))
    assert domain.assess(only_home, TODAY, RATES).income_tax == 0
    assert domain.assess(only_home, date(2025, 5, 31), RATES).income_tax == PRICE // 100


def test_income_tax_1_percent_when_not_the_only_home_or_held_under_5_years() -> None:
    not_only = facts(seller_family_only_home=False, seller_acquired_on=date(2010, 1, 1))
    assert domain.assess(not_only, TODAY, RATES).income_tax == PRICE // 100
    short = facts(seller_family_only_home=True, seller_acquired_on=date(2022, 1, 10))
    assert domain.assess(short, TODAY, RATES).income_tax == PRICE // 100


def test_income_tax_only_of_an_individual_seller_and_no_relief_for_a_non_home() -> None:
    assert domain.assess(facts(seller_is_individual=False), TODAY, RATES).income_tax == 0
    shop = facts(use=Use.non_residential, seller_family_only_home=True, seller_acquired_on=date(2000, 1, 1))
    # VAT is due on a non-home, so 1% of the price without it: 952,380.95 fen → 952,381.
    assert domain.assess(shop, TODAY, RATES).income_tax == 952_381


def test_an_assessment_itemises_and_totals() -> None:
    a = domain.assess(facts(extra_certificates=1), TODAY, RATES)
    assert a == Assessment(deed_tax=1_000_000, vat=0, income_tax=1_000_000, registration_fee=9000)
    assert a.total == 2_009_000


def test_facts_come_from_the_form_and_the_title() -> None:
    f = domain.facts_for(transfer(mortgage={"existing": "repay"}), title())
    assert (f.use, f.area_m2, f.price_fen, f.buyer_is_individual, f.seller_is_individual) == (
        Use.residential, Decimal("100.00"), PRICE, True, True)
    assert f.seller_acquired_on == date(2020, 3, 10)


# --- One payment, split (清分) ----------------------------------------------------------------------------------

assessments = st.builds(Assessment, deed_tax=st.integers(0, 10**13), vat=st.integers(0, 10**13),
                        income_tax=st.integers(0, 10**13), registration_fee=st.integers(0, 10**7),
                        ).filter(lambda a: a.total > 0)


@given(assessments)
def test_the_split_sums_exactly_to_the_payment_and_nothing_is_negative(a: Assessment) -> None:
    allocations = domain.split_payment(a.total, a)
    assert sum(x.fen for x in allocations) == a.total
    assert all(x.fen > 0 for x in allocations)
    assert len({x.charge for x in allocations}) == len(allocations)  # one allocation per item


@given(assessments, st.integers(-(10**14), 10**14))
def test_a_payment_of_any_other_amount_is_refused(a: Assessment, paid: int) -> None:
    if paid == a.total:
        paid += 1
    with pytest.raises(Conflict) as refused:
        domain.split_payment(paid, a)
    assert refused.value.code == "payment_amount_wrong"


@given(assessments, st.integers(-100, 100).filter(lambda d: d != 0))
def test_a_payment_a_few_fen_off_is_refused(a: Assessment, off: int) -> None:
    with pytest.raises(Conflict) as refused:
        domain.split_payment(a.total + off, a)
    assert refused.value.code == "payment_amount_wrong"


def test_taxes_go_to_the_treasury_and_the_fee_to_the_registry() -> None:
    a = Assessment(deed_tax=1_000_000, vat=0, income_tax=1_000_000, registration_fee=8000)
    assert [(x.charge, x.account, x.fen) for x in domain.split_payment(2_008_000, a)] == [
        (Charge.deed_tax, Account.treasury, 1_000_000),
        (Charge.income_tax, Account.treasury, 1_000_000),
        (Charge.registration_fee, Account.registry, 8000),
    ]


def test_nothing_due_takes_no_payment_and_an_assessment_is_never_negative() -> None:
    with pytest.raises(Conflict) as refused:
        domain.split_payment(0, Assessment(0, 0, 0, 0))
    assert refused.value.code == "nothing_to_pay"
    with pytest.raises(ValueError):
        Assessment(deed_tax=-1, vat=0, income_tax=0, registration_fee=1)


# --- The fan-out and entry (登簿) ----------------------------------------------------------------------------------


def test_review_filing_and_tax_start_together_and_the_payment_follows_the_tax() -> None:
    plan = domain.plan_for(transfer(), load_catalogue().entry(domain.TRANSFER_ITEM, date(2026, 3, 2)))
    assert plan.departments == [D.nr, D.housing, D.tax, D.bank]
    assert [s.department for s in ready_steps(plan, {})] == [D.nr, D.housing, D.tax]
    assert plan.step(D.bank).depends_on == (D.tax,) and plan.step(D.bank).kind == domain.PAYMENT
    started: dict[str, T] = {D.nr: T.requested, D.housing: T.requested, D.tax: T.requested}
    assert ready_steps(plan, started) == []
    assessed: dict[str, T] = {**started, D.tax: T.approved}
    assert [s.department for s in ready_steps(plan, assessed)] == [D.bank]
    assert plan.working_days <= domain.LEGAL_MAX_WORKING_DAYS


def test_with_a_mortgage_part_the_bank_step_carries_the_lenders() -> None:
    f = transfer(mortgage={"existing": "repay", "new_loan": {"lender_uscc": OTHER_BANK, "lender_name": "新银行",
                                                             "amount_yuan": "600000"}})
    assert domain.catalogue_item(f) == domain.MORTGAGED_TRANSFER_ITEM
    guide = load_catalogue().entry(domain.catalogue_item(f), date(2026, 3, 2))
    assert domain.plan_for(f, guide).step(D.bank).kind == domain.MORTGAGE_AND_PAYMENT
    parts = domain.bank_parts(f, title().mortgages)
    assert [(p.role, p.action, p.uscc, p.amount_fen) for p in parts] == [
        (BankRole.payment, BankAction.collect, None, None),
        (BankRole.seller_lender, BankAction.consent_and_repay, BANK, 30_000_000),
        (BankRole.buyer_lender, BankAction.loan_and_mortgage, OTHER_BANK, 60_000_000),
    ]
    kept = domain.bank_parts(transfer(mortgage={"existing": "keep"}), title().mortgages)
    assert [(p.role, p.action) for p in kept] == [(BankRole.payment, BankAction.collect),
                                                  (BankRole.seller_lender, BankAction.notify)]


def test_entry_only_once_tax_is_paid_and_the_review_approved() -> None:
    everything: dict[str, T] = {D.nr: T.approved, D.housing: T.approved, D.tax: T.approved, D.bank: T.approved}
    assert domain.may_enter(everything)
    assert not domain.may_enter({**everything, D.bank: T.requested})  # assessed, not paid
    assert not domain.may_enter({**everything, D.nr: T.requested})
    assert not domain.may_enter({**everything, D.nr: T.returned})
    assert not domain.may_enter({**everything, D.housing: T.rejected})
    assert not domain.may_enter({})


def test_the_transfer_waits_for_payment_once_tax_is_assessed() -> None:
    assert domain.status_of({D.nr: T.requested, D.tax: T.approved, D.bank: T.requested}) == "awaiting_payment"
    assert domain.status_of({D.nr: T.requested, D.tax: T.requested}) == "in_progress"
    assert domain.status_of({D.nr: T.returned, D.tax: T.approved}) == "returned"
    assert domain.status_of({D.nr: T.rejected, D.tax: T.approved}) == "rejected"
    assert domain.Status.FINAL == {"completed", "rejected", "cancelled"}


def test_a_transfer_ending_before_entry_undoes_what_was_done() -> None:
    statuses: dict[str, T] = {D.nr: T.rejected, D.housing: T.approved, D.tax: T.approved, D.bank: T.requested}
    assert domain.undo_before_entry(statuses) == (
        (D.housing, "cancel_contract_filing"), (D.tax, "void_assessment"), (D.bank, "withdraw_request"))
    paid: dict[str, T] = {D.nr: T.rejected, D.housing: T.requested, D.tax: T.approved, D.bank: T.approved}
    assert (D.bank, "refund_and_withdraw") in domain.undo_before_entry(paid)


# --- Title query: masking for anyone but the owner ------------------------------------------------------------


def test_the_owner_sees_everything() -> None:
    view = domain.title_view(title(), viewer_is_owner=True)
    assert view["certificate_number"] == "粤(2020)江门市不动产权第0012345号"
    assert view["owners"][0] == {"name": "张三", "share_percent": "50", "id_number": SELLER_ID}
    assert view["mortgages"][0]["certificate_number"] == "粤(2020)江门市不动产证明第0004567号"


def test_anyone_else_sees_the_state_shares_and_encumbrances_with_personal_data_masked() -> None:
    enterprise = Owner("江门某某有限公司", Decimal("20"), uscc=ENTERPRISE)
    t = title(owners=(Owner("张三", Decimal("50"), SELLER_ID, sub="seller-sub"),
                      Owner("欧阳娜娜", Decimal("30"), SELLER2_ID), enterprise),
              seizures=(Seizure("江门市蓬江区人民法院", "(2025)粤0703执1号"),))
    view = domain.title_view(t, viewer_is_owner=False)
    assert "certificate_number" not in view
    assert (view["address"], view["use"], view["area_m2"]) == (t.address, "residential", "100.00")
    assert view["owners"] == [
        {"name": "张*", "share_percent": "50", "id_number": "440703********3012"},
        {"name": "欧***", "share_percent": "30", "id_number": "440705********1237"},
        {"name": "江门某某有限公司", "share_percent": "20", "uscc": ENTERPRISE},  # not personal data
    ]
    assert view["mortgages"] == [{"mortgagee_uscc": BANK, "mortgagee_name": "某银行江门分行",
                                  "amount_yuan": "300000.00"}]
    assert view["seizures"] == [{"authority": "江门市蓬江区人民法院", "reference": "(2025)粤0703执1号"}]
    text = json.dumps(view, ensure_ascii=False)
    assert SELLER_ID not in text and "张三" not in text and "seller-sub" not in text


def test_a_title_knows_its_owners_by_account() -> None:
    assert title().is_owner("seller-sub")
    assert not title().is_owner("buyer-sub")


def test_a_mortgage_on_the_title_keeps_its_amount_in_fen() -> None:
    assert title().mortgages == (Mortgage(BANK, "某银行江门分行", 30_000_000, "粤(2020)江门市不动产证明第0004567号"),)


# --- Electronic certificates (电子不动产权证书) ---------------------------------------------------------------------


def test_certificate_numbers_from_the_sequence() -> None:
    assert domain.format_certificate_number(2026, 123) == "粤(2026)江门市不动产权第0000123号"
    assert domain.format_certificate_number(2026, 9_999_999, proof=True) == "粤(2026)江门市不动产证明第9999999号"
    assert domain.format_certificate_number(2026, 1, place="台山市") == "粤(2026)台山市不动产权第0000001号"
    assert domain.is_certificate_number(domain.format_certificate_number(2026, 5))
    assert domain.is_certificate_number("粤（2026）江门市不动产权第0000005号")  # full-width brackets as printed
    assert not domain.is_certificate_number(domain.format_certificate_number(2026, 5, proof=True))
    for bad in [(2026, 0), (2026, 10_000_000), (2014, 1)]:
        with pytest.raises(ValueError):
            domain.format_certificate_number(*bad)


def test_verification_codes_are_long_random_and_readable() -> None:
    codes = {domain.new_verification_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 16 and set(c) <= set(domain.VERIFICATION_ALPHABET) for c in codes)
    assert not set("01IO") & set(domain.VERIFICATION_ALPHABET)
