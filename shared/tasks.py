"""Stored department tasks: create them from a plan, request the ready ones, record decisions (from NATS
or HTTP alike), put returned ones back in play, and flag overdue ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from shared.events import (
    TaskEventKind,
    TaskOverdue,
    TaskRequested,
    TaskResolved,
    make_event,
    service_subject,
    task_subject,
)
from shared.fanout import Plan, Progress, TaskStatus, aggregate, ready_steps
from shared.outbox import UnitOfWork
from shared.records import DepartmentTask, TaskDecision, new_id, new_row, utcnow
from shared.workdays import add_working_days

if TYPE_CHECKING:
    from shared.service import ServiceRuntime, Sweep


def is_overdue(task: DepartmentTask, now: datetime | None = None) -> bool:
    """Past its due time while still waiting for the department (flagged by the sweeper, or not yet)."""
    if task.overdue_at is not None:
        return True
    now = now or utcnow()
    return task.status == TaskStatus.requested and task.due_at is not None and task.due_at < now


def new_tasks(plan: Plan, *, application_id: str, application_number: str, service: str) -> list[DepartmentTask]:
    """One waiting task per step of the plan."""
    return [
        new_row(
            DepartmentTask,
            application_id=application_id,
            application_number=application_number,
            service=service,
            department=str(step.department),
            kind=step.kind,
            status=TaskStatus.waiting,
            depends_on=[str(d) for d in step.depends_on],
            working_days=step.working_days,
        )
        for step in plan.steps
    ]


# An application's tasks in creation order (the order of its plan's steps).
CREATION_ORDER = (col(DepartmentTask.created_at), col(DepartmentTask.department))


_TASKS_OF = (select(DepartmentTask).where(DepartmentTask.application_id == sa.bindparam("application_id"))
             .order_by(*CREATION_ORDER))
_TASKS_OF_REFRESHED = _TASKS_OF.execution_options(populate_existing=True)


async def load_tasks(session: AsyncSession, application_id: str, *, refresh: bool = False) -> list[DepartmentTask]:
    """An application's tasks in creation order (``refresh``: tasks this session read before are read again,
    as after taking the application's lock)."""
    rows = await session.execute(_TASKS_OF_REFRESHED if refresh else _TASKS_OF, {"application_id": application_id})
    return list(rows.scalars())


def statuses_of(tasks: Sequence[DepartmentTask]) -> dict[str, TaskStatus]:
    """Department → status, the input of the pure fan-out rules."""
    return {t.department: TaskStatus(t.status) for t in tasks}


def progress_of(tasks: Sequence[DepartmentTask]) -> Progress:
    """The application's progress from its stored tasks."""
    return aggregate(statuses_of(tasks))


def request_ready(
    uow: UnitOfWork,
    plan: Plan,
    tasks: Sequence[DepartmentTask],
    details: Callable[[DepartmentTask], dict[str, Any]],
    *,
    now: datetime | None = None,
    deadline: datetime | None = None,
) -> list[DepartmentTask]:
    """Request every task whose dependencies are approved, emitting ``task.<svc>.<dept>.requested``.

    Each task is due ``working_days`` working days after it is requested, and never later than the
    application's ``deadline`` when the plan bounds the whole.
    """
    now = now or utcnow()
    by_department = {t.department: t for t in tasks}
    requested = []
    for step in ready_steps(plan, statuses_of(tasks)):
        task = by_department[step.department]
        due = add_working_days(now, step.working_days)
        due_at = min(due.at, deadline) if deadline else due.at
        task.status = TaskStatus.requested
        task.requested_at = now
        task.due_at = due_at
        task.due_provisional = due.provisional
        task.details = details(task)
        requested.append(task)
        emit_task_requested(uow, task)
    return requested


def emit_task_requested(uow: UnitOfWork, task: DepartmentTask) -> None:
    """Announce a task to its department."""
    assert task.due_at is not None
    data = TaskRequested(
        task_id=task.id,
        application_id=task.application_id,
        application_number=task.application_number,
        service=task.service,
        department=task.department,
        kind=task.kind,
        due_at=task.due_at,
        due_provisional=task.due_provisional,
        round=task.round,
        details=task.details,
    )
    uow.emit(
        task_subject(task.service, task.department, TaskEventKind.requested),
        make_event(f"task.{task.service}.{task.department}.requested", data, source_service=task.service,
                   subject=task.application_id),
    )


# The audit trail of decisions: appended to, never read back in the transaction that writes it.
TASK_DECISIONS: sa.Table = TaskDecision.__table__  # type: ignore[attr-defined]


class DecisionConflict(Exception):
    """The task is not waiting for a decision (already decided, or not requested yet)."""


def record_decision(uow: UnitOfWork, task: DepartmentTask, decision: TaskResolved, *, channel: str) -> None:
    """Apply a department's decision to its task and append it to the audit trail.

    Raises ``DecisionConflict`` when the task is not currently requested or the decision answers an
    earlier round: a second decision on the same task never changes it.
    """
    if task.status != TaskStatus.requested or decision.round != task.round:
        raise DecisionConflict(f"task {task.id} is {task.status} (round {task.round})")
    now = utcnow()
    task.status = TaskStatus(decision.outcome.value)
    task.resolved_at = now
    task.comment = decision.comment
    task.outputs = dict(decision.outputs)
    task.decided_by = decision.decided_by
    uow.append(TASK_DECISIONS, {
        "id": new_id(), "task_id": task.id, "application_id": task.application_id, "department": task.department,
        "round": task.round, "outcome": decision.outcome.value, "comment": decision.comment,
        "outputs": dict(decision.outputs), "decided_by": decision.decided_by, "channel": channel,
        "decided_at": decision.decided_at or now, "recorded_at": now,
    })


def reopen_returned(
    uow: UnitOfWork,
    tasks: Sequence[DepartmentTask],
    details: Callable[[DepartmentTask], dict[str, Any]],
    *,
    now: datetime | None = None,
) -> list[DepartmentTask]:
    """After the applicant's supplement, ask the returning departments again (next round)."""
    now = now or utcnow()
    reopened = []
    for task in tasks:
        if task.status != TaskStatus.returned:
            continue
        due = add_working_days(now, task.working_days)
        task.status = TaskStatus.requested
        task.round += 1
        task.requested_at = now
        task.resolved_at = None
        task.overdue_at = None
        task.due_at = due.at
        task.due_provisional = due.provisional
        task.details = details(task)
        reopened.append(task)
        emit_task_requested(uow, task)
    return reopened


async def flag_overdue(uow: UnitOfWork, service: str, *, now: datetime | None = None, limit: int = 500) -> int:
    """Mark requested tasks past their due time as overdue, once each, and announce them."""
    now = now or utcnow()
    rows = await uow.session.execute(
        select(DepartmentTask)
        .where(
            DepartmentTask.status == TaskStatus.requested,
            DepartmentTask.overdue_at.is_(None),  # type: ignore[union-attr]
            DepartmentTask.due_at < now,  # type: ignore[operator]
        )
        .limit(limit)
        # Replicas of a service sweep side by side: each flags (and announces) a task no other holds.
        .with_for_update(skip_locked=True)
    )
    tasks = list(rows.scalars())
    for task in tasks:
        task.overdue_at = now
        assert task.due_at is not None
        uow.emit(
            service_subject(service, "task", "overdue"),
            make_event(
                f"{service}.task.overdue",
                TaskOverdue(task_id=task.id, application_id=task.application_id, service=service,
                            department=task.department, due_at=task.due_at),
                source_service=service,
                subject=task.application_id,
            ),
        )
    return len(tasks)


def overdue_sweep(service: str) -> Sweep:
    """限时办结: a sweep for ``create_service_app(sweeps=...)`` that flags and announces a service's tasks
    past their due time."""

    async def flag_overdue_tasks(runtime: ServiceRuntime) -> int:
        async with runtime.uow() as uow:
            count = await flag_overdue(uow, service)
            await uow.commit()
        return count

    return flag_overdue_tasks


async def open_tasks_by_department(session: AsyncSession, now: datetime | None = None) -> dict[str, tuple[int, int]]:
    """Department → (tasks requested and not yet answered, of which past their due time): what a
    department has on its desk, for operators."""
    now = now or utcnow()
    late = sa.or_(col(DepartmentTask.overdue_at).is_not(None), col(DepartmentTask.due_at) < now)
    rows = await session.execute(
        sa.select(col(DepartmentTask.department), sa.func.count(),
                  sa.func.sum(sa.case((late, 1), else_=0)))
        .where(col(DepartmentTask.status) == TaskStatus.requested)
        .group_by(col(DepartmentTask.department)))
    return {department: (int(count), int(overdue or 0)) for department, count, overdue in rows.all()}


async def department_queue(
    session: AsyncSession, department: str, status: str | None, *, limit: int = 100, offset: int = 0
) -> list[DepartmentTask]:
    """A department's tasks, oldest due first."""
    query = select(DepartmentTask).where(DepartmentTask.department == department)
    if status:
        query = query.where(DepartmentTask.status == status)
    query = query.order_by(sa.nulls_last(col(DepartmentTask.due_at).asc()), col(DepartmentTask.created_at))
    return list((await session.execute(query.limit(limit).offset(offset))).scalars())
