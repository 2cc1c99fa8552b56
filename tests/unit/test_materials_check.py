"""The check of a form's materials against several catalogue items at once (one application of several items,
e.g. power and water together): what each item asks for, given once; circumstances as each item knows them."""

from __future__ import annotations

import re
from datetime import date

import pytest

from shared.catalogue import load_catalogue
from shared.materials import FormMaterials, MaterialInfo, MaterialRef, check_materials

DAY = date(2025, 3, 3)
CATALOGUE = load_catalogue()
PDF_ID = "00000000-0000-4000-8000-000000000001"
FOUND = {PDF_ID: MaterialInfo(id=PDF_ID, media_type="application/pdf", kind=None, size=1000)}
FORM = frozenset({"connection_application", "load_information", "water_use_information"})


def named(problems: list) -> list[str]:
    """The material codes the problems name (every one is a missing key material here)."""
    assert {p.code for p in problems} <= {"material_missing"}
    return [re.search(r"\((\w+)\)", p.message_en).group(1) for p in problems]  # type: ignore[union-attr]


def test_a_material_two_items_ask_for_is_asked_once_and_deferrable_ones_of_each_are_pending() -> None:
    facts = FormMaterials(circumstances=frozenset({"enterprise", "credit_report_district"}), carried=FORM,
                          certificates=frozenset({"business_licence", "property_certificate"}))
    problems, pending = check_materials(CATALOGUE, ["power_high_voltage_connection", "water_connection"], DAY, [],
                                        {}, facts)
    assert problems == []
    assert [p.code for p in pending] == ["receiving_works_design", "indoor_pipe_drawing"]


def test_a_key_material_of_either_item_missing_is_named_once() -> None:
    facts = FormMaterials(circumstances=frozenset({"person", "road_works"}), carried=FORM)
    problems, pending = check_materials(CATALOGUE, ["power_high_voltage_connection", "water_connection"], DAY, [],
                                        {}, facts)
    assert named(problems) == ["applicant_identity", "property_certificate", "works_plan"] and pending == []
    supplied = [MaterialRef(code="works_plan", id=PDF_ID), MaterialRef(code="property_certificate", id=PDF_ID)]
    carried = FormMaterials(circumstances=facts.circumstances, carried=FORM | {"applicant_identity"})
    problems, pending = check_materials(CATALOGUE, ["power_high_voltage_connection", "water_connection"], DAY,
                                        supplied, FOUND, carried)
    assert problems == []
    assert {p.code for p in pending} == {"receiving_works_design", "indoor_pipe_drawing", "traffic_organisation_plan"}


def test_an_alternative_the_form_carries_stands_for_the_material_where_the_catalogue_takes_it() -> None:
    facts = FormMaterials(circumstances=frozenset({"enterprise", "credit_report_district"}),
                          carried=FORM | {"credit_report"}, certificates=frozenset({"business_licence"}))
    problems, _ = check_materials(CATALOGUE, "power_low_voltage_connection", DAY, [], {}, facts)
    assert problems == []
    elsewhere = FormMaterials(circumstances=frozenset({"enterprise"}), carried=facts.carried,
                              certificates=facts.certificates)
    problems, _ = check_materials(CATALOGUE, "power_low_voltage_connection", DAY, [], {}, elsewhere)
    assert named(problems) == ["property_certificate"]


def test_a_circumstance_no_item_knows_is_a_mistake() -> None:
    facts = FormMaterials(circumstances=frozenset({"no_such_circumstance"}), carried=FORM)
    with pytest.raises(ValueError, match="no_such_circumstance"):
        check_materials(CATALOGUE, ["water_connection", "gas_connection"], DAY, [], {}, facts)
