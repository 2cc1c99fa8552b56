"""Unit tests for shared.money: yuan strings in the API, integer fen in the database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from shared.money import MAX_FEN, YuanAmount, fen_to_yuan, yuan_to_fen


class Fee(BaseModel):
    amount: YuanAmount


@pytest.mark.parametrize(("yuan", "fen"), [
    ("0", 0), ("0.01", 1), ("0.1", 10), ("80", 8000), ("550.00", 55000), ("1234.5", 123450),
    ("1234.50", 123450), (" 10.20 ", 1020), ("-3.05", -305), ("1.230", 123),
    (Decimal("19.99"), 1999), (Decimal("1E+2"), 10000), (7, 700),
])
def test_yuan_to_fen(yuan: str | Decimal | int, fen: int) -> None:
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize("fen", [0, 1, 9, 10, 99, 100, 123450, -1, -305, 10**15 + 7, MAX_FEN, -MAX_FEN])
def test_round_trip(fen: int) -> None:
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


def test_fen_to_yuan_format() -> None:
    assert fen_to_yuan(123450) == "1234.50"
    assert fen_to_yuan(5) == "0.05"
    assert fen_to_yuan(-5) == "-0.05"
    assert fen_to_yuan(0) == "0.00"


@pytest.mark.parametrize("bad", ["1.234", "0.001", Decimal("0.005"), "1.2345"])
def test_three_decimals_rejected(bad: str | Decimal) -> None:
    with pytest.raises(ValueError, match="decimal places"):
        yuan_to_fen(bad)


@pytest.mark.parametrize("bad", ["", "abc", "1,000", "1e3", "1_000", "NaN", "inf", "١٢", ".5", "5.", "¥5",
                                 Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"),
                                 str(MAX_FEN)])
def test_malformed_rejected(bad: str | Decimal) -> None:
    with pytest.raises(ValueError):
        yuan_to_fen(bad)


@pytest.mark.parametrize("bad", [1.5, True, None])
def test_wrong_types_rejected(bad: object) -> None:
    with pytest.raises(TypeError):
        yuan_to_fen(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fen_to_yuan(bad)  # type: ignore[arg-type]


def test_yuan_amount_accepts_strings_and_numbers() -> None:
    assert Fee(amount="1234.5").amount == Decimal("1234.50")
    assert Fee(amount=80).amount == Decimal("80.00")
    assert Fee(amount=12.5).amount == Decimal("12.50")
    assert Fee(amount=0.1).amount == Decimal("0.10")  # not 0.1000000000000000055511151231257827
    assert Fee(amount=Decimal("7.1")).amount == Decimal("7.10")


def test_yuan_amount_serialises_with_two_decimals() -> None:
    fee = Fee(amount="1234.5")
    assert fee.model_dump_json() == '{"amount":"1234.50"}'
    assert fee.model_dump(mode="json") == {"amount": "1234.50"}
    assert Fee.model_validate_json('{"amount": "0"}').model_dump_json() == '{"amount":"0.00"}'
    assert Fee(amount="-0").model_dump_json() == '{"amount":"0.00"}'
    assert yuan_to_fen(Fee(amount="550").amount) == 55000


@pytest.mark.parametrize(("bad", "error_type"), [
    ("1.234", "yuan_format"), (0.125, "yuan_format"), ("abc", "yuan_format"), ("NaN", "yuan_format"),
    (float("inf"), "yuan_format"), ("-1", "yuan_negative"), (True, "yuan_type"), (None, "yuan_type"),
    ([1], "yuan_type"),
])
def test_yuan_amount_rejects(bad: object, error_type: str) -> None:
    with pytest.raises(ValidationError) as info:
        Fee(amount=bad)
    assert info.value.errors()[0]["type"] == error_type


def test_yuan_amount_json_schema_is_a_string() -> None:
    schema = Fee.model_json_schema()["properties"]["amount"]
    assert schema["type"] == "string"
