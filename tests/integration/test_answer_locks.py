"""Two department answers to one application, handled by two processes at once, each see the other's: the one
that waits for the application's lock reads the tasks as the first left them, never as they were before."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from services.registration.models import RegistrationApplication
from shared.applications import lock_with_tasks
from shared.db import create_engine, create_sessionmaker, migrate_async
from shared.records import DepartmentTask, utcnow
from tests.support import Databases, eventually


async def tasks_seen_after_the_lock(url: str, application_id: str) -> dict[str, str]:
    """What a second process finds when it locks the application (its own engine, its own event loop)."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            _app, tasks = await lock_with_tasks(session, RegistrationApplication, application_id)
            return {t.department: t.status for t in tasks}
    finally:
        await engine.dispose()


async def test_an_answer_waiting_for_the_lock_sees_the_answer_that_held_it(databases: Databases) -> None:
    url = databases.new("answer_locks")
    await migrate_async("registration", url)
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    app = RegistrationApplication(number="QYKB-440703-20261129-000001", applicant="a", submitted_by="a",
                                  status="in_progress", form={}, enterprise_name="江门测试有限公司",
                                  district_code="440703", entity_type="limited_company", address="江门市蓬江区")
    async with maker() as session, session.begin():
        session.add(app)
        session.add_all([DepartmentTask(application_id=app.id, application_number=app.number, service="registration",
                                        department=department, kind="answer", status="requested", working_days=1)
                         for department in ("samr", "tax")])

    async def second_is_waiting() -> bool:
        if not url.startswith("postgresql"):
            return True  # SQLite: the second waits at BEGIN IMMEDIATE, before it reads anything
        async with engine.connect() as conn:
            waiting = await conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity "
                                                "WHERE wait_event_type = 'Lock' AND datname = current_database()"))
        return bool(waiting)

    try:
        async with maker() as first, first.begin():
            locked, tasks = await lock_with_tasks(first, RegistrationApplication, app.id)
            assert locked is not None
            next(t for t in tasks if t.department == "samr").status = "approved"
            locked.updated_at = utcnow()
            await first.flush()
            second = asyncio.create_task(asyncio.to_thread(asyncio.run, tasks_seen_after_the_lock(url, app.id)))
            await eventually(second_is_waiting, what="the second answer to wait for the application's lock")
            assert not second.done()
        assert await second == {"samr": "approved", "tax": "requested"}
    finally:
        await engine.dispose()
