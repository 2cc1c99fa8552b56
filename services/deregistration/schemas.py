"""Request and response models of the deregistration service (Create / Public, as the API shows them). The
forms themselves are the domain's (``forms.py``); this module adds what only the HTTP API has."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.deregistration.forms import DeregistrationCreate, SuspensionCreate
from shared.applications import ApplicationPublic
from shared.forms import FormModel
from shared.pagination import Page


class DeregistrationSupplement(FormModel):
    """What an applicant sends back after a department returned the application (补正)."""

    reason: str | None = Field(default=None, max_length=2000)
    undertaking: dict[str, Any] | None = None
    liquidation: dict[str, Any] | None = None
    liquidation_report: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=2000)


class ObjectionCreate(FormModel):
    """An objection to a simplified deregistration during its public notice (异议)."""

    reason: str = Field(min_length=1, max_length=2000)
    contact: str | None = Field(default=None, max_length=200)


class ObjectionPublic(BaseModel):
    id: str
    application_id: str
    reason: str
    department: str | None = Field(default=None, description="the department that objected (None: the public)")
    created_at: datetime
    application_status: str | None = None


class NoticePublic(BaseModel):
    """The public notice (简易注销公示) or creditor announcement (债权人公告) period."""

    kind: Literal["public_notice", "objection_window", "creditor_notice"]
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None = Field(description="when the period was over (samr may be asked from then on)")
    cancelled_at: datetime | None = Field(description="when an objection stopped it")


class EligibilityCheck(BaseModel):
    check: str
    outcome: Literal["passed", "skipped"]
    note: str = ""


class InvestorOnRecord(BaseModel):
    name: str
    id_number_masked: str


class DeregistrationPublic(ApplicationPublic):
    service: Literal["deregistration"] = "deregistration"
    procedure: str
    uscc: str
    enterprise_name: str
    district_code: str
    stated_reason: str = Field(description="why the enterprise is deregistered (the request's reason)")
    notice: NoticePublic | None
    objections: list[ObjectionPublic] = Field(description="the public's, and departments' during the notice")
    liquidation_filed_at: datetime | None = Field(description="一般注销: when the liquidation group was filed")
    eligibility: list[EligibilityCheck] = Field(
        description="简易注销: what the eligibility checks found (a check that could not be made: skipped, why)")


class EnterprisePublic(BaseModel):
    """An enterprise as this service knows it (from events), and what deregistering it would involve."""

    uscc: str
    name: str
    district_code: str
    status: str
    status_changed_at: datetime | None
    entity_type: str
    departments: dict[str, list[str]] = Field(
        description="the departments one application reaches, per procedure (simplified, general)")
    investors: list[InvestorOnRecord] = Field(description="as registration announced them (IDs masked)")
    restrictions: list[str] = Field(description="what bars a simplified deregistration, as known from events")
    deregistration_id: str | None
    suspension_id: str | None


class PublicNotice(BaseModel):
    """What the public sees of a deregistration in its notice period (to object, or to declare a claim)."""

    application_id: str
    number: str
    procedure: str
    kind: str
    uscc: str
    enterprise_name: str
    stated_reason: str
    starts_at: datetime
    ends_at: datetime
    signatories: list[str] = Field(description="names only: the investors who undertook, or the liquidation group")


class SuspensionExtension(FormModel):
    end_date: str = Field(description="the new ISO end date, later than the current one")
    reason: str | None = Field(default=None, max_length=500)


class SuspensionResume(FormModel):
    """An early end of a suspension (提前恢复营业), published now."""

    resumed_on: str | None = Field(default=None, max_length=20,
                                   description="ISO date business resumed (defaults to today); published within "
                                               "30 days of it")


class ExtensionPublic(BaseModel):
    previous_end_date: date
    end_date: date
    filed_at: datetime


class SuspensionPublic(BaseModel):
    id: str
    number: str
    uscc: str
    enterprise_name: str
    applicant: str
    submitted_by: str
    status: Literal["filed", "active", "resumed", "ended", "withdrawn"]
    cause: str | None = Field(description="the statutory cause (None: filed before causes were kept)")
    reason: str
    start_date: date
    end_date: date
    delivery_address: str
    resumed_on: date | None
    published_at: datetime | None = Field(description="when the early end was published (提前恢复营业公示)")
    extensions: list[ExtensionPublic]
    days_used_before: int = Field(description="days of earlier suspensions of this enterprise, toward the cap")
    days_allowed: int = Field(description="the 3-year cap in days")
    created_at: datetime
    updated_at: datetime


SuspensionList = Page[SuspensionPublic]


__all__ = ["DeregistrationCreate", "SuspensionCreate"]
