"""What every service's applications have in common, whatever they apply for: who may read them, the
caller's own list, the row lock that serialises changes to one application, how a department's answer is
taken in, how their tasks are shown, and the ``<service>.application.<status>`` announcement."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from shared.auth import Principal, may_read
from shared.bus import PoisonMessage
from shared.departments import Department
from shared.events import ApplicationEvent, TaskResolved, make_event, service_subject
from shared.fanout import ApplicationStatus, Plan, Progress
from shared.outbox import UnitOfWork
from shared.problems import Problem
from shared.records import ApplicationRecord, DepartmentTask, utcnow
from shared.tasks import DecisionConflict, is_overdue, load_tasks, progress_of, record_decision, request_ready

A = TypeVar("A")



class TaskPublic(BaseModel):
    """A department task as the applicant sees it."""

    id: str
    department: str
    department_name: str
    kind: str
    status: str
    round: int
    requested_at: datetime | None
    due_at: datetime | None
    due_provisional: bool
    resolved_at: datetime | None
    overdue: bool
    comment: str | None
    outputs: dict[str, Any]


def task_views(tasks: Sequence[DepartmentTask], now: datetime | None = None) -> list[TaskPublic]:
    """An application's tasks as the applicant sees them (overdue computed, not only flagged)."""
    now = now or utcnow()
    return [
        TaskPublic(
            id=t.id, department=t.department, department_name=Department(t.department).name_zh, kind=t.kind,
            status=t.status, round=t.round, requested_at=t.requested_at, due_at=t.due_at,
            due_provisional=t.due_provisional, resolved_at=t.resolved_at, overdue=is_overdue(t, now),
            comment=t.comment, outputs=t.outputs,
        )
        for t in tasks
    ]


def emit_application_event(uow: UnitOfWork, service: str, app: ApplicationRecord,
                           tasks: Sequence[DepartmentTask]) -> None:
    """Announce the application's new state on ``<service>.application.<status>``."""
    data = ApplicationEvent(
        application_id=app.id, number=app.number, service=service, applicant=app.applicant, status=app.status,
        reason=app.reason, missing=app.missing, departments=[t.department for t in tasks],  # type: ignore[misc]
    )
    uow.emit(service_subject(service, "application", app.status),
             make_event(f"{service}.application.{app.status}", data, source_service=service, subject=app.id))


async def lock_row(session: AsyncSession, model: type[A], key: str) -> A | None:
    """A row locked for the rest of the transaction (PostgreSQL; SQLite serialises writers anyway), so
    two answers or two requests about the same object apply one after the other, each seeing the other."""
    pk = sa.inspect(model).primary_key[0]  # type: ignore[union-attr]
    # populate_existing: an object this session read before taking the lock is refreshed, not trusted.
    query = select(model).where(pk == key).with_for_update().execution_options(populate_existing=True)
    result = await session.execute(query)
    return result.scalar_one_or_none()


async def readable_or_404(session: AsyncSession, model: type[A], key: str, principal: Principal,
                          not_found: Problem) -> A:
    """An application the caller may read; another applicant's answers exactly like a missing one."""
    app: Any = await session.get(model, key)
    if app is None or not may_read(principal, app.applicant, app.submitted_by):
        raise not_found
    return app


def own_only(query: Any, model: Any, principal: Principal) -> Any:
    """Narrow a query of applications to the caller's own: an applicant's, those a clerk submitted, or
    everything for an admin."""
    if principal.is_admin:
        return query
    owner = model.submitted_by if principal.is_clerk else model.applicant
    return query.where(owner == principal.sub)


async def page(session: AsyncSession, query: Any, order_by: Any, *, limit: int, offset: int) -> tuple[int, list[Any]]:
    """The total of a query and one page of it."""
    total = (await session.execute(select(sa.func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await session.execute(query.order_by(order_by).limit(limit).offset(offset))).scalars().all()
    return int(total), list(rows)


async def take_answer(uow: UnitOfWork, model: type[A], decision: TaskResolved, channel: str, *,
                      final_statuses: frozenset[str]) -> tuple[A, list[DepartmentTask], DepartmentTask]:
    """Record a department's answer (from NATS or HTTP) on its task, with the application locked.

    Returns the application, all its tasks and the answered one, for the service to move on.
    ``PoisonMessage`` when the answer names no task of ours; ``DecisionConflict`` when the application
    is already final or the task is not waiting for this answer.
    """
    app: Any = await lock_row(uow.session, model, decision.application_id)
    if app is None:
        raise PoisonMessage(f"no application {decision.application_id}")
    tasks = await load_tasks(uow.session, app.id)
    task = next((t for t in tasks if t.id == decision.task_id), None)
    if task is None or task.department != decision.department:
        raise PoisonMessage(f"no task {decision.task_id} of {decision.department} in {app.number}")
    if app.status in final_statuses:
        raise DecisionConflict(f"application {app.number} is already {app.status}")
    record_decision(uow, task, decision, channel=channel)
    return app, tasks, task


def missing_items(task: DepartmentTask) -> list[str]:
    """What a returning department asks for: its list of missing items, or its comment."""
    listed = task.outputs.get("missing")
    if listed:
        return [str(item) for item in listed]
    return [f"{Department(task.department).name_zh}: {task.comment or '需补正材料'}"]


def rejection_reason(tasks: Sequence[DepartmentTask]) -> str:
    """The applicant-facing reason of a rejection: the first rejecting department and what it said."""
    rejecting = next(t for t in tasks if t.status == "rejected")
    return f"{Department(rejecting.department).name_zh}: {rejecting.comment or '不予通过'}"


def merge_supplement(original: dict, supplement: dict) -> dict:
    """The form after an applicant's supplement (补正): nested objects merge, lists and values replace."""
    merged = dict(original)
    for key, value in supplement.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_supplement(merged[key], value)
        else:
            merged[key] = value
    return merged


async def advance(
    uow: UnitOfWork,
    service: str,
    app: ApplicationRecord,
    tasks: list[DepartmentTask],
    *,
    plan: Callable[[], Plan],
    details: Callable[[], Callable[[DepartmentTask], dict[str, Any]]],
    on_rejected: Callable[[], Awaitable[Any]],
    on_completed: Callable[[], Awaitable[Any]],
) -> None:
    """Aggregate an application's tasks into its state and act on it, after a department answered.

    One rejection ends it (the service then releases what the application held); a return waits for the
    applicant's supplement (announced once, however many departments return it); all approved completes
    it (the service's own completion); otherwise the tasks whose dependencies are now approved are asked.
    """
    now = utcnow()
    app.updated_at = now
    progress = progress_of(tasks)
    if progress == Progress.rejected:
        app.status = ApplicationStatus.rejected
        app.reason = rejection_reason(tasks)
        await on_rejected()
        emit_application_event(uow, service, app, tasks)
    elif progress == Progress.returned:
        app.missing = [item for t in tasks if t.status == "returned" for item in missing_items(t)]
        if app.status != ApplicationStatus.returned:
            app.status = ApplicationStatus.returned
            emit_application_event(uow, service, app, tasks)
    elif progress == Progress.completed:
        await on_completed()
    else:
        request_ready(uow, plan(), tasks, details(), now=now, deadline=app.due_at)
