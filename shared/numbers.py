"""Human-readable application numbers (e.g. ``QYKB-440703-20261126-000123``) from a stored sequence."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shared.identifiers import format_application_number
from shared.records import NumberSequence


async def next_in_sequence(session: AsyncSession, prefix: str) -> int:
    """The next number under ``prefix``, taken inside the caller's transaction (an upsert, so two first
    submissions of a day cannot both start at 1)."""
    last = col(NumberSequence.last)
    # The two dialects' ``insert`` build different classes with the same ``on_conflict_do_update``.
    upsert: sa.Insert
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        upsert = pg_insert(NumberSequence).values(prefix=prefix, last=1).on_conflict_do_update(
            index_elements=["prefix"], set_={"last": last + 1})
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        upsert = sqlite_insert(NumberSequence).values(prefix=prefix, last=1).on_conflict_do_update(
            index_elements=["prefix"], set_={"last": last + 1})
    # On the connection, not through the session: the ORM has nothing to add to a sequence's upsert, and a
    # session's execute would first flush whatever the caller has pending.
    connection = await session.connection()
    return int((await connection.execute(upsert.returning(last))).scalar_one())


async def next_application_number(session: AsyncSession, service_prefix: str, district_code: str, day: date) -> str:
    """A fresh application number for a service, district and day."""
    prefix = f"{service_prefix}-{district_code}-{day:%Y%m%d}"
    seq = await next_in_sequence(session, prefix)
    return format_application_number(service_prefix, district_code, day, seq)
