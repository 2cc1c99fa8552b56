"""Request and response models of the registration service (Create / Public, as the API shows them). The
form itself is the domain's (``forms.py``); this module adds what only the HTTP API has."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.registration.forms import RegistrationCreate
from shared.applications import ApplicationPublic
from shared.forms import FormModel


class RegistrationSupplement(FormModel):
    """What an applicant sends back after a department returned the application (补正)."""

    enterprise: dict[str, Any] | None = None
    legal_representative: dict[str, Any] | None = None
    investors: list[dict[str, Any]] | None = None
    package: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
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


__all__ = ["LicencePublic", "RegistrationCreate", "RegistrationPublic", "RegistrationSupplement"]
