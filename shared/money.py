"""Money: a decimal string in yuan in the API (``"1234.50"``), an integer number of fen in the database.

Conversions are exact: an amount with a fraction of a fen is refused rather than rounded, because
rounding a fee or a tax silently makes the split of a payment (清分入账) stop adding up.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

__all__ = ["MAX_FEN", "YuanAmount", "fen_to_yuan", "yuan_to_fen"]

MAX_FEN = 2**63 - 1
"""The largest amount the database can hold (a signed 64-bit BIGINT of fen)."""

# [0-9] rather than \d, and no exponent or underscores: Decimal() would accept "1e3", "1_000" and
# non-ASCII digits, none of which is a money amount an applicant typed.
_YUAN_RE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_CENT = Decimal("0.01")


def yuan_to_fen(value: str | Decimal | int) -> int:
    """Convert an amount in yuan to an exact integer number of fen: ``"1234.5"`` -> ``123450``.

    Accepts a plain decimal string (optional sign, digits, optional fraction; surrounding spaces ignored),
    a finite ``Decimal`` or an ``int``. Trailing zeros are fine (``"1.230"``); a fraction of a fen is not.
    Raises ``ValueError`` for a malformed string, NaN or infinity, more than 2 significant decimal places,
    or an amount beyond ``MAX_FEN``; ``TypeError`` for floats and other types (a float cannot hold most
    amounts exactly).
    """
    if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
        raise TypeError(f"expected str, Decimal or int, not {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip()
        if not _YUAN_RE.fullmatch(text):
            raise ValueError(f"not a decimal amount in yuan: {value!r}")
        amount = Decimal(text)
    else:
        amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError("amount must be a finite number")
    # Compare before any arithmetic: Decimal arithmetic rounds to the context precision, comparison does not.
    if abs(amount) > Decimal(MAX_FEN) / 100:
        raise ValueError("amount is too large")
    cents = amount.quantize(_CENT)
    if cents != amount:
        raise ValueError(f"more than 2 decimal places: {value!r}")
    return int(cents.scaleb(2))


def fen_to_yuan(fen: int) -> str:
    """Format an integer number of fen as yuan with exactly 2 decimals: ``123450`` -> ``"1234.50"``."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"expected int, not {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan}.{cents:02d}"


def _validate_yuan(value: Any) -> Decimal:
    if isinstance(value, float):
        # JSON numbers arrive as floats; their shortest repr is what the sender wrote ("12.5", not 12.4999…).
        value = repr(value)
    try:
        fen = yuan_to_fen(value)
    except TypeError as exc:
        raise PydanticCustomError("yuan_type",
                                  "amount must be a decimal string in yuan, e.g. \"1234.50\"") from exc
    except ValueError as exc:
        raise PydanticCustomError("yuan_format", "amount must be a decimal string in yuan with at most 2 "
                                  "decimals, e.g. \"1234.50\" ({reason})", {"reason": str(exc)}) from exc
    if fen < 0:
        raise PydanticCustomError("yuan_negative", "amount must not be negative")
    # Through fen so that the value always carries exactly 2 decimals and "-0" becomes 0.00.
    return Decimal(fen_to_yuan(fen))


YuanAmount = Annotated[
    Decimal,
    PlainValidator(_validate_yuan),
    PlainSerializer(lambda amount: f"{amount:.2f}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$", "examples": ["1234.50"],
                    "description": "amount in yuan, at most 2 decimals"}),
]
"""A non-negative amount in yuan for request and response models.

Accepts a decimal string (or a JSON number) with at most 2 significant decimals, holds a ``Decimal`` with
exactly 2 decimals, and serialises as a string with exactly 2 decimals (``"1234.50"``). Refunds and
corrections are expressed by the operation, not by a negative amount. Errors have the types
``yuan_type``, ``yuan_format`` and ``yuan_negative``. Convert with ``yuan_to_fen`` before storing.
"""
