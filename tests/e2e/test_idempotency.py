"""Idempotency-Key under concurrency: 50 simultaneous retries of one submission create exactly one
application; a retry while the first is in flight is 409, one after it replays the first answer. The
cross-process guard (a PostgreSQL advisory lock) is checked with two engines on the same database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from shared.db import create_engine, create_sessionmaker, migrate_async
from shared.events import ApplicationEvent, make_event
from shared.idempotency import (
    RETENTION,
    Created,
    _create_once,
    create_once,
    purge_expired,
    remember,
    request_fingerprint,
)
from shared.outbox import UnitOfWork
from shared.problems import Problem
from shared.records import IdempotencyRecord, OutboxMessage, utcnow
from tests.support import Api, Databases, dump, registration_body


async def test_fifty_concurrent_retries_create_exactly_one_application(api: Api) -> None:
    key = str(uuid.uuid4())
    body = registration_body()
    await api.token("fifty-retries")
    results = await asyncio.gather(*(api.submit("fifty-retries", body, key=key) for _ in range(50)))
    statuses = [r.status_code for r in results]
    assert set(statuses) <= {202, 409}, [dump(r) for r in results if r.status_code not in (202, 409)]
    accepted = [r.json() for r in results if r.status_code == 202]
    assert accepted and len({a["id"] for a in accepted}) == 1
    assert len({a["number"] for a in accepted}) == 1
    for busy in (r for r in results if r.status_code == 409):
        assert busy.headers["content-type"].startswith("application/problem+json")
        assert busy.json()["code"] == "idempotency_key_in_flight" and busy.headers["retry-after"] == "1"
    # Once the first has finished, every retry gets its answer.
    again = await api.submit("fifty-retries", body, key=key)
    assert again.status_code == 202 and again.json() == accepted[0]
    # The replay is the first answer byte for byte, with its content type.
    first = next(r for r in results if r.status_code == 202)
    assert (again.content, again.headers["content-type"]) == (first.content, first.headers["content-type"])
    listed = (await api.get("fifty-retries", "/api/v1/registrations")).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == accepted[0]["id"]
    # The same key is the caller's own: another caller's same key is another submission.
    other = await api.submit("fifty-retries-2", registration_body(), key=key)
    assert other.status_code == 202 and other.json()["id"] != accepted[0]["id"]


@pytest.fixture
async def two_processes(databases: Databases) -> AsyncIterator[tuple[sa.ext.asyncio.AsyncEngine, ...]]:
    """Two engines on one fresh database, as two replicas of a service would have."""
    url = databases.new("idempotency")
    await migrate_async("registration", url)
    from shared.settings import async_database_url

    engines = (create_engine(async_database_url(url)), create_engine(async_database_url(url)))
    yield engines
    for engine in engines:
        await engine.dispose()


async def test_a_retry_in_another_process_is_409_on_postgresql_and_waits_on_sqlite(
        two_processes: tuple[sa.ext.asyncio.AsyncEngine, ...]) -> None:
    first_engine, second_engine = two_processes
    first_uow = lambda: UnitOfWork(create_sessionmaker(first_engine))  # noqa: E731
    second_uow = lambda: UnitOfWork(create_sessionmaker(second_engine))  # noqa: E731
    inside, release = asyncio.Event(), asyncio.Event()
    created = 0

    async def create(uow: UnitOfWork) -> Created:
        nonlocal created
        created += 1
        event = make_event("registration.application.in_progress",
                           ApplicationEvent(application_id="a-1", number="N-1", service="registration",
                                            applicant="caller", status="in_progress"),
                           source_service="registration", subject="a-1")
        uow.emit("registration.application.in_progress", event)
        inside.set()
        await release.wait()  # the first request is still being processed
        return Created(202, {"id": "a-1"}, "a-1")

    payload = {"form": 1}
    first = asyncio.create_task(create_once(first_uow, "caller", "key-1", payload, create,
                                            on_conflict=lambda: Problem(409, "conflict")))
    await inside.wait()
    # The same process refuses at once, without touching the database.
    with pytest.raises(Problem) as info:
        await create_once(first_uow, "caller", "key-1", payload, create, on_conflict=lambda: Problem(409, "x"))
    assert info.value.status == 409 and info.value.code == "idempotency_key_in_flight"

    # Another process: the in-process guard does not reach it, the database must.
    other = asyncio.create_task(_create_once(second_uow, "caller", "key-1", request_fingerprint(payload), create,
                                             lambda: Problem(409, "conflict")))
    if first_engine.dialect.name == "postgresql":
        with pytest.raises(Problem) as info:
            await other
        assert info.value.status == 409 and info.value.code == "idempotency_key_in_flight"
        release.set()
        answer = await first
    else:
        release.set()  # SQLite: the other waits for the writer, then replays its answer
        answer, replayed = await first, await other
        assert replayed.status_code == 202 and replayed.body == answer.body
    assert answer.status_code == 202
    after = await _create_once(second_uow, "caller", "key-1", request_fingerprint(payload), create,
                               lambda: Problem(409, "conflict"))
    assert after.status_code == 202 and after.body == answer.body
    assert created == 1
    async with create_sessionmaker(second_engine)() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord)) == 1
        assert await session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1


async def test_expired_answers_are_purged_and_a_key_that_old_counts_as_new(
        two_processes: tuple[sa.ext.asyncio.AsyncEngine, ...]) -> None:
    engine = two_processes[0]
    maker = create_sessionmaker(engine)
    async with maker() as session, session.begin():
        remember(session, "caller", "old", "f", 202, b'{"id":"1"}', "1")
        remember(session, "caller", "new", "f", 202, b'{"id":"2"}', "2")
    async with maker() as session, session.begin():
        assert await purge_expired(session, now=utcnow() + RETENTION / 2) == 0
    async with maker() as session, session.begin():
        old = await session.get(IdempotencyRecord, ("caller", "old"))
        assert old is not None
        old.expires_at = utcnow()
    async with maker() as session, session.begin():
        assert await purge_expired(session) == 1
    async with maker() as session:
        assert await session.get(IdempotencyRecord, ("caller", "old")) is None
        assert await session.get(IdempotencyRecord, ("caller", "new")) is not None
