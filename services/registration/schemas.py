"""Request and response models of the registration service (Create / Public, as the API shows them). The
form itself is the domain's (``forms.py``); this module adds what only the HTTP API has."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.registration.forms import (
    AddressIn,
    ChangeCreate,
    OfficerIn,
    RegistrationCreate,
    ResidentialUseDeclaration,
)
from shared.applications import ApplicationPublic
from shared.events import OfficerSummary
from shared.forms import FormModel


class RegistrationSupplement(FormModel):
    """What an applicant sends back after a department returned the application (补正)."""

    enterprise: dict[str, Any] | None = None
    legal_representative: dict[str, Any] | None = None
    investors: list[dict[str, Any]] | None = None
    officers: list[dict[str, Any]] | None = None
    beneficial_owners: list[dict[str, Any]] | None = None
    operator: dict[str, Any] | None = None
    finance_officer: dict[str, Any] | None = None
    tax_agent: dict[str, Any] | None = None
    package: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=2000)


class ChangeSupplement(FormModel):
    """What an applicant sends back after a department returned a change or move (补正): the values to file
    instead (the USCC, the kind and a new name stay as filed)."""

    name: str | None = Field(default=None, max_length=100)
    address: AddressIn | None = None
    residential_use: ResidentialUseDeclaration | None = None
    registered_capital: str | None = Field(default=None, max_length=40)
    business_scope: list[str] | None = Field(default=None, max_length=50)
    officers: list[OfficerIn] | None = Field(default=None, max_length=50)
    district_code: str | None = Field(default=None, max_length=100)
    to_province_city: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


class EnterpriseSummary(BaseModel):
    uscc: str
    name: str
    status: str


class LicenceSummary(BaseModel):
    verification_code: str


class RegistrationPublic(ApplicationPublic):
    service: Literal["registration"] = "registration"
    enterprise_name: str
    district_code: str
    enterprise: EnterpriseSummary | None = None
    license: LicenceSummary | None = None


class ChangeValues(BaseModel):
    """What a change or move files, as the applicant sees it (officers' IDs masked)."""

    name: str | None = None
    district_code: str | None = None
    to_province_city: str | None = None
    address: str | None = Field(default=None, description="the new standard address (标准化地址)")
    residential_use: bool | None = None
    registered_capital: str | None = None
    business_scope: list[str] | None = None
    officers: list[OfficerSummary] | None = None


class ChangePublic(ApplicationPublic):
    """A change (变更登记) or intra-province move (省内迁移) of a registered enterprise."""

    service: Literal["registration"] = "registration"
    kind: Literal["change", "move"]
    uscc: str
    enterprise_name: str = Field(description="the enterprise's name when the change was filed")
    district_code: str = Field(description="the enterprise's district when the change was filed")
    changes: ChangeValues
    enterprise: EnterpriseSummary | None = Field(default=None, description="the enterprise once the change is "
                                                                           "registered")
    license: LicenceSummary | None = None



class LicencePublic(BaseModel):
    """What anyone who scans the licence code sees (扫码亮证): no personal ID numbers."""

    verification_code: str
    status: Literal["active", "suspended", "revoked"]
    uscc: str
    name: str
    entity_type: str
    entity_type_zh: str
    legal_representative: str
    registered_capital: str | None
    address: str
    business_scope: list[str]
    registered_at: datetime
    status_changed_at: datetime | None = None


__all__ = ["ChangeCreate", "ChangePublic", "ChangeSupplement", "LicencePublic", "RegistrationCreate",
           "RegistrationPublic", "RegistrationSupplement"]
