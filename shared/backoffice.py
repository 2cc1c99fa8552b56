"""Department answers reach a service two ways — over NATS (``task.<svc>.<dept>.resolved``) or over HTTP
from the back-office API — and both go through the service's one ``apply_decision``. This module wires
both ways, plus the department queue and the admin audit trail, for any service."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from nats.aio.msg import Msg
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.sql.expression import ClauseList
from sqlmodel import select

from shared.auth import AdminPrincipal, CurrentPrincipal, require_officer
from shared.bus import ConsumerSpec
from shared.departments import Department
from shared.events import TASKS_STREAM, CloudEvent, TaskEventKind, TaskResolved, make_event, task_subject
from shared.outbox import UnitOfWork, one_per_unit
from shared.pagination import Page, Paging, fetch_page
from shared.problems import Problem
from shared.records import DepartmentTask, TaskDecision, utcnow
from shared.refusals import Refusal
from shared.service import Runtime, ServiceRuntime
from shared.tasks import DecisionConflict, department_queue, is_overdue

log = logging.getLogger("onestop.backoffice")

# Applies a decision in the caller's unit of work; raises DecisionConflict when the task is not open.
ApplyDecision = Callable[[UnitOfWork, TaskResolved, str], Awaitable[None]]


def answers_consumer_name(service: str) -> str:
    return f"{service}-task-answers"


def task_answers_consumer(runtime: ServiceRuntime, apply: ApplyDecision) -> ConsumerSpec:
    """The durable consumer of every department's answers to this service's tasks."""
    consumer = answers_consumer_name(runtime.name)

    async def in_unit(uow: UnitOfWork, event: CloudEvent, _msg: Msg) -> None:
        """One answer in the caller's unit of work (a fetched batch shares one), in one savepoint of it: whatever
        it raises leaves the unit as it was."""
        decision = event.data_as(TaskResolved)
        try:
            async with uow.savepoint():
                if await uow.already_handled(consumer, event.id):
                    return
                await apply(uow, decision, "nats")
        except (DecisionConflict, Refusal) as exc:
            # A late or repeated answer, or one the rules refuse (a payment of the wrong amount): change
            # nothing, but record it in the inbox so it is not retried.
            await uow.already_handled(consumer, event.id)
            log.warning("decision ignored", extra={"event_id": event.id, "reason": str(exc)})

    return ConsumerSpec(
        durable=consumer,
        stream=TASKS_STREAM,
        filter_subjects=[f"task.{runtime.name}.*.{TaskEventKind.resolved}"],
        handler=one_per_unit(runtime.uow, in_unit),
        unit=runtime.uow,
        in_unit=in_unit,
        own_savepoint=True,
        inbox=consumer,
    )


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approved", "rejected", "returned"]
    comment: str | None = Field(default=None, max_length=2000)
    outputs: dict[str, Any] = Field(default_factory=dict)


class DepartmentTaskPublic(BaseModel):
    id: str
    service: str
    application_id: str
    application_number: str
    department: str
    kind: str
    status: str
    round: int
    requested_at: datetime | None
    due_at: datetime | None
    due_provisional: bool
    overdue: bool
    resolved_at: datetime | None
    comment: str | None
    details: dict[str, Any]
    outputs: dict[str, Any]
    decided_by: str | None


class DecisionPublic(BaseModel):
    id: str
    task_id: str
    application_id: str
    department: str
    round: int
    outcome: str
    comment: str | None
    outputs: dict[str, Any]
    decided_by: str | None
    channel: str
    decided_at: datetime
    recorded_at: datetime


def task_public(task: DepartmentTask, now: datetime | None = None) -> DepartmentTaskPublic:
    """A task as a department officer sees it (overdue computed, not only flagged)."""
    return DepartmentTaskPublic(**task.model_dump(exclude={"overdue_at", "created_at", "depends_on",
                                                          "working_days"}), overdue=is_overdue(task, now))


def department_router(service: str, apply: ApplyDecision) -> APIRouter:
    """``/api/v1/departments/{code}/tasks`` and the decision endpoint, for officers of that department;
    ``/api/v1/admin/task-decisions`` (the audit trail) for admins."""
    router = APIRouter(prefix="/api/v1", tags=["department back office"])

    @router.get("/departments/{code}/tasks", response_model=list[DepartmentTaskPublic])
    async def list_tasks(
        code: Department,
        principal: CurrentPrincipal,
        runtime: Runtime,
        status: Annotated[str | None, Query()] = "requested",
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[DepartmentTaskPublic]:
        require_officer(principal, code)
        async with runtime.maker() as session:
            tasks = await department_queue(session, code, status or None, limit=limit, offset=offset)
        now = utcnow()
        return [task_public(t, now) for t in tasks]

    @router.post("/departments/{code}/tasks/{task_id}/decision", response_model=DepartmentTaskPublic)
    async def decide(code: Department, task_id: str, body: DecisionIn, principal: CurrentPrincipal,
                     runtime: Runtime) -> DepartmentTaskPublic:
        require_officer(principal, code)
        if not principal.is_officer_of(code):
            raise Problem(403, "Forbidden", "only an officer of the department decides its tasks", code="forbidden")
        async with runtime.uow() as uow:
            task = await uow.session.get(DepartmentTask, task_id)
            if task is None or task.department != code:
                raise Problem(404, "Not found", f"no task {task_id} in the queue of {code}", code="task_not_found")
            decision = TaskResolved(
                task_id=task.id, application_id=task.application_id, service=service, department=code,
                outcome=body.outcome, comment=body.comment, outputs=body.outputs, decided_by=principal.sub,
                decided_at=utcnow(), round=task.round,
            )
            event = make_event(f"task.{service}.{code}.resolved", decision, source_service=service,
                               subject=task.application_id)
            # Announce the decision like one from NATS (first, so it precedes what it causes in the outbox),
            # and mark it handled so our own consumer skips it.
            await uow.already_handled(answers_consumer_name(service), event.id)
            uow.emit(task_subject(service, code, TaskEventKind.resolved), event)
            try:
                await apply(uow, decision, "http")
            except DecisionConflict as exc:
                raise Problem(409, "Task already decided", str(exc), code="task_already_decided") from exc
            await uow.commit()
            return task_public(task)

    @router.get("/admin/task-decisions", response_model=Page[DecisionPublic])
    async def audit_trail(
        _admin: AdminPrincipal,
        runtime: Runtime,
        paging: Paging,
        application_id: Annotated[str | None, Query(max_length=100)] = None,
    ) -> Page[DecisionPublic]:
        """Every decision on this service's tasks (append-only), in the order they were recorded."""
        query = select(TaskDecision)
        if application_id:
            query = query.where(TaskDecision.application_id == application_id)
        # The id breaks ties of recorded_at, so that pages (and the gateway's merge of every service's pages)
        # never skip or repeat a decision; one clause list, as fetch_page takes one ordering clause.
        order = ClauseList(TaskDecision.recorded_at, TaskDecision.id)  # type: ignore[arg-type]
        async with runtime.maker() as session:
            total, rows = await fetch_page(session, query, order, paging)
        return Page[DecisionPublic](items=[DecisionPublic.model_validate(r, from_attributes=True) for r in rows],
                                    total=total, limit=paging.limit, offset=paging.offset)

    return router
