"""The throwaway service's one table."""

from __future__ import annotations

from sqlmodel import Field

from shared.records import ApplicationRecord


class KitDemoApplication(ApplicationRecord, table=True):
    __tablename__ = "kitdemo_application"

    title: str = Field(max_length=200)
