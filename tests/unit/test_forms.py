"""Forms: strict from a request, lenient and upgraded when read back from storage (shared.forms)."""

from __future__ import annotations

import pytest
from pydantic import Field, ValidationError

from shared.forms import FormModel, FormShape


class Contact(FormModel):
    phone: str
    email: str | None = None


class Form(FormModel):
    name: str = Field(max_length=20)
    contact: Contact
    tags: list[str] = Field(default_factory=list)


def test_a_request_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        Form.model_validate({"name": "a", "contact": {"phone": "1", "fax": "2"}, "colour": "red"})
    assert {e["type"] for e in caught.value.errors()} == {"extra_forbidden"}


def test_a_stored_form_drops_what_this_version_no_longer_has_at_every_depth() -> None:
    shape = FormShape(Form)
    form = shape.read({"name": "a", "contact": {"phone": "1", "fax": "2"}, "colour": "red"}, 1)
    assert form == Form(name="a", contact=Contact(phone="1"))


def test_upgrades_run_in_order_from_the_stored_version() -> None:
    steps: list[int] = []

    def v1_to_v2(data: dict) -> dict:
        steps.append(1)
        return {**data, "contact": {"phone": data.pop("phone")}}

    def v2_to_v3(data: dict) -> dict:
        steps.append(2)
        return {**data, "tags": [data.pop("tag")]} if "tag" in data else data

    shape = FormShape(Form, version=3, upgrades={1: v1_to_v2, 2: v2_to_v3})
    assert shape.read({"name": "a", "phone": "1", "tag": "x"}, 1) == Form(name="a", contact=Contact(phone="1"),
                                                                          tags=["x"])
    assert steps == [1, 2]
    steps.clear()
    assert shape.read({"name": "a", "contact": {"phone": "1"}}, 3).name == "a"
    assert steps == []
