"""Tables of the deregistration service (its own database; the common tables come from shared.records)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.readmodels import EnterpriseRecord
from shared.records import ApplicationRecord, AwareDateTime, empty_list, new_id, utcnow


class EnterpriseView(EnterpriseRecord, table=True):
    """What this service knows of an enterprise, learnt only from events (registration's announcements and
    its own decisions); it never asks the registration service. Its status is ours: deregistration decides
    it (cancelled, suspended, resumed) and announces it."""

    __tablename__ = "enterprise_view"

    deregistration_id: str | None = Field(default=None, max_length=36)  # the deregistration in flight, at most one
    suspension_id: str | None = Field(default=None, max_length=36)  # the suspension filed or running, at most one
    # From registration's announcement: its investors ({name, id_number_masked}; None or empty when it did not
    # say), and what bars a simplified deregistration (经营异常名录, frozen equity ...: domain.RESTRICTIONS).
    investors: list[dict[str, str]] | None = Field(default=None, sa_type=sa.JSON)
    restrictions: list[str] | None = Field(default=None, sa_type=sa.JSON)


class DeregistrationApplication(ApplicationRecord, table=True):
    """One 套餐式注销 application and where it stands."""

    __tablename__ = "deregistration_application"

    uscc: str = Field(index=True, max_length=18)
    enterprise_name: str = Field(max_length=200)
    district_code: str = Field(max_length=6)
    procedure: str = Field(max_length=20)  # simplified | general
    stated_reason: str = Field(sa_type=sa.Text)
    # What the enterprise held when the application was accepted: the plan is built from this snapshot so
    # it stays the same however long the notice period lasts.
    holdings: dict[str, Any] = Field(sa_type=sa.JSON)
    # The period it started in (public_notice | objection_window | creditor_notice), and when it was over: the
    # gate behind which samr (and what follows it) waits.
    notice_kind: str | None = Field(default=None, max_length=20)
    notice_ended_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    # 一般注销: when the liquidation group was filed (with the application).
    liquidation_filed_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    # 简易注销: what the eligibility checks found ([{check, outcome, note}]), a skipped check with its reason.
    eligibility: list[dict[str, str]] | None = Field(default=None, sa_type=sa.JSON)


class Objection(SQLModel, table=True):
    """An objection (异议) raised during a simplified deregistration's public notice."""

    __tablename__ = "deregistration_objection"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    application_id: str = Field(index=True, max_length=36)
    objector: str = Field(max_length=200)
    reason: str = Field(sa_type=sa.Text)
    contact: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class Suspension(SQLModel, table=True):
    """One 歇业备案 filing."""

    __tablename__ = "suspension"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    number: str = Field(unique=True, max_length=40)
    uscc: str = Field(index=True, max_length=18)
    enterprise_name: str = Field(max_length=200)
    applicant: str = Field(index=True, max_length=200)
    submitted_by: str = Field(index=True, max_length=200)
    status: str = Field(max_length=20)  # filed | active | resumed | ended | withdrawn
    cause: str | None = Field(default=None, max_length=30)  # domain.Cause (None: filed before causes were kept)
    reason: str = Field(sa_type=sa.Text)  # the free text (what "other" is; optional beside a statutory cause)
    start_date: date
    end_date: date
    delivery_address: str = Field(max_length=300)  # replaces the premises for legal documents while suspended
    resumed_on: date | None = None
    published_at: datetime | None = Field(default=None, sa_type=AwareDateTime)  # when its early end was published
    extensions: list[dict[str, Any]] = Field(default_factory=empty_list, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
