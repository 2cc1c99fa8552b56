"""Request and response models of the utilities service that only the HTTP API has (the form itself is the
domain's, ``forms.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.utilities.forms import ConnectionCreate, ExternalWorksIn, ProofIn, UtilitiesIn
from shared.applications import ApplicationPublic
from shared.forms import FormModel


class ConnectionSupplement(FormModel):
    """What an applicant sends back after a department returned the application (补正)."""

    premises: dict[str, Any] | None = None
    proof: dict[str, Any] | None = None
    utilities: dict[str, Any] | None = None
    external_works: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=2000)


class OfferAcceptance(FormModel):
    """Accepting a proactive offer (主动办): the premises and the enterprise are the offer's."""

    proof: ProofIn
    utilities: UtilitiesIn
    external_works: ExternalWorksIn = Field(default_factory=ExternalWorksIn)


class FeePublic(BaseModel):
    utility: str
    amount: str = Field(description="yuan, a decimal string")


class LinkedTransferPublic(BaseModel):
    """The property transfer a linked transfer application (联动过户) follows."""

    transfer_number: str
    unit_number: str
    accounts: list[str]


class ConnectionPublic(ApplicationPublic):
    service: Literal["utilities"] = "utilities"
    kind: Literal["connection", "transfer"]
    district_code: str
    premises_address: str
    uscc: str | None
    utilities: list[str]
    fees: list[FeePublic]
    total_fee: str = Field(description="yuan, a decimal string")
    proof_kind: str | None
    proof_number: str | None = Field(description="the property certificate's number (from the electronic "
                                                 "certificate when its verification code was given)")
    proof_unit_number: str | None = Field(description="不动产单元号, when an electronic certificate proved it")
    offer_id: str | None
    transfer: LinkedTransferPublic | None


class AccountPublic(BaseModel):
    account_number: str
    utility: str
    utility_name: str
    district_code: str
    premises_address: str
    uscc: str | None
    opened_at: datetime
    transferred_at: datetime | None


class OfferPublic(BaseModel):
    id: str
    uscc: str
    enterprise_name: str
    district_code: str
    premises_address: str
    status: str
    created_at: datetime
    expires_at: datetime


__all__ = ["ConnectionCreate"]
