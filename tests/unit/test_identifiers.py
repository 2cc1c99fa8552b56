"""Unit tests for shared.identifiers: USCC, organisation code, resident ID, mobile, application numbers."""

from __future__ import annotations

import random
from datetime import date

import pytest
from stdnum.cn import ric, uscc

from shared.identifiers import (
    APPLICATION_NUMBER_RE,
    USCC_CHARSET,
    USCC_CHECKSUM_EXCEPTIONS,
    birth_date_of,
    document_number_problem,
    format_application_number,
    generate_org_code,
    generate_uscc,
    is_valid_mobile,
    is_valid_org_code,
    is_valid_resident_id,
    is_valid_uscc,
    make_uscc,
    mask_document_number,
    mask_mobile,
    mask_resident_id,
    normalise_uscc,
    org_code_check_char,
    resident_id_problem,
    uscc_check_char,
    uscc_lookalike_fix,
)

REAL_USCCS = ["91440700708039146Q", "91310110666007217T", "91110000600037341L"]
RESIDENT_ID = "11010519491231002X"


@pytest.mark.parametrize("code", REAL_USCCS)
def test_real_usccs_are_valid(code: str) -> None:
    assert is_valid_uscc(code)
    assert uscc_check_char(code[:17]) == code[17]


@pytest.mark.parametrize("code", REAL_USCCS)
def test_embedded_org_codes_of_real_usccs_pass_gb11714(code: str) -> None:
    assert is_valid_org_code(code[8:17])


@pytest.mark.parametrize("code", REAL_USCCS)
def test_every_single_character_substitution_is_caught(code: str) -> None:
    # A mod-31 check over a 31-character set detects every single substitution.
    for position in range(18):
        for replacement in USCC_CHARSET:
            if replacement == code[position]:
                continue
            corrupted = code[:position] + replacement + code[position + 1:]
            assert not is_valid_uscc(corrupted), corrupted


@pytest.mark.parametrize("code", REAL_USCCS)
def test_adjacent_transpositions_are_caught(code: str) -> None:
    for position in range(17):
        swapped = code[:position] + code[position + 1] + code[position] + code[position + 2:]
        if swapped != code:
            assert not is_valid_uscc(swapped), swapped


@pytest.mark.parametrize("bad", [
    "",
    "91440700708039146",  # 17 characters
    "91440700708039146QQ",
    "91440700708039146q",  # lower case is not normalised by the validator
    "9144070070803914OQ",  # O is not in the character set
    "9A440700708039146Q",  # category A does not exist for authority 9
    "Z1440700708039146Q",  # unknown authority
    "914407A0708039146Q",  # division code not digits
])
def test_malformed_usccs_are_rejected(bad: str) -> None:
    assert not is_valid_uscc(bad)


@pytest.mark.parametrize("typed", [
    "91440700708039146q",  # lower case
    " 91440700708039146Q ",
    "9144 0700 7080 3914 6Q",  # grouped with spaces
    "91440700-70803914-6Q",  # and with dashes
    "９１４４０７００７０８０３９１４６Ｑ",  # full width
    "9144\u30000700708039146Q",  # an ideographic space
])
def test_typed_usccs_are_normalised_before_they_are_checked(typed: str) -> None:
    """USCC input normalisation: case, spaces, dashes and full width do not make a real code invalid."""
    assert normalise_uscc(typed) == "91440700708039146Q"
    assert is_valid_uscc(normalise_uscc(typed))


def test_normalisation_changes_no_character_into_another() -> None:
    assert normalise_uscc("9144O7OO7O8O39146Q") == "9144O7OO7O8O39146Q"  # an O stays an O
    assert normalise_uscc(None) is None  # type: ignore[arg-type]  # not a string: for the validator to refuse


@pytest.mark.parametrize(("typed", "meant"), [
    ("9144O7OO7O8O39146Q", "91440700708039146Q"),  # letter O for zero
    ("9I44O7OO7O8O39I46Q", "91440700708039146Q"),  # and letter I for one
    ("9131O11O666OO72I7t", "91310110666007217T"),  # lower case too
])
def test_o_and_i_typed_for_0_and_1_are_named(typed: str, meant: str) -> None:
    """A code that is valid once O is read as 0 and I as 1 gets that reading as a hint."""
    assert not is_valid_uscc(normalise_uscc(typed))
    assert uscc_lookalike_fix(typed) == meant


def test_no_hint_when_swapping_does_not_help() -> None:
    assert uscc_lookalike_fix("91440700708039146Q") is None  # valid already
    assert uscc_lookalike_fix("91440700708039146A") is None  # no O or I to swap
    assert uscc_lookalike_fix("9144O7OO7O8O39146A") is None  # swapping leaves it invalid


@pytest.mark.parametrize(("document_type", "number", "problem"), [
    ("resident_id", RESIDENT_ID, None),
    ("resident_id", "11010519491231002x", None),
    ("resident_id", "110105194912310021", "resident_id_check_digit"),
    ("hk_macao_permit", "H12345678", None),
    ("hk_macao_permit", "m1234567890", None),  # the 10-digit booklet
    ("hk_macao_permit", "12345678", "hk_macao_permit_invalid"),
    ("taiwan_permit", "12345678", None),
    ("taiwan_permit", "1234567890(B)", None),
    ("taiwan_permit", "H1234567", "taiwan_permit_invalid"),
    ("passport", "E12345678", None),
    ("passport", "ＥＡ１２３４５６７", None),  # full width
    ("passport", "E12-345", "passport_invalid"),
    ("military_id", "123", "document_type_unknown"),
])
def test_identity_documents_by_type(document_type: str, number: str, problem: str | None) -> None:
    assert document_number_problem(document_type, number) == problem


def test_documents_are_masked_by_type() -> None:
    assert mask_document_number("resident_id", RESIDENT_ID) == "110105********002X"
    assert mask_document_number("hk_macao_permit", "H12345678") == "H******78"
    assert mask_document_number("passport", "e 12345678") == "E******78"


def test_checksum_exception_list_is_explicit_and_empty() -> None:
    assert isinstance(USCC_CHECKSUM_EXCEPTIONS, frozenset)
    assert not USCC_CHECKSUM_EXCEPTIONS


def test_uscc_check_char_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        uscc_check_char("9144070070803914")
    with pytest.raises(ValueError):
        uscc_check_char("9144070070803914O")


def test_org_code_check_char() -> None:
    assert org_code_check_char("70803914") == "6"
    assert org_code_check_char("66600721") == "7"
    assert org_code_check_char("60003734") == "1"
    # D2143569: 13*3 + 2*7 + 1*9 + 4*10 + 3*5 + 5*8 + 6*4 + 9*2 = 199, 199 mod 11 = 1, 11 - 1 = 10 -> X
    assert org_code_check_char("D2143569") == "X"
    assert is_valid_org_code("D2143569X")
    # 00000000: sum 0, 11 - 0 = 11 -> 0
    assert org_code_check_char("00000000") == "0"


def test_org_code_validation() -> None:
    assert is_valid_org_code("708039146")
    assert not is_valid_org_code("708039145")
    assert not is_valid_org_code("70803914-6")
    assert not is_valid_org_code("70803914")
    assert not is_valid_org_code("7080391a6")
    with pytest.raises(ValueError):
        org_code_check_char("7080391")


def test_generated_org_codes_are_new_style_and_valid() -> None:
    rng = random.Random(20261126)
    for _ in range(200):
        code = generate_org_code(rng)
        assert len(code) == 9
        assert code.startswith("MA")
        assert is_valid_org_code(code)
        assert all(ch in USCC_CHARSET for ch in code)


def test_thousand_generated_usccs_are_valid_and_distinct() -> None:
    rng = random.Random(440703)  # seeded so that distinctness is a fact, not a probability
    codes = [generate_uscc("440703", rng=rng) for _ in range(1000)]
    assert all(is_valid_uscc(code) for code in codes)
    assert all(uscc.is_valid(code) for code in codes)  # the independent python-stdnum check agrees
    assert len(set(codes)) == 1000
    assert all(code.startswith("91440703MA") for code in codes)


def test_generated_usccs_with_system_randomness_are_valid() -> None:
    codes = [generate_uscc("440781", category="2") for _ in range(1000)]
    assert all(is_valid_uscc(code) and code.startswith("92440781") for code in codes)


def test_make_uscc_rebuilds_real_code() -> None:
    assert make_uscc("440700", "708039146") == "91440700708039146Q"
    assert make_uscc("110000", "600037341", authority="9", category="1") == "91110000600037341L"


@pytest.mark.parametrize(("division", "org", "authority", "category"), [
    ("44070", "708039146", "9", "1"),
    ("440700", "708039145", "9", "1"),
    ("440700", "708039146", "9", "4"),
    ("440700", "708039146", "Z", "1"),
])
def test_make_uscc_rejects_bad_parts(division: str, org: str, authority: str, category: str) -> None:
    with pytest.raises(ValueError):
        make_uscc(division, org, authority=authority, category=category)


def test_resident_id_example_is_valid() -> None:
    assert resident_id_problem(RESIDENT_ID) is None
    assert is_valid_resident_id(RESIDENT_ID)
    assert ric.is_valid(RESIDENT_ID)
    assert resident_id_problem(RESIDENT_ID.lower()) is None
    assert birth_date_of(RESIDENT_ID) == date(1949, 12, 31)


def test_resident_id_wrong_check_digit() -> None:
    assert resident_id_problem("110105194912310021") == "check_digit"


@pytest.mark.parametrize("bad", ["11010519491332002X", "11010519490230002X", "11010518991231002X"])
def test_resident_id_bad_birth_date(bad: str) -> None:
    assert resident_id_problem(bad) == "birth_date"
    with pytest.raises(ValueError):
        birth_date_of(bad)


def test_resident_id_birth_date_in_future() -> None:
    assert resident_id_problem(RESIDENT_ID, today=date(1949, 12, 30)) == "birth_date"
    assert resident_id_problem(RESIDENT_ID, today=date(1949, 12, 31)) is None


@pytest.mark.parametrize("bad", ["", "11010519491231002", "11010519491231002Y", "1101051949123100２X",
                                 "110105194912310021X", "A1010519491231002X"])
def test_resident_id_format(bad: str) -> None:
    assert resident_id_problem(bad) == "format"


def test_resident_id_masking() -> None:
    assert mask_resident_id(RESIDENT_ID) == "110105********002X"
    assert mask_resident_id("11010519491231002x") == "110105********002X"
    assert mask_resident_id("12345") == "*****"


@pytest.mark.parametrize("good", ["13800138000", "19912345678", "15012345678"])
def test_valid_mobiles(good: str) -> None:
    assert is_valid_mobile(good)


@pytest.mark.parametrize("bad", ["12800138000", "1380013800", "138001380000", "+8613800138000",
                                 "138 0013 8000", "1380013800０", ""])
def test_invalid_mobiles(bad: str) -> None:
    assert not is_valid_mobile(bad)


def test_mobile_masking() -> None:
    assert mask_mobile("13800138000") == "138****8000"
    assert mask_mobile("1234") == "****"


def test_application_number_format() -> None:
    number = format_application_number("QYKB", "440703", date(2026, 11, 26), 123)
    assert number == "QYKB-440703-20261126-000123"
    match = APPLICATION_NUMBER_RE.fullmatch(number)
    assert match is not None
    assert match["prefix"] == "QYKB" and match["sequence"] == "000123"


@pytest.mark.parametrize(("prefix", "district", "sequence"), [
    ("qykb", "440703", 1),
    ("Q", "440703", 1),
    ("QYKB", "4407", 1),
    ("QYKB", "440703", -1),
    ("QYKB", "440703", 1_000_000),
    ("QYKB-X", "440703", 1),
])
def test_application_number_rejects_bad_parts(prefix: str, district: str, sequence: int) -> None:
    with pytest.raises(ValueError):
        format_application_number(prefix, district, date(2026, 11, 26), sequence)
