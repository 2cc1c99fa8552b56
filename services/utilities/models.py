"""Tables of the utilities service (its own database; the common tables come from shared.records)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.readmodels import EnterpriseRecord
from shared.records import ApplicationRecord, AwareDateTime, empty_dict, empty_list, new_id, utcnow


class EnterpriseView(EnterpriseRecord, table=True):
    """What this service knows of an enterprise, from registration's and deregistration's events. (Table
    names are one namespace across the services' models, which tests import together.)"""

    __tablename__ = "utilities_enterprise_view"


class ConnectionApplication(ApplicationRecord, table=True):
    """One 水电气网 application: a joint connection (``kind`` connection), or the move of a property's
    accounts to its new owner after a transfer (``kind`` transfer, 联动过户)."""

    __tablename__ = "connection_application"

    kind: str = Field(max_length=20)  # connection | transfer
    district_code: str = Field(max_length=6)
    premises_address: str = Field(max_length=300, index=True)  # the resolved standard address
    uscc: str | None = Field(default=None, max_length=18)  # when an enterprise applies
    utilities: list[str] = Field(default_factory=empty_list, sa_type=sa.JSON)
    fees: dict[str, int] = Field(default_factory=empty_dict, sa_type=sa.JSON)  # utility → fen, as assessed at receipt
    offer_id: str | None = Field(default=None, max_length=36)  # the proactive offer it came from
    # A linked transfer: the property transfer's number and unit, and the accounts it moves.
    transfer: dict[str, Any] = Field(default_factory=empty_dict, sa_type=sa.JSON)


class UtilityAccount(SQLModel, table=True):
    """A utility account at premises, opened by a completed connection and held by its applicant."""

    __tablename__ = "utility_account"

    account_number: str = Field(primary_key=True, max_length=40)
    utility: str = Field(max_length=20)
    owner: str = Field(index=True, max_length=200)
    uscc: str | None = Field(default=None, max_length=18)
    district_code: str = Field(max_length=6)
    premises_address: str = Field(max_length=300, index=True)
    application_id: str = Field(max_length=36)  # the connection that opened it
    previous_owner: str | None = Field(default=None, max_length=200)
    transferred_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class ConnectionOffer(SQLModel, table=True):
    """主动办: a connection offered to a newly registered enterprise at its registered address."""

    __tablename__ = "connection_offer"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    uscc: str = Field(index=True, max_length=18)
    owner: str = Field(index=True, max_length=200)
    enterprise_name: str = Field(max_length=200)
    district_code: str = Field(max_length=6)
    premises_address: str = Field(max_length=300)
    status: str = Field(max_length=20)  # open | accepted | withdrawn (expiry is read from expires_at)
    application_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    expires_at: datetime = Field(sa_type=AwareDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class CertificateView(SQLModel, table=True):
    """一证通办: an electronic property certificate as real estate announced it, so an application may give its
    verification code instead of the paper; holders as parties (token subject, enterprise), for the holder check."""

    __tablename__ = "utilities_certificate_view"

    verification_code: str = Field(primary_key=True, max_length=32)
    number: str = Field(max_length=60)
    kind: str = Field(max_length=20)
    unit_number: str = Field(max_length=40)
    district_code: str = Field(max_length=6)
    address: str = Field(max_length=300)
    holders: list[dict[str, Any]] = Field(default_factory=empty_list, sa_type=sa.JSON)
    status: str = Field(max_length=20)  # active | cancelled
    changed_at: datetime = Field(sa_type=AwareDateTime)
