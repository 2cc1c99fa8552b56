"""Human-readable application numbers (e.g. ``QYKB-440703-20261126-000123``) from a stored sequence."""

from __future__ import annotations

import functools
from datetime import date

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shared.identifiers import format_application_number
from shared.records import NumberSequence


@functools.cache
def _next_upsert(dialect: str) -> sa.Insert:
    """The sequence's upsert in the dialect's words (the two ``insert``s build different classes with the same
    ``on_conflict_do_update``), built once."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    last = col(NumberSequence.last)
    return (insert(NumberSequence).values(prefix=sa.bindparam("prefix"), last=1)
            .on_conflict_do_update(index_elements=["prefix"], set_={"last": last + 1}).returning(last))


async def next_in_sequence(session: AsyncSession, prefix: str) -> int:
    """The next number under ``prefix``, taken inside the caller's transaction (an upsert, so two first
    submissions of a day cannot both start at 1)."""
    # On the connection, not through the session: the ORM has nothing to add to a sequence's upsert, and a
    # session's execute would first flush whatever the caller has pending.
    connection = await session.connection()
    return int((await connection.execute(_next_upsert(connection.dialect.name), {"prefix": prefix})).scalar_one())


async def next_application_number(session: AsyncSession, service_prefix: str, district_code: str, day: date) -> str:
    """A fresh application number for a service, district and day."""
    prefix = f"{service_prefix}-{district_code}-{day:%Y%m%d}"
    seq = await next_in_sequence(session, prefix)
    return format_application_number(service_prefix, district_code, day, seq)
