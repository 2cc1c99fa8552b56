"""Tables of the real-estate service: the register (properties, owners, mortgages, seizures, certificates)
and the applications (its own database; the common tables come from shared.records)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.records import ApplicationRecord, AwareDateTime, empty_dict, empty_list, new_id, utcnow


class RealProperty(SQLModel, table=True):
    """One property unit in the register: its natural state (自然状况)."""

    __tablename__ = "realestate_property"

    unit_number: str = Field(primary_key=True, max_length=40)  # 不动产单元号
    district_code: str = Field(max_length=6)
    address: str = Field(max_length=300, index=True)  # the standard address (标准化地址)
    use: str = Field(max_length=20)  # residential | non_residential | parking
    area_m2: str = Field(max_length=20)  # a plain decimal, as registered
    certificate_number: str = Field(max_length=60)  # the current title certificate (不动产权证书号)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class PropertyOwner(SQLModel, table=True):
    """A holder of the right (权利人) and their share (共有份额)."""

    __tablename__ = "realestate_owner"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    unit_number: str = Field(index=True, max_length=40)
    sub: str | None = Field(default=None, index=True, max_length=200)  # their token subject, when they have one
    name: str = Field(max_length=200)
    id_number: str | None = Field(default=None, max_length=40)
    uscc: str | None = Field(default=None, max_length=18)
    share_percent: str = Field(max_length=20)


class PropertyMortgage(SQLModel, table=True):
    """A mortgage (抵押权) on a property: active until released."""

    __tablename__ = "realestate_mortgage"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    unit_number: str = Field(index=True, max_length=40)
    mortgagee_uscc: str = Field(max_length=18)
    mortgagee_name: str = Field(max_length=200)
    amount_fen: int = Field(sa_type=sa.BigInteger)
    certificate_number: str | None = Field(default=None, max_length=60)  # 不动产登记证明号
    status: str = Field(max_length=20)  # active | released
    application_id: str | None = Field(default=None, max_length=36)  # what entered it, when entered here
    registered_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    released_at: datetime | None = Field(default=None, sa_type=AwareDateTime)


class PropertySeizure(SQLModel, table=True):
    """A seizure (查封) by a court or another authority: while active the property cannot change hands."""

    __tablename__ = "realestate_seizure"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    unit_number: str = Field(index=True, max_length=40)
    authority: str = Field(max_length=200)
    reference: str = Field(max_length=100)
    status: str = Field(max_length=20)  # active | lifted
    registered_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class PropertyCertificate(SQLModel, table=True):
    """An electronic certificate (电子不动产权证书, or 不动产登记证明 of a mortgage) and its verification code."""

    __tablename__ = "realestate_certificate"

    verification_code: str = Field(primary_key=True, max_length=32)
    number: str = Field(unique=True, max_length=60)
    kind: str = Field(max_length=20)  # title | mortgage
    unit_number: str = Field(index=True, max_length=40)
    holders: list[str] = Field(default_factory=empty_list, sa_type=sa.JSON)  # names, as printed on it
    status: str = Field(max_length=20)  # active | cancelled
    application_id: str | None = Field(default=None, max_length=36)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=AwareDateTime)


class RegistryApplication(ApplicationRecord, table=True):
    """One application to the register: a transfer (转移登记, with its taxes and payment), or a mortgage's
    registration or release by a lender."""

    __tablename__ = "realestate_application"

    kind: str = Field(max_length=20)  # transfer | mortgage | mortgage_release
    unit_number: str = Field(index=True, max_length=40)
    district_code: str = Field(max_length=6)
    address: str = Field(max_length=300)
    buyer_sub: str | None = Field(default=None, index=True, max_length=200)  # confirms, and follows it
    confirmed_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    # The amounts in fen by item (deed_tax, vat, income_tax, registration_fee): the service's own assessment
    # at filing, then the tax department's (核税), which prevails.
    assessment: dict[str, int] = Field(default_factory=empty_dict, sa_type=sa.JSON)
    # The payment: paid_fen, reference, allocations (清分), refunded_at; and what was undone before entry.
    payment: dict[str, Any] = Field(default_factory=empty_dict, sa_type=sa.JSON)
    entered_at: datetime | None = Field(default=None, sa_type=AwareDateTime)  # 登簿
    linked_utilities: bool = False
