"""Tables of the materials service (its own database; the common tables come from shared.records)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.records import AwareDateTime, new_id, utcnow


class Material(SQLModel, table=True):
    """An uploaded document's metadata; its bytes are in the store under ``storage_key``. One row per owner and
    content: the same bytes uploaded again by the same owner are the same material."""

    __tablename__ = "materials_material"
    __table_args__ = (sa.UniqueConstraint("owner", "sha256", name="uq_materials_owner_sha256"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    owner: str = Field(index=True, max_length=200)  # the token subject who uploaded it
    kind: str | None = Field(default=None, max_length=64)  # a catalogue material code, as the uploader said
    media_type: str = Field(max_length=40)  # as recognised from the content
    size: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=64)
    pages: int | None = None
    width: int | None = None
    height: int | None = None
    storage_key: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
