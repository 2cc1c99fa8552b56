"""The checks every form uses, collecting every problem at once (一次告知) with messages from one table.

    checks = Checks()
    checks.text(form.reason, ["reason"], what=("原因", "the reason"), max_length=500)
    checks.resident_id(person.id_number, ["legal_representative", "id_number"])
    refuse_if(checks.problems)

Each check adds a ``FieldProblem`` (code and both languages from ``shared.messages``) and returns the
parsed value, or None when it added a problem.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from shared.identifiers import is_valid_mobile, is_valid_uscc, resident_id_problem
from shared.messages import message
from shared.refusals import FieldProblem

Loc = list[str | int]
# A decimal as a form writes it: plain ASCII digits and at most one point; no sign, exponent, grouping or
# full-width digits (Decimal() would take "1e3", "1_000" and "１０", and what it takes here is stored).
PLAIN_DECIMAL = re.compile(r"^[0-9]{1,30}(\.[0-9]{1,30})?$")
# Unicode categories refused in any text: controls, format characters (zero-width, bidi overrides, soft
# hyphen), surrogates, private use, unassigned. Line breaks are controls too: text fields are one line.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def plain_decimal(value: str | None) -> Decimal | None:
    """A decimal written as plain digits with at most one point, or None for anything else."""
    if value is None or not PLAIN_DECIMAL.match(value):
        return None
    return Decimal(value)


def decimal_places(number: Decimal) -> int:
    """How many digits a decimal has after its point."""
    exponent = number.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def has_refused_characters(text: str) -> bool:
    """Whether ``text`` has a control, format or unassigned character."""
    return any(unicodedata.category(ch) in REFUSED_CATEGORIES for ch in text)


class Checks:
    """A collector of problems with one method per kind of field."""

    def __init__(self) -> None:
        self.problems: list[FieldProblem] = []

    def add(self, loc: Loc, code: str, **params: Any) -> None:
        """Add the problem ``code`` at ``loc`` with its message's parameters."""
        zh, en = message(code, **params)
        self.problems.append(FieldProblem(loc=list(loc), code=code, message_zh=zh, message_en=en))

    def text(self, value: str | None, loc: Loc, *, what: tuple[str, str], max_length: int,
             required: bool = True) -> str | None:
        """A one-line text: present when required, at most ``max_length`` characters, no control or format
        characters."""
        what_zh, what_en = what
        if not value:
            if required:
                self.add(loc, "required", what_zh=what_zh, what_en=what_en)
            return None
        if len(value) > max_length:
            self.add(loc, "too_long", what_zh=what_zh, what_en=what_en, max=max_length)
            return None
        if has_refused_characters(value):
            self.add(loc, "text_invalid_characters", what_zh=what_zh, what_en=what_en)
            return None
        return value

    def count(self, items: Sequence[Any], loc: Loc, *, what: tuple[str, str], maximum: int,
              minimum: int = 0) -> bool:
        """A list with at least ``minimum`` (``required`` when 1 or more) and at most ``maximum`` items."""
        what_zh, what_en = what
        if len(items) < minimum:
            self.add(loc, "required", what_zh=what_zh, what_en=what_en)
            return False
        if len(items) > maximum:
            self.add(loc, "too_many", what_zh=what_zh, what_en=what_en, max=maximum)
            return False
        return True

    def resident_id(self, value: str, loc: Loc) -> bool:
        """A resident ID number (GB 11643: format, real birth date, check character)."""
        problem = resident_id_problem(value)
        if problem:
            self.add(loc, f"resident_id_{problem}")
            return False
        return True

    def uscc(self, value: str, loc: Loc) -> bool:
        """A unified social credit code (GB 32100, with its check character)."""
        if is_valid_uscc(value):
            return True
        self.add(loc, "uscc_invalid")
        return False

    def mobile(self, value: str | None, loc: Loc, *, required: bool) -> bool:
        """A mainland mobile number."""
        if value is None:
            if required:
                self.add(loc, "required", what_zh="手机号码", what_en="mobile number")
            return not required
        if not is_valid_mobile(value):
            self.add(loc, "mobile_invalid")
            return False
        return True

    def decimal(self, value: str | None, loc: Loc, *, invalid: str, places: int, maximum: Decimal,
                precision: str | None = None, **params: Any) -> Decimal | None:
        """A positive plain decimal of at most ``places`` decimals and at most ``maximum``; ``invalid`` and
        ``precision`` are the codes of the two ways it can be wrong (the latter defaults to the former)."""
        number = plain_decimal(value)
        if number is None or number <= 0 or number > maximum:
            self.add(loc, invalid, max=maximum, **params)
            return None
        if decimal_places(number) > places:
            self.add(loc, precision or invalid, max=maximum, **params)
            return None
        return number

    def date(self, value: str, loc: Loc, *, first: date = date(1900, 1, 1),
             last: date = date(2199, 12, 31)) -> date | None:
        """An ISO date (YYYY-MM-DD) within a sane range."""
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.add(loc, "date_invalid")
            return None
        if not first <= day <= last:
            self.add(loc, "date_out_of_range", first=first, last=last)
            return None
        return day
