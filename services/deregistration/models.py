"""Tables of the deregistration service (its own database; the common tables come from shared.records)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.records import ApplicationRecord, AwareDateTime, new_id, utcnow


class EnterpriseView(SQLModel, table=True):
    """What this service knows of an enterprise, learnt only from events (registration's announcements and
    its own decisions); it never asks the registration service."""

    __tablename__ = "enterprise_view"

    uscc: str = Field(primary_key=True)
    name: str
    entity_type: str
    district_code: str
    address: str
    owner: str = Field(index=True)  # the applicant who opened it; only they (or a clerk for them) act for it
    legal_representative: str
    registered_with: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    has_tax_matters: bool = True
    customs_registered: bool = False
    licence_verification_code: str | None = None
    registered_at: datetime = Field(sa_type=AwareDateTime)
    status: str = "active"  # active | suspended | cancelled
    status_changed_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    deregistration_id: str | None = None  # the deregistration in flight, at most one
    suspension_id: str | None = None  # the suspension filed or running, at most one
    updated_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class DeregistrationApplication(ApplicationRecord, table=True):
    """One 套餐式注销 application and where it stands."""

    __tablename__ = "deregistration_application"

    uscc: str = Field(index=True)
    enterprise_name: str
    district_code: str
    procedure: str  # simplified | general
    stated_reason: str
    # What the enterprise held when the application was accepted: the plan is built from this snapshot so
    # it stays the same however long the notice period lasts.
    holdings: dict[str, Any] = Field(sa_type=sa.JSON)


class Objection(SQLModel, table=True):
    """An objection (异议) raised during a simplified deregistration's public notice."""

    __tablename__ = "deregistration_objection"

    id: str = Field(default_factory=new_id, primary_key=True)
    application_id: str = Field(index=True)
    objector: str
    reason: str
    contact: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class Suspension(SQLModel, table=True):
    """One 歇业备案 filing."""

    __tablename__ = "suspension"

    id: str = Field(default_factory=new_id, primary_key=True)
    number: str = Field(unique=True)
    uscc: str = Field(index=True)
    enterprise_name: str
    applicant: str = Field(index=True)
    submitted_by: str = Field(index=True)
    status: str  # filed | active | resumed | ended | withdrawn
    reason: str
    start_date: date
    end_date: date
    delivery_address: str  # replaces the premises for legal documents while suspended
    resumed_on: date | None = None
    extensions: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
