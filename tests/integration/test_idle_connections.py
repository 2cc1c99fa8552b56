"""A pooled PostgreSQL connection whose server side went away while it sat idle (a restart, a dropped link) is
found out and replaced before a transaction uses it; one in steady use is not pinged at all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import db
from tests.support import Databases, eventually


async def pooled_backend(engine: AsyncEngine) -> int:
    """The server process of the connection the pool lends next (it holds one, used and given back)."""
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.text("SELECT pg_backend_pid()")))


async def terminate(url: str, pid: int) -> None:
    """End one server process from another connection, as a restart would, and wait until it is gone."""
    admin = db.create_engine(url)
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

            async def gone() -> bool:
                alive = await conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                          {"pid": pid})
                return alive == 0

            await eventually(gone, what=f"server process {pid} to end")
    finally:
        await admin.dispose()


async def test_a_pooled_connection_lost_while_idle_is_replaced_before_use(databases: Databases,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    url = databases.new("idle_connections")
    if not url.startswith("postgresql"):
        pytest.skip("SQLite keeps one connection to a file: there is no server side to lose")
    engine = db.create_engine(url)
    try:
        # Used again at once, a connection is taken as it is: lost, it fails the transaction (the pool then
        # drops every connection it holds). That is what the ping after idleness is for.
        await terminate(url, await pooled_backend(engine))
        with pytest.raises(DBAPIError):
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))

        # Idle long enough to be pinged: the lost connection is found out and replaced, and the work goes on.
        lost = await pooled_backend(engine)
        await terminate(url, lost)
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        async with engine.connect() as conn:
            assert await conn.scalar(sa.text("SELECT 1")) == 1
            assert await conn.scalar(sa.text("SELECT pg_backend_pid()")) != lost
    finally:
        await engine.dispose()
