"""Unit tests for shared.divisions: the division table and standard-address resolution."""

from __future__ import annotations

import pytest

from shared.divisions import (
    COUNTY_CODES,
    AddressProblem,
    Division,
    get_division,
    is_town_of,
    normalize_address_text,
    resolve_address,
    towns_of,
)

EXAMPLE_FULL_TEXT = "广东省江门市蓬江区环市街道建设三路88号1201室"


def codes(problems: list[AddressProblem]) -> list[tuple[str, str]]:
    return [(p.field, p.code) for p in problems]


def test_county_codes_are_the_seven_of_jiangmen() -> None:
    assert set(COUNTY_CODES) == {"440703", "440704", "440705", "440781", "440783", "440784", "440785"}


def test_get_division() -> None:
    assert get_division("440703006") == Division("440703006", "环市街道", "subdistrict", "440703")
    assert get_division("440703").name == "蓬江区"  # type: ignore[union-attr]
    assert get_division("440703999") is None


def test_is_town_of() -> None:
    assert is_town_of("440703006", "440703")
    assert not is_town_of("440781103", "440703")  # 白沙镇 is in 台山市
    assert not is_town_of("440703", "440700")  # a county is not a town
    assert not is_town_of("440703999", "440703")


def test_towns_of() -> None:
    towns = towns_of("440703")
    assert [t.name for t in towns] == ["白沙街道", "潮连街道", "环市街道", "棠下镇", "荷塘镇", "杜阮镇"]
    assert towns_of("999999") == ()


def test_every_town_belongs_to_a_county() -> None:
    for county in COUNTY_CODES:
        assert towns_of(county), county


def test_normalize_address_text() -> None:
    assert normalize_address_text("广东省 江门市\u3000蓬江区") == "蓬江区"
    assert normalize_address_text("广东江门市蓬江区") == "蓬江区"
    assert normalize_address_text("江门市蓬江区建设三路８８号") == "蓬江区建设三路88号"
    assert normalize_address_text("Ａ座\u200b １２０１室") == "A座1201室"
    # 广东路 is a road, not the province.
    assert normalize_address_text("广东路8号") == "广东路8号"


def test_example_address_resolves() -> None:
    address, problems = resolve_address("440703", "440703006", "建设三路", "88号", room="1201室")
    assert problems == []
    assert address is not None
    assert (address.district_code, address.town_code, address.road, address.number, address.room) == (
        "440703", "440703006", "建设三路", "88号", "1201室")
    assert address.building is None
    assert address.full_text == EXAMPLE_FULL_TEXT
    assert (address.district_name, address.town_name) == ("蓬江区", "环市街道")


def test_number_without_hao_and_bare_room_are_normalised() -> None:
    address, problems = resolve_address("440703", "440703006", "建设三路", "088", room="1201")
    assert problems == []
    assert address is not None and address.number == "88号" and address.full_text == EXAMPLE_FULL_TEXT


def test_full_width_and_space_variants_normalise() -> None:
    address, problems = resolve_address(
        " 440703 ", "４４０７０３００６", "建设 三路", "８８ 号", room="１２０１室")
    assert problems == []
    assert address is not None and address.full_text == EXAMPLE_FULL_TEXT


def test_unknown_town_is_reported() -> None:
    address, problems = resolve_address("440703", "440703999", "建设三路", "88号")
    assert address is None
    assert codes(problems) == [("town_code", "unknown_town")]
    assert "440703999" in problems[0].message_zh and "440703999" in problems[0].message_en


def test_town_of_another_district_is_reported() -> None:
    address, problems = resolve_address("440703", "440781103", "建设三路", "88号")
    assert address is None
    assert codes(problems) == [("town_code", "town_not_in_district")]
    assert "台山市" in problems[0].message_zh


def test_unknown_district_is_reported() -> None:
    _, problems = resolve_address("440700", "440703006", "建设三路", "88号")
    assert codes(problems) == [("district_code", "unknown_district")]


def test_every_problem_is_reported_at_once() -> None:
    address, problems = resolve_address("440703", "440781103", "建设三", "八十八号")
    assert address is None
    assert codes(problems) == [
        ("town_code", "town_not_in_district"),
        ("road", "road_unrecognised"),
        ("number", "number_invalid"),
    ]
    assert all(p.message_zh and p.message_en for p in problems)


def test_missing_parts_are_reported() -> None:
    address, problems = resolve_address("", None, None, "  ")
    assert address is None
    assert codes(problems) == [
        ("district_code", "district_missing"),
        ("town_code", "town_missing"),
        ("road", "road_missing"),
        ("number", "number_missing"),
    ]


@pytest.mark.parametrize("number", ["0", "88号楼", "-1", "88号号", "1e3"])
def test_bad_numbers(number: str) -> None:
    _, problems = resolve_address("440703", "440703006", "建设三路", number)
    assert codes(problems) == [("number", "number_invalid")]


@pytest.mark.parametrize(("road", "ok"), [
    ("江门大道中", True), ("建设路东段", True), ("港口一路", True), ("紫茶新村", True), ("仓后街", True),
    ("建设", False), ("路", False), ("万达广场", False), ("建设三路88号", False),
])
def test_road_suffixes(road: str, ok: bool) -> None:
    _, problems = resolve_address("440703", "440703006", road, "88")
    assert (problems == []) is ok, problems


@pytest.mark.parametrize("text", [
    "江门市蓬江区环市街道建设三路88号1201室",
    "广东省江门市蓬江区环市街道建设三路88号1201室",
    "广东省 江门市 蓬江区 环市街道 建设三路 ８８号 １２０１室",
    "江门蓬江区环市街道建设三路88号1201",
    "蓬江区环市街道建设三路88号1201室",
])
def test_free_text_resolves(text: str) -> None:
    address, problems = resolve_address("", None, None, None, text=text)
    assert problems == []
    assert address is not None
    assert (address.district_code, address.town_code, address.road, address.number, address.room) == (
        "440703", "440703006", "建设三路", "88号", "1201室")
    assert address.full_text == EXAMPLE_FULL_TEXT


def test_free_text_with_building() -> None:
    text = "江门市新会区会城街道今古洲大道3号A座501室"
    address, problems = resolve_address("", None, None, None, text=text)
    assert problems == []
    assert address is not None
    assert (address.district_code, address.town_code, address.road, address.number) == (
        "440705", "440705001", "今古洲大道", "3号")
    assert (address.building, address.room) == ("A座", "501室")


def test_free_text_town_implies_district() -> None:
    address, problems = resolve_address("", None, None, None, text="江门市环市街道建设三路88号")
    assert problems == []
    assert address is not None and address.district_code == "440703"


def test_free_text_with_district_and_town_codes_from_the_form() -> None:
    address, problems = resolve_address("440703", "440703006", None, None, text="建设三路88号1201室")
    assert problems == []
    assert address is not None and address.full_text == EXAMPLE_FULL_TEXT


def test_free_text_town_of_another_district() -> None:
    address, problems = resolve_address("", None, None, None, text="江门市蓬江区白沙镇建设三路88号")
    assert address is None
    assert codes(problems) == [("text", "town_not_in_district")]


def test_free_text_contradicting_the_district_code() -> None:
    _, problems = resolve_address("440704", None, None, None, text="蓬江区环市街道建设三路88号")
    assert ("text", "district_mismatch") in codes(problems)


def test_free_text_unknown_town_names_it() -> None:
    _, problems = resolve_address("", None, None, None, text="江门市蓬江区某某街道建设三路88号")
    assert codes(problems) == [("text", "unknown_town")]
    assert "某某街道" in problems[0].message_zh


def test_free_text_says_what_is_missing() -> None:
    address, problems = resolve_address("", None, None, None, text="江门市某某花园")
    assert address is None
    assert codes(problems) == [
        ("text", "district_missing"),
        ("text", "town_missing"),
        ("text", "road_unrecognised"),
        ("text", "number_missing"),
    ]


def test_free_text_without_number() -> None:
    _, problems = resolve_address("", None, None, None, text="蓬江区环市街道建设三路")
    assert codes(problems) == [("text", "number_missing")]


@pytest.mark.parametrize("text", ["x" * 10_000, "号" * 300, "路" * 300, "1" * 300, "\x00\ud800", "？？？"])
def test_hostile_text_never_raises(text: str) -> None:
    address, problems = resolve_address("", None, None, None, text=text)
    assert address is None and problems
