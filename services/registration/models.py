"""Tables of the registration service (its own database; the common tables come from shared.records)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.records import ApplicationRecord, AwareDateTime, empty_list, utcnow


class RegistrationApplication(ApplicationRecord, table=True):
    """One application to the registration service and where it stands: a 企业开办 (``kind`` opening), or a
    registered enterprise's change (变更登记) or intra-province move (省内迁移)."""

    __tablename__ = "registration_application"

    # opening | change | move (rows stored before revision 0003 are openings: the server default)
    kind: str = Field(default="opening", max_length=20, sa_column_kwargs={"server_default": "opening"})
    # A change's: the enterprise's name, district and address when it was filed (the new ones are in its form).
    enterprise_name: str = Field(max_length=200)
    district_code: str = Field(max_length=6)
    entity_type: str = Field(max_length=40)
    address: str = Field(max_length=300)  # the resolved standard address (标准化地址) of the registered premises
    uscc: str | None = Field(default=None, unique=True, max_length=18)  # an opening's, as samr assigned it
    enterprise_uscc: str | None = Field(default=None, index=True, max_length=18)  # the enterprise a change changes


class EnterpriseName(SQLModel, table=True):
    """A name reserved by an application in flight or held by a registered enterprise; the primary key
    makes two applications with one name impossible, however concurrent."""

    __tablename__ = "enterprise_name"

    name: str = Field(primary_key=True, max_length=200)  # its key (names.name_key), not the name as written
    application_id: str = Field(index=True, max_length=36)  # the opening, or the change that named it
    status: str = Field(max_length=20)  # reserved | registered


class Enterprise(SQLModel, table=True):
    """A registered enterprise."""

    __tablename__ = "enterprise"

    uscc: str = Field(primary_key=True, max_length=18)
    name: str = Field(max_length=200)
    entity_type: str = Field(max_length=40)
    district_code: str = Field(max_length=6)
    address: str = Field(max_length=300)
    owner: str = Field(index=True, max_length=200)
    legal_representative: str = Field(max_length=100)
    # The legal representative's resident ID (the change rules check they stay a director or the manager);
    # None for enterprises registered before revision 0003.
    legal_representative_id: str | None = Field(default=None, max_length=40)
    # In fen, which pass 32 bits from ¥21.5 million up.
    registered_capital_fen: int | None = Field(default=None, sa_type=sa.BigInteger)
    business_scope: list[str] = Field(default_factory=empty_list, sa_type=sa.JSON)
    # Directors, supervisors and the manager as filed ({name, id_number, document_type, role}); None before 0003.
    officers: list[dict[str, Any]] | None = Field(default=None, sa_type=sa.JSON)
    registered_with: list[str] = Field(default_factory=empty_list, sa_type=sa.JSON)
    status: str = Field(max_length=20)  # active | suspended | cancelled
    application_id: str = Field(max_length=36)
    registered_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    status_changed_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    changed_at: datetime | None = Field(default=None, sa_type=AwareDateTime)  # the last change or move completed


class Licence(SQLModel, table=True):
    """The electronic business licence (电子营业执照) and its public verification code."""

    __tablename__ = "licence"

    verification_code: str = Field(primary_key=True, max_length=32)
    uscc: str = Field(unique=True, max_length=18)
    status: str = Field(max_length=20)  # active | suspended | revoked
    issued_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    status_changed_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
