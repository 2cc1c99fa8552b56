"""Request and response models of the real-estate service that only the HTTP API has (the forms are the
domain's, ``forms.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.realestate.forms import MortgageCreate, MortgageRelease, PropertyImport, TransferCreate
from shared.applications import ApplicationPublic
from shared.forms import FormModel


class TransferSupplement(FormModel):
    """What the seller sends back after a department returned the transfer (补正)."""

    buyer: dict[str, Any] | None = None
    price_yuan: str | None = Field(default=None, max_length=40)
    acquired_on: str | None = Field(default=None, max_length=20)
    extra_certificates: int | None = Field(default=None, ge=0, le=50)
    note: str | None = Field(default=None, max_length=2000)


class SeizureCreate(FormModel):
    """A seizure (查封) entered by the registry on a court's or another authority's ruling."""

    authority: str = Field(min_length=1, max_length=200, description="e.g. 江门市蓬江区人民法院")
    reference: str = Field(min_length=1, max_length=100, description="the ruling's reference (文书号)")


class SeizurePublic(BaseModel):
    id: str
    unit_number: str
    authority: str
    reference: str
    registered_at: datetime


class ChargePublic(BaseModel):
    charge: str = Field(description="deed_tax (契税), vat (增值税), income_tax (个人所得税), registration_fee (登记费)")
    amount: str = Field(description="yuan")


class AllocationPublic(BaseModel):
    charge: str
    account: str = Field(description="treasury (国库, 入库) or registry (登记机构账户, 入账)")
    amount: str


class PaymentPublic(BaseModel):
    paid: str | None = Field(description="yuan, as taken by the payment channel")
    reference: str | None
    allocations: list[AllocationPublic]
    refunded: bool
    undone: list[dict[str, str]] = Field(description="what was undone before entry, by department")


class CertificateSummary(BaseModel):
    number: str
    verification_code: str


class RegistryApplicationPublic(ApplicationPublic):
    service: Literal["realestate"] = "realestate"
    kind: Literal["transfer", "mortgage", "mortgage_release"]
    unit_number: str
    address: str
    district_code: str
    buyer_name: str | None
    confirmed_at: datetime | None
    amount_due: str | None = Field(description="the one payment, yuan: every tax and fee together")
    charges: list[ChargePublic]
    payment: PaymentPublic | None
    entered_at: datetime | None = Field(description="entry in the register (登簿)")
    certificates: list[CertificateSummary] = Field(description="issued at entry")
    linked_utilities: bool


class PropertyPublic(BaseModel):
    unit_number: str
    address: str
    use: str
    area_m2: str
    certificate_number: str
    certificate_verification_code: str


class TitleOwner(BaseModel):
    name: str
    share_percent: str
    id_number: str | None = None
    uscc: str | None = None


class TitleMortgage(BaseModel):
    mortgagee_uscc: str
    mortgagee_name: str
    amount_yuan: str
    certificate_number: str | None = None


class TitleSeizure(BaseModel):
    authority: str
    reference: str


class TitlePublic(BaseModel):
    """A title as the query answers it: everything for the owner; the public part, masked, for others."""

    unit_number: str
    district_code: str
    address: str
    use: str
    area_m2: str
    owners: list[TitleOwner]
    mortgages: list[TitleMortgage]
    seizures: list[TitleSeizure]
    certificate_number: str | None = None
    full_view: bool = Field(description="whether this is the owner's whole view")


class CertificatePublic(BaseModel):
    """What anyone who scans a certificate's code sees: valid or cancelled, the property, masked holders."""

    number: str
    kind: Literal["title", "mortgage"]
    status: Literal["active", "cancelled"]
    unit_number: str
    address: str
    use: str
    area_m2: str
    holders: list[str]
    issued_at: datetime
    cancelled_at: datetime | None


__all__ = ["MortgageCreate", "MortgageRelease", "PropertyImport", "TransferCreate"]
