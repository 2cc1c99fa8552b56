"""Request and response models of the registration service (Create / Public, as the API shows them).

Request fields are deliberately lenient in type (strings for codes, amounts and ID numbers): the domain
rules check their content so that every problem is reported in one reply (一次告知)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.applications import TaskPublic


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AddressIn(_In):
    """An address in the standard address data (住所申报: declared, no property certificate)."""

    town_code: str | None = None
    road: str | None = None
    number: str | None = None
    building: str | None = None
    room: str | None = None
    text: str | None = Field(default=None, description="free text instead of the parts")
    residential: bool = Field(default=False, description="a residential property used for business (住改商)")


class ResidentialUseDeclaration(_In):
    """住改商: the applicant's declaration for using a residence as business premises."""

    commitment: bool = False
    neighbours_consent: bool = False


class EnterpriseIn(_In):
    name: str
    entity_type: str
    district_code: str
    address: AddressIn
    extra_addresses: list[AddressIn] = Field(default_factory=list, description="一照多址")
    residential_use: ResidentialUseDeclaration | None = None
    registered_capital: str | None = None
    business_scope: list[str] = Field(default_factory=list)


class PersonIn(_In):
    name: str
    id_number: str
    mobile: str | None = None


class InvestorIn(_In):
    name: str
    id_number: str
    share_percent: str


class InvoicesIn(_In):
    types: list[str] = Field(default_factory=list)
    quantity: int = 0


class PackageIn(_In):
    """The package services chosen with the licence."""

    seal: bool = False
    tax: bool = True
    invoices: InvoicesIn | None = None
    social_insurance: bool = False
    housing_fund: bool = False
    bank_account: bool = False
    bank_name: str | None = None


class RegistrationCreate(_In):
    enterprise: EnterpriseIn
    legal_representative: PersonIn
    investors: list[InvestorIn] = Field(default_factory=list)
    package: PackageIn = Field(default_factory=PackageIn)
    contact: PersonIn | None = None
    on_behalf_of: str | None = Field(default=None, description="a clerk names the applicant they act for")


class RegistrationSupplement(_In):
    """What an applicant sends back after a department returned the application (补正)."""

    enterprise: dict[str, Any] | None = None
    legal_representative: dict[str, Any] | None = None
    investors: list[dict[str, Any]] | None = None
    package: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    note: str | None = None


class EnterpriseSummary(BaseModel):
    uscc: str
    name: str
    status: str


class LicenceSummary(BaseModel):
    verification_code: str


class RegistrationPublic(BaseModel):
    id: str
    number: str
    service: Literal["registration"] = "registration"
    status: str
    enterprise_name: str
    district_code: str
    applicant: str
    submitted_by: str
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    reason: str | None
    missing: list[str]
    tasks: list[TaskPublic]
    enterprise: EnterpriseSummary | None = None
    license: LicenceSummary | None = None


class RegistrationList(BaseModel):
    items: list[RegistrationPublic]
    total: int
    limit: int
    offset: int


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
