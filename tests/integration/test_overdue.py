"""限时办结: the sweeper flags requested tasks past their due time once each and announces them; its
state is in the database, so a second sweep (or a restarted one) flags nothing again."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from shared.db import create_engine, create_sessionmaker, migrate_async
from shared.events import CloudEvent, TaskOverdue
from shared.fanout import TaskStatus
from shared.outbox import UnitOfWork
from shared.records import DepartmentTask, OutboxMessage, utcnow
from shared.tasks import flag_overdue, is_overdue
from tests.support import Databases


async def test_overdue_tasks_flagged_once_and_announced(databases: Databases) -> None:
    url = databases.new("overdue")
    await migrate_async("registration", url)
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    now = utcnow()

    def task(department: str, status: TaskStatus, due_in: timedelta) -> DepartmentTask:
        return DepartmentTask(application_id="app-1", application_number="QYKB-440703-20261126-000001",
                              service="registration", department=department, kind="k", status=status,
                              working_days=1, requested_at=now - timedelta(days=2), due_at=now + due_in)

    late, on_time, answered = (task("psb", TaskStatus.requested, -timedelta(hours=1)),
                               task("tax", TaskStatus.requested, timedelta(hours=1)),
                               task("hrss", TaskStatus.approved, -timedelta(hours=1)))
    async with UnitOfWork(maker) as uow:
        uow.session.add_all([late, on_time, answered])
        await uow.commit()
    assert is_overdue(late, now) and not is_overdue(on_time, now) and not is_overdue(answered, now)

    for expected in (1, 0):  # the second sweep finds nothing new
        async with UnitOfWork(maker) as uow:
            assert await flag_overdue(uow, "registration") == expected
            await uow.commit()

    async with maker() as session:
        flagged = (await session.execute(
            sa.select(DepartmentTask.department).where(DepartmentTask.overdue_at.is_not(None)))).scalars().all()
        events = (await session.execute(sa.select(OutboxMessage))).scalars().all()
    assert flagged == ["psb"]
    assert [e.subject for e in events] == ["registration.task.overdue"]
    data = CloudEvent.model_validate_json(events[0].payload).data_as(TaskOverdue)
    assert data.task_id == late.id and data.department == "psb"
    await engine.dispose()
