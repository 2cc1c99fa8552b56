"""Alembic migrations run on SQLite and PostgreSQL, down and up again, each service with its own version table."""

from __future__ import annotations

import sqlalchemy as sa

from shared import registry
from shared.db import create_engine, migrate_async
from tests.support import Databases


async def tables(url: str) -> set[str]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    await engine.dispose()
    return names


async def test_each_service_migrates_up_down_and_up(databases: Databases) -> None:
    import asyncio

    from shared.db import alembic_config

    for service in (s.name for s in registry.with_database()):
        url = databases.new(f"mig_{service}")
        await migrate_async(service, url)
        created = await tables(url)
        assert {"outbox", "inbox", "department_task", "idempotency_record", f"alembic_version_{service}"} <= created

        from alembic import command

        await asyncio.to_thread(command.downgrade, alembic_config(service, url), "base")
        assert await tables(url) == {f"alembic_version_{service}"}
        await migrate_async(service, url)
        assert await tables(url) == created
