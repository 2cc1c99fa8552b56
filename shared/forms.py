"""Forms as applicants send them, and as they are stored.

A request's form is strict: unknown fields are refused, so a typo never passes silently. A stored form is
read leniently, because it was accepted under the form's shape of its day: fields since removed are
dropped, fields since added take their defaults, and a service's upgrade steps (version n → n + 1) run
first. So an application accepted before an upgrade still completes after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

F = TypeVar("F", bound="FormModel")
STORED = "stored"  # validation context flag: reading a stored form


class FormModel(BaseModel):
    """Base of every form part: strict from a request, lenient when read back from storage."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown_when_stored(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and info.context and info.context.get(STORED):
            known = set(cls.model_fields)
            known |= {f.alias for f in cls.model_fields.values() if f.alias}
            return {k: v for k, v in data.items() if k in known}
        return data


Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class FormShape:
    """A service's form model, its current version, and how to bring older stored forms up to it."""

    model: type[FormModel]
    version: int = 1
    # upgrades[n] turns a version-n form into a version-(n + 1) one.
    upgrades: Mapping[int, Upgrade] = field(default_factory=dict)

    def read(self, stored: Mapping[str, Any], version: int | None) -> Any:
        """The stored form as today's model: upgraded step by step, then validated leniently."""
        data = dict(stored)
        for step in range(version or 1, self.version):
            upgrade = self.upgrades.get(step)
            if upgrade is not None:
                data = upgrade(data)
        return self.model.model_validate(data, context={STORED: True})


class AddressPartsIn(FormModel):
    """An address as the standard address data (标准化地址) has it: town or subdistrict, road, number,
    building, room; or free text to be resolved instead of the parts. The district is the form's own."""

    town_code: str | None = Field(default=None, max_length=100)
    road: str | None = Field(default=None, max_length=100)
    number: str | None = Field(default=None, max_length=100)
    building: str | None = Field(default=None, max_length=100)
    room: str | None = Field(default=None, max_length=100)
    text: str | None = Field(default=None, max_length=300, description="free text instead of the parts")


class PremisesIn(AddressPartsIn):
    """Premises named with their district: an address in the standard address data (标准化地址)."""

    district_code: str = Field(max_length=100)
