"""Request and response models of the deregistration service (Create / Public, as the API shows them).

Request fields are deliberately lenient in type (strings for codes, dates and ID numbers): the domain
rules check their content so that every problem is reported in one reply (一次告知)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.applications import TaskPublic


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SignatoryIn(_In):
    """A person who signs: an investor under the undertaking, or a member of the liquidation group."""

    name: str
    id_number: str


class UndertakingIn(_In):
    """简易注销: the investors' undertaking (全体投资人承诺书) that nothing is owed."""

    no_outstanding_debts: bool = False  # wages, social insurance, taxes and other debts all settled
    signatories: list[SignatoryIn] = Field(default_factory=list)


class LiquidationIn(_In):
    """一般注销: the liquidation group (清算组) filed with the application."""

    members: list[SignatoryIn] = Field(default_factory=list)
    leader: str | None = Field(default=None, description="the member who leads the group (defaults to the first)")


class DeregistrationCreate(_In):
    uscc: str
    procedure: str = Field(description='"simplified" (简易注销) or "general" (一般注销)')
    reason: str
    undertaking: UndertakingIn | None = None
    liquidation: LiquidationIn | None = None
    on_behalf_of: str | None = Field(default=None, description="a clerk names the applicant they act for")


class DeregistrationSupplement(_In):
    """What an applicant sends back after a department returned the application (补正)."""

    reason: str | None = None
    undertaking: dict[str, Any] | None = None
    liquidation: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=2000)


class ObjectionCreate(_In):
    """An objection to a simplified deregistration during its public notice (异议)."""

    reason: str = Field(min_length=1, max_length=2000)
    contact: str | None = Field(default=None, max_length=200)


class ObjectionPublic(BaseModel):
    id: str
    application_id: str
    reason: str
    created_at: datetime
    application_status: str | None = None


class NoticePublic(BaseModel):
    """The public notice (简易注销公示) or creditor announcement (债权人公告) period."""

    kind: Literal["public_notice", "creditor_notice"]
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None = Field(description="when the period was over and the departments were asked")
    cancelled_at: datetime | None = Field(description="when an objection stopped it")


class DeregistrationPublic(BaseModel):
    id: str
    number: str
    service: Literal["deregistration"] = "deregistration"
    status: str
    procedure: str
    uscc: str
    enterprise_name: str
    district_code: str
    applicant: str
    submitted_by: str
    stated_reason: str = Field(description="why the enterprise is deregistered (the request's reason)")
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    completed_at: datetime | None
    reason: str | None = Field(description="why the application was stopped or rejected")
    missing: list[str]
    notice: NoticePublic | None
    objections: list[ObjectionPublic]
    tasks: list[TaskPublic]


class DeregistrationList(BaseModel):
    items: list[DeregistrationPublic]
    total: int
    limit: int
    offset: int


class EnterprisePublic(BaseModel):
    """An enterprise as this service knows it (from events), and what deregistering it would involve."""

    uscc: str
    name: str
    district_code: str
    status: str
    status_changed_at: datetime | None
    departments: dict[str, list[str]] = Field(
        description="the departments one application reaches, per procedure (simplified, general)")
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


class SuspensionCreate(_In):
    uscc: str
    reason: str
    start_date: str = Field(description="ISO date, today or later")
    end_date: str = Field(description="ISO date; the suspension is over when this day is")
    delivery_address: str = Field(description="where legal documents are delivered while suspended")
    on_behalf_of: str | None = Field(default=None, description="a clerk names the applicant they act for")


class SuspensionExtension(_In):
    end_date: str = Field(description="the new ISO end date, later than the current one")
    reason: str | None = Field(default=None, max_length=500)


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
    reason: str
    start_date: date
    end_date: date
    delivery_address: str
    resumed_on: date | None
    extensions: list[ExtensionPublic]
    days_used_before: int = Field(description="days of earlier suspensions of this enterprise, toward the cap")
    days_allowed: int = Field(description="the 3-year cap in days")
    created_at: datetime
    updated_at: datetime


class SuspensionList(BaseModel):
    items: list[SuspensionPublic]
    total: int
    limit: int
    offset: int
