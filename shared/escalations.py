"""办不成事 (§13: a window for what could not be done; 首问负责): an applicant reports that an application is stuck
or was refused unfairly, and a supervisor answers within a time limit in working days.

The escalation is kept beside its application, in the owning service's database (``shared.records.Escalation``),
and is written in the same transaction as its announcement (``<service>.escalation.raised``, naming the
departments concerned: those the application waits for, or those that refused or returned it). The supervisor's
outcome is announced too (``<service>.escalation.resolved``). Both carry the application as their CloudEvent
subject, so the applicant's live progress shows them. A department may not read a service's stream, so each
department concerned is also told on its own conversation (``task.<service>.<department>.escalated``, in the same
unit of work), where its back office's notice consumer reads it.

What an outcome does: ``upheld`` on a stuck application asks its overdue departments again (their tasks are
announced once more, same round, so a department's client that lost or shelved the request sees it again);
``upheld`` on a refusal, ``dismissed`` and ``resolved`` are recorded and announced — reopening a refused
application is a new procedure (a correction or a new application), not something a supervisor's note does.

Every application service gets the routes through the kit (``shared.kit.application_service``); the gateway
routes the applicant's request to the owning service and gathers the supervisors' queue from every service.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ClauseList
from sqlmodel import col, select

from shared.auth import CurrentPrincipal, Principal, SupervisorPrincipal, require_write
from shared.db import session_memo
from shared.events import (
    EscalationRaised,
    EscalationResolved,
    TaskEscalated,
    TaskEventKind,
    make_event,
    service_subject,
    task_subject,
)
from shared.fanout import TaskStatus
from shared.idempotency import Created, IdempotencyKey, create_once
from shared.outbox import UnitOfWork
from shared.pagination import Page, Paging, fetch_page
from shared.problems import Problem
from shared.records import DepartmentTask, Escalation, utcnow
from shared.refusals import Conflict, NotFound
from shared.service import Runtime
from shared.tasks import emit_task_requested, is_overdue, load_tasks
from shared.workdays import add_working_days

if TYPE_CHECKING:
    from shared.applications import ApplicationFlow

MAX_DESCRIPTION = 2000
MAX_NOTE = 2000


class EscalationReason(StrEnum):
    """Why the applicant escalates."""

    stuck = "stuck"  # 多次跑、来回跑: nothing moves, or a department is past its time limit
    unfair_refusal = "unfair_refusal"  # refused or sent back for what the applicant holds is no good reason
    other = "other"


class EscalationOutcome(StrEnum):
    """What the supervisor found."""

    upheld = "upheld"  # the applicant is right: the departments concerned are told again
    dismissed = "dismissed"  # the application is handled as it should be
    resolved = "resolved"  # sorted out meanwhile (e.g. with the department, in person)


OPEN = "open"
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_DESCRIPTION)]


class EscalationIn(BaseModel):
    """The applicant's report: why, and what happened, in their words."""

    model_config = ConfigDict(extra="forbid")

    reason: EscalationReason
    description: Description = Field(description="what happened, in the applicant's words (1-2000 characters)")


class OutcomeIn(BaseModel):
    """The supervisor's outcome and a note for the applicant."""

    model_config = ConfigDict(extra="forbid")

    outcome: EscalationOutcome
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NOTE)] = Field(
        description="what was found and done, as the applicant reads it (1-2000 characters)")


class EscalationPublic(BaseModel):
    """An escalation as its applicant and the supervisors see it."""

    id: str
    application_id: str
    application_number: str
    service: str
    reason: str
    description: str
    application_status: str
    departments: list[str]
    status: str = Field(description="open, or the outcome: upheld, dismissed, resolved")
    raised_at: datetime
    due_at: datetime
    due_provisional: bool
    overdue: bool
    outcome_note: str | None
    decided_by: str | None
    decided_at: datetime | None
    reannounced: list[str] = Field(description="the overdue tasks asked again when it was upheld")


# --- The rules (pure) -------------------------------------------------------------------------------------------


def departments_concerned(reason: EscalationReason | str, tasks: Sequence[DepartmentTask]) -> list[str]:
    """The departments an escalation is about: those the application waits for (stuck), those that refused or
    returned it (unfair refusal), or both (other); in the tasks' order."""
    waiting = {TaskStatus.requested.value}
    refusing = {TaskStatus.rejected.value, TaskStatus.returned.value}
    wanted = {EscalationReason.stuck: waiting, EscalationReason.unfair_refusal: refusing}.get(
        EscalationReason(reason), waiting | refusing)
    return list(dict.fromkeys(t.department for t in tasks if t.status in wanted))


def refusal_to_raise(reason: EscalationReason | str, status: str, final_statuses: frozenset[str],
                     open_escalation: bool) -> Conflict | None:
    """Why an escalation cannot be raised now, or None: one at a time per application; a finished application is
    not stuck; a refusal is escalated once there is one (rejected, or returned for more material)."""
    if open_escalation:
        return Conflict("escalation_open", "this application has an escalation waiting for its outcome already",
                        title="Escalation already open")
    if reason == EscalationReason.stuck and status in final_statuses:
        return Conflict("application_final", f"the application is {status}: it is not stuck",
                        title="Application finished", status_now=status)
    if reason == EscalationReason.unfair_refusal and status not in {"rejected", "returned"}:
        return Conflict("not_refused", f"the application is {status}: nothing was refused",
                        title="Nothing refused", status_now=status)
    return None


def escalation_overdue(escalation: Escalation, now: datetime | None = None) -> bool:
    """Still open past the supervisors' time limit."""
    return escalation.status == OPEN and escalation.due_at < (now or utcnow())


def overdue_to_reannounce(tasks: Sequence[DepartmentTask], now: datetime) -> list[DepartmentTask]:
    """The tasks an upheld 'stuck' escalation asks again: still waiting for their department and past due."""
    return [t for t in tasks if t.status == TaskStatus.requested and is_overdue(t, now)]


# --- Reading ----------------------------------------------------------------------------------------------------


def escalation_public(escalation: Escalation, now: datetime | None = None) -> EscalationPublic:
    """One escalation as answered (overdue computed)."""
    return EscalationPublic(**escalation.model_dump(exclude={"applicant", "raised_by"}),
                            overdue=escalation_overdue(escalation, now))


# The applications a transaction submitted (``session_memo``): none of them has an escalation yet.
SUBMITTED = "onestop.submitted"


async def escalations_of(session: AsyncSession, application_id: str) -> list[EscalationPublic]:
    """An application's escalations, oldest first."""
    if application_id in session_memo(session, SUBMITTED):
        return []
    rows = await session.execute(select(Escalation).where(Escalation.application_id == application_id)
                                 .order_by(col(Escalation.raised_at), col(Escalation.id)))
    now = utcnow()
    return [escalation_public(e, now) for e in rows.scalars()]


# --- Changing ---------------------------------------------------------------------------------------------------


def _announce(uow: UnitOfWork, escalation: Escalation, event: str, data: EscalationRaised | EscalationResolved) -> None:
    uow.emit(service_subject(escalation.service, "escalation", event),
             make_event(f"{escalation.service}.escalation.{event}", data, source_service=escalation.service,
                        subject=escalation.application_id))


def _tell_departments(uow: UnitOfWork, escalation: Escalation, tasks: Sequence[DepartmentTask],
                      reannounced: Sequence[str] = ()) -> None:
    # The departments concerned read only their own conversation, not the service's stream the announcement is on.
    by_department = {t.department: t for t in tasks}
    for department in escalation.departments:
        task = by_department.get(department)
        data = TaskEscalated(
            escalation_id=escalation.id, application_id=escalation.application_id,
            application_number=escalation.application_number, service=escalation.service, department=department,
            task_id=task.id if task else None, task_status=task.status if task else None, reason=escalation.reason,
            status=escalation.status, application_status=escalation.application_status, due_at=escalation.due_at,
            raised_at=escalation.raised_at, note=escalation.outcome_note,
            reannounced=task is not None and task.id in reannounced, decided_at=escalation.decided_at)
        uow.emit(task_subject(escalation.service, department, TaskEventKind.escalated),
                 make_event(f"task.{escalation.service}.{department}.{TaskEventKind.escalated}", data,
                            source_service=escalation.service, subject=escalation.application_id))


async def raise_escalation(uow: UnitOfWork, flow: ApplicationFlow[Any], application_id: str, principal: Principal,
                           body: EscalationIn, *, working_days: int) -> Escalation:
    """The applicant's escalation, stored and announced with the departments concerned. ``NotFound`` for an
    application that is not the caller's, ``Forbidden`` for a reader who may not act for it (an admin),
    ``Conflict`` when it cannot be raised now (``refusal_to_raise``)."""
    found = await flow.readable(uow.session, application_id, principal)
    require_write(principal, found.applicant, found.submitted_by)
    app = await flow.lock(uow, found.id)  # one escalation at a time, however many requests race
    assert app is not None
    opened = await uow.session.execute(select(Escalation.id).where(
        Escalation.application_id == app.id, Escalation.status == OPEN).limit(1))
    refusal = refusal_to_raise(body.reason, app.status, flow.final_statuses, opened.first() is not None)
    if refusal is not None:
        raise refusal
    tasks = await load_tasks(uow.session, app.id)
    now = utcnow()
    due = add_working_days(now, working_days)
    escalation = Escalation(
        application_id=app.id, application_number=app.number, service=flow.service, applicant=app.applicant,
        raised_by=principal.sub, reason=body.reason.value, description=body.description,
        application_status=app.status, departments=departments_concerned(body.reason, tasks), status=OPEN,
        raised_at=now, due_at=due.at, due_provisional=due.provisional)
    uow.session.add(escalation)
    _announce(uow, escalation, "raised", EscalationRaised(
        escalation_id=escalation.id, application_id=app.id, application_number=app.number, service=flow.service,
        reason=escalation.reason, application_status=app.status, departments=escalation.departments,
        due_at=escalation.due_at, raised_at=now))
    _tell_departments(uow, escalation, tasks)
    return escalation


async def record_outcome(uow: UnitOfWork, flow: ApplicationFlow[Any], escalation_id: str, principal: Principal,
                         body: OutcomeIn) -> Escalation:
    """The supervisor's outcome, recorded and announced; an upheld 'stuck' escalation asks the overdue
    departments again. ``NotFound`` when the escalation is not this service's, ``Conflict`` when it has an
    outcome already."""
    found = await uow.session.get(Escalation, escalation_id)
    if found is None:
        raise NotFound("escalation_not_found", f"no escalation {escalation_id}")
    # The application first, then the escalation: the order every change of the application takes its locks in.
    await flow.lock(uow, found.application_id)
    escalation = await uow.session.get(Escalation, escalation_id, with_for_update=True, populate_existing=True)
    assert escalation is not None
    if escalation.status != OPEN:
        raise Conflict("escalation_decided", f"the escalation is {escalation.status} already",
                       title="Escalation already decided", status_now=escalation.status)
    now = utcnow()
    reannounced: list[str] = []
    tasks = await load_tasks(uow.session, escalation.application_id)
    if body.outcome == EscalationOutcome.upheld and escalation.reason == EscalationReason.stuck:
        for task in overdue_to_reannounce(tasks, now):
            emit_task_requested(uow, task)
            reannounced.append(task.id)
    escalation.status = body.outcome.value
    escalation.outcome_note = body.note
    escalation.decided_by = principal.sub
    escalation.decided_at = now
    escalation.reannounced = reannounced
    _announce(uow, escalation, "resolved", EscalationResolved(
        escalation_id=escalation.id, application_id=escalation.application_id,
        application_number=escalation.application_number, service=escalation.service, reason=escalation.reason,
        outcome=escalation.status, note=body.note, departments=escalation.departments, reannounced=reannounced,
        decided_at=now))
    _tell_departments(uow, escalation, tasks, reannounced)
    return escalation


# --- Routes every application service has (the gateway is their public face) -----------------------------------

RAISE_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "read only: an admin reads the application, only its applicant escalates it"},
    404: {"description": "no such application, or not the caller's"},
    409: {"description": "an escalation is open already, the application is finished (not stuck), nothing was "
                         "refused, or the Idempotency-Key is in use"},
}
OUTCOME_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such escalation"},
    409: {"description": "the escalation has its outcome already"},
}


def escalation_router(flow: ApplicationFlow[Any]) -> APIRouter:
    """The escalation routes of the service that owns ``flow``: raise one on an application, the supervisors'
    queue, and the outcome."""
    router = APIRouter(prefix="/api/v1", tags=["办不成事 escalations"])

    def concurrent() -> Problem:
        return Problem(409, "Concurrent request", "another request changed this at the same moment; try again",
                       code="concurrent_request")

    @router.post("/applications/{application_id}/escalations", status_code=201, response_model=EscalationPublic,
                 responses=RAISE_RESPONSES)
    async def raise_one(application_id: Annotated[str, Path(max_length=100)], body: EscalationIn,
                        principal: CurrentPrincipal, runtime: Runtime, key: IdempotencyKey) -> JSONResponse:
        """办不成事: the applicant reports the application stuck or unfairly refused (201)."""
        payload = {"application_id": application_id, **body.model_dump(mode="json")}

        async def create(uow: UnitOfWork) -> Created:
            escalation = await raise_escalation(uow, flow, application_id, principal, body,
                                                working_days=runtime.settings.escalation_working_days)
            return Created(201, escalation_public(escalation).model_dump(mode="json"), escalation.id)

        return await create_once(runtime.uow, principal.sub, key, payload, create, on_conflict=concurrent)

    @router.get("/supervision/escalations", response_model=Page[EscalationPublic])
    async def queue(_supervisor: SupervisorPrincipal, runtime: Runtime, paging: Paging,
                    status: Annotated[str | None, Query(max_length=20)] = OPEN) -> Page[EscalationPublic]:
        """This service's escalations, the most urgent first (``status`` open by default; empty for all)."""
        query = select(Escalation)
        if status:
            query = query.where(Escalation.status == status)
        order = ClauseList(col(Escalation.due_at), col(Escalation.id))
        async with runtime.maker() as session:
            total, rows = await fetch_page(session, query, order, paging)
        now = utcnow()
        return Page[EscalationPublic](items=[escalation_public(e, now) for e in rows], total=total,
                                      limit=paging.limit, offset=paging.offset)

    @router.post("/supervision/escalations/{escalation_id}/outcome", response_model=EscalationPublic,
                 responses=OUTCOME_RESPONSES)
    async def outcome(escalation_id: Annotated[str, Path(max_length=100)], body: OutcomeIn,
                      supervisor: SupervisorPrincipal, runtime: Runtime) -> EscalationPublic:
        """The supervisor's outcome (upheld, dismissed, resolved), announced to the applicant and departments."""
        async with runtime.uow() as uow:
            escalation = await record_outcome(uow, flow, escalation_id, supervisor, body)
            await uow.commit()
        return escalation_public(escalation)

    return router
