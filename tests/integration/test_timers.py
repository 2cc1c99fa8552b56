"""Durable timers (shared.timers) on a real, migrated database (SQLite, or PostgreSQL with
TEST_DATABASE_URL): each due timer fires exactly once however many sweepers race, cancelled ones never,
and a failing handler leaves its timer due for the next sweep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import select

from shared import timers
from shared.db import create_engine, create_sessionmaker, migrate_async
from shared.outbox import UnitOfWork
from shared.records import InboxMessage, Timer, utcnow
from tests.support import Databases


@pytest.fixture
async def uow_factory(databases: Databases) -> AsyncIterator:
    url = databases.new("timers")
    await migrate_async("registration", url)  # any service: the timer table is a common one
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    yield lambda: UnitOfWork(maker)
    await engine.dispose()


async def record_effect(uow: UnitOfWork, timer: Timer) -> None:
    # The inbox table stands in for any effect: a second firing would violate its primary key.
    uow.session.add(InboxMessage(consumer="timer-effect", event_id=timer.id))


async def effects(uow_factory) -> list[str]:  # type: ignore[no-untyped-def]
    async with uow_factory() as uow:
        rows = await uow.session.execute(select(InboxMessage.event_id).where(InboxMessage.consumer == "timer-effect"))
        return sorted(rows.scalars())


async def test_due_timers_fire_once_each_however_many_sweepers(uow_factory) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    async with uow_factory() as uow:
        due = [timers.schedule(uow.session, "test.period", f"target-{i}", now - timedelta(seconds=1)) for i in range(5)]
        later = timers.schedule(uow.session, "test.period", "target-later", now + timedelta(hours=1))
        await uow.commit()
    handlers = {"test.period": record_effect}
    fired = await asyncio.gather(*(timers.fire_due(uow_factory, handlers) for _ in range(4)))
    assert sum(fired) == 5
    assert await effects(uow_factory) == sorted(t.id for t in due)
    assert await timers.fire_due(uow_factory, handlers) == 0
    async with uow_factory() as uow:
        assert [t.id for t in await timers.pending(uow.session, "target-later")] == [later.id]
        fired_at = [(await uow.session.get(Timer, t.id)).fired_at for t in due]  # type: ignore[union-attr]
        assert all(fired_at)


async def test_cancelled_timers_never_fire(uow_factory) -> None:  # type: ignore[no-untyped-def]
    async with uow_factory() as uow:
        timers.schedule(uow.session, "test.period", "objected", utcnow())
        await uow.commit()
    async with uow_factory() as uow:
        assert await timers.cancel(uow.session, "objected") == 1
        await uow.commit()
    assert await timers.fire_due(uow_factory, {"test.period": record_effect}) == 0
    async with uow_factory() as uow:
        (timer,) = await timers.timers_of(uow.session, "objected")
        assert timer.cancelled_at is not None and timer.fired_at is None


async def test_a_failing_handler_leaves_the_timer_due_and_unknown_kinds_wait(uow_factory) -> None:  # type: ignore[no-untyped-def]
    async with uow_factory() as uow:
        flaky = timers.schedule(uow.session, "test.flaky", "flaky-target", utcnow())
        timers.schedule(uow.session, "test.other-service", "not-ours", utcnow())
        await uow.commit()
    attempts = 0

    async def fails_once(uow: UnitOfWork, timer: Timer) -> None:
        nonlocal attempts
        attempts += 1
        await record_effect(uow, timer)
        if attempts == 1:
            raise RuntimeError("dependency down")

    assert await timers.fire_due(uow_factory, {"test.flaky": fails_once}) == 0
    assert await effects(uow_factory) == []  # the effect rolled back with the failure
    assert await timers.fire_due(uow_factory, {"test.flaky": fails_once}) == 1
    assert await effects(uow_factory) == [flaky.id]
    async with uow_factory() as uow:
        assert len(await timers.pending(uow.session, "not-ours")) == 1
