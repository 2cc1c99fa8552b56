"""The checks every form shares (shared.validation) and the one message table (shared.messages)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from shared.messages import MESSAGES, message
from shared.validation import Checks, plain_decimal

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text", ["1e3", "1_000", "１０", "-5", "+5", " 5", "5.", ".5", "NaN", "Infinity", "1,000",
                                  "0x10", ""])
def test_only_plain_decimals_are_numbers(text: str) -> None:
    assert plain_decimal(text) is None


def test_plain_decimals_keep_their_exact_value() -> None:
    assert plain_decimal("1000000.00") == Decimal("1000000.00")
    assert plain_decimal("33.3334") == Decimal("33.3334")


def test_decimal_bounds_and_places_are_named_problems() -> None:
    checks = Checks()
    assert checks.decimal("100.001", ["a"], invalid="capital_invalid", precision="capital_precision", places=2,
                          maximum=Decimal(10**12)) is None
    assert checks.decimal("10000000000000", ["b"], invalid="capital_invalid", places=2,
                          maximum=Decimal(10**12)) is None
    assert checks.decimal("0", ["c"], invalid="capital_invalid", places=2, maximum=Decimal(10**12)) is None
    assert [(p.loc, p.code) for p in checks.problems] == [
        (["a"], "capital_precision"), (["b"], "capital_invalid"), (["c"], "capital_invalid")]


@pytest.mark.parametrize("text", ["云帆\u200b科技", "云帆\u2060科技", "云帆\u00ad科技", "abc\u202edcba", "a\nb",
                                  "a\x00b"])
def test_text_with_control_or_format_characters_is_refused(text: str) -> None:
    checks = Checks()
    assert checks.text(text, ["name"], what=("名称", "the name"), max_length=100) is None
    assert checks.problems[0].code == "text_invalid_characters"


def test_text_length_and_presence() -> None:
    checks = Checks()
    checks.text("", ["a"], what=("原因", "the reason"), max_length=5)
    checks.text("123456", ["b"], what=("原因", "the reason"), max_length=5)
    assert checks.text("12345", ["c"], what=("原因", "the reason"), max_length=5) == "12345"
    assert [(p.loc, p.code) for p in checks.problems] == [(["a"], "required"), (["b"], "too_long")]
    assert checks.problems[1].message_zh == "原因不能超过5字"


def test_dates_are_iso_and_within_range() -> None:
    checks = Checks()
    assert checks.date("2026-02-30", ["a"]) is None
    assert checks.date("9998-01-01", ["b"], last=date(2100, 1, 1)) is None
    assert checks.date("2026-02-28", ["c"]) == date(2026, 2, 28)
    assert [p.code for p in checks.problems] == ["date_invalid", "date_out_of_range"]


def test_identifiers() -> None:
    checks = Checks()
    assert checks.resident_id("11010519491231002X", ["ok"])
    assert not checks.resident_id("110105194912310021", ["bad"])
    assert checks.uscc("91440700708039146Q", ["ok"])
    assert not checks.uscc("91440700708039146A", ["bad"])
    assert [p.code for p in checks.problems] == ["resident_id_check_digit", "uscc_invalid"]


def test_every_code_a_rule_emits_has_both_messages() -> None:
    """Every ``checks.add(..., "code")`` in the services names a code of the table, so no applicant is
    ever shown a missing message."""
    used: set[str] = set()
    for path in [*ROOT.glob("services/*/domain.py"), *ROOT.glob("services/*/commands.py")]:
        used |= set(re.findall(r"\.add\(\s*\[[^\]]*\],\s*\"([a-z_0-9]+)\"", path.read_text()))
    assert used, "the pattern finds the rules' codes"
    assert used <= set(MESSAGES), sorted(used - set(MESSAGES))
    for code, (zh, en) in MESSAGES.items():
        assert zh and en, code
    assert message("too_long", what_zh="原因", what_en="the reason", max=5) == ("原因不能超过5字",
                                                                               "the reason has at most 5 characters")
