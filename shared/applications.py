"""What every service's applications have in common, whatever they apply for: the public answer's common
fields, who may read them, the caller's own list, the row lock that serialises changes to one application,
and the life of an application as one ``ApplicationFlow``: submitted (number, row, tasks, first event,
first requests), answered by departments, returned and supplemented (补正), rejected or completed, each
state announced on ``<service>.application.<status>``.

A service declares its flow once (its table, plan, what each department is sent, what completion does)
and its commands and handlers call it. A flow whose service item is in the catalogue (``MaterialsRule``) also
checks the form's materials against it: missing key materials refuse the application, missing deferrable ones
are accepted with a deadline (容缺受理) that a durable timer keeps, and every department's task carries signed
links to the application's documents and what is still pending."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from shared import catalogue, timers
from shared.auth import Principal, may_read, require_write
from shared.bus import PoisonMessage
from shared.db import session_memo
from shared.departments import Department
from shared.escalations import SUBMITTED, EscalationPublic
from shared.events import ApplicationEvent, MaterialsGap, TaskResolved, make_event, service_subject
from shared.fanout import ApplicationStatus, Plan, Progress, Step, ready_steps
from shared.forms import FormModel, FormShape
from shared.materials import (
    FormMaterials,
    MaterialInfo,
    MaterialRef,
    PendingMaterial,
    check_materials,
    document_problem,
    material_link,
    material_of,
)
from shared.numbers import next_application_number
from shared.outbox import UnitOfWork
from shared.pagination import PageQuery, fetch_page
from shared.problems import field_problems_from_validation
from shared.records import ApplicationRecord, DepartmentTask, Timer, utcnow
from shared.refusals import Conflict, Invalid, NotFound
from shared.tasks import (
    CREATION_ORDER,
    DecisionConflict,
    is_overdue,
    load_tasks,
    new_tasks,
    progress_of,
    record_decision,
    reopen_returned,
    request_ready,
    statuses_of,
)
from shared.validation import Checks
from shared.workdays import add_working_days, local_today

A = TypeVar("A")
App = TypeVar("App", bound=ApplicationRecord)
TaskDetails = Callable[[DepartmentTask], dict[str, Any]]


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


class ApplicationPublic(BaseModel):
    """The fields every service's application answers with, whatever it applies for."""

    id: str
    number: str
    service: str
    status: str
    applicant: str
    submitted_by: str
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    completed_at: datetime | None
    reason: str | None = Field(description="why the application was stopped or rejected")
    missing: list[str] = Field(description="what a returning department asks for (补正)")
    pending_materials: list[PendingMaterial] = Field(
        default_factory=list, description="容缺受理: non-key materials the application was accepted without, still to "
                                          "come (POST .../materials); the application is returned if they do not")
    materials_deadline: datetime | None = Field(default=None, description="when the pending materials are due")
    tasks: list[TaskPublic]
    escalations: list[EscalationPublic] = Field(default_factory=list,
                                                description="办不成事: the applicant's escalations and their outcomes")


def stored_form(shape: FormShape, app: ApplicationRecord) -> Any:
    """The application's stored form as today's model (``shape.read``), read once per loaded row: the plan, what
    each department is sent, the materials and the completion each want it, several times a transaction. A row
    read again (populated afresh after its lock, in a later transaction) or given a new form is read afresh.
    The model returned is shared: read it, never change it."""
    memo = sa.inspect(app).info
    key = ("stored_form", id(shape))
    held = memo.get(key)
    # The memo holds the form it was read from, so an identical object is the same form, not a successor.
    if held is not None and held[0] is app.form and held[1] == app.form_version:
        return held[2]
    form = shape.read(app.form, app.form_version)
    memo[key] = (app.form, app.form_version, form)
    return form


def application_fields(app: ApplicationRecord, tasks: Sequence[DepartmentTask]) -> dict[str, Any]:
    """The common fields of an ``ApplicationPublic`` for a stored application and its tasks."""
    return {
        "id": app.id, "number": app.number, "status": app.status, "applicant": app.applicant,
        "submitted_by": app.submitted_by, "created_at": app.created_at, "updated_at": app.updated_at,
        "due_at": app.due_at, "completed_at": app.completed_at, "reason": app.reason, "missing": app.missing,
        "tasks": task_views(tasks),
    }


# The timer of an application's deferred materials (容缺受理): its due time is the deadline, its payload the
# materials still to come. One per application; it stays (fired) after the deadline until the gap is closed.
DEFERRAL_TIMER = "materials.deferral"


# The deferral of each application a transaction has read or made (``session_memo``): the submission, its first
# requests and its answer each want it, and only ``ApplicationFlow._defer`` makes one.
DEFERRALS = "onestop.deferrals"


async def deferral_of(session: AsyncSession, application_id: str) -> Timer | None:
    """The deferral of an application's materials, if it was accepted without some (read once per transaction)."""
    known = session_memo(session, DEFERRALS)
    if application_id not in known:
        # Not flushed first: nothing this transaction has pending changes a deferral (only ``_defer`` makes one,
        # and it records it here).
        with session.no_autoflush:
            found = [t for t in await timers.timers_of(session, application_id) if t.kind == DEFERRAL_TIMER]
        known[application_id] = found[-1] if found else None
    deferral: Timer | None = known[application_id]
    return deferral


def pending_materials(deferral: Timer | None) -> list[PendingMaterial]:
    """What a deferral still waits for."""
    if deferral is None:
        return []
    return [PendingMaterial.model_validate(p) for p in deferral.payload.get("pending", [])]


async def materials_fields(session: AsyncSession, app: ApplicationRecord) -> dict[str, Any]:
    """The materials fields of an ``ApplicationPublic``: what is still to come, and by when."""
    deferral = await deferral_of(session, app.id)
    pending = pending_materials(deferral)
    return {"pending_materials": pending, "materials_deadline": deferral.due_at if deferral and pending else None}


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
        reason=app.reason, missing=app.missing, departments=[t.department for t in tasks],
    )
    uow.emit(service_subject(service, "application", app.status),
             make_event(f"{service}.application.{app.status}", data, source_service=service, subject=app.id))


# The key a prebuilt statement's row is chosen by. The hot path's statements are built once per model, not per
# call: building one (its clauses, its cache key) cost as much as the ORM's handling of the rows it reads.
_KEY: sa.BindParameter[str] = sa.bindparam("key")
_LOCKING: dict[type, Any] = {}
_LOCKING_WITH_TASKS: dict[type, Any] = {}


def _locking(model: type) -> Any:
    query = _LOCKING.get(model)
    if query is None:
        pk: Any = sa.inspect(model).primary_key[0]
        # populate_existing: an object this session read before taking the lock is refreshed, not trusted.
        query = _LOCKING[model] = (select(model).where(pk == _KEY).with_for_update()
                                   .execution_options(populate_existing=True))
    return query


def _locking_with_tasks(model: type) -> Any:
    query = _LOCKING_WITH_TASKS.get(model)
    if query is None:
        pk: Any = sa.inspect(model).primary_key[0]
        query = _LOCKING_WITH_TASKS[model] = (
            select(model, DepartmentTask).outerjoin(DepartmentTask, col(DepartmentTask.application_id) == pk)
            .where(pk == _KEY).order_by(*CREATION_ORDER)
            .with_for_update(of=model).execution_options(populate_existing=True))
    return query


async def lock_row(session: AsyncSession, model: type[A], key: str) -> A | None:
    """A row locked for the rest of the transaction (PostgreSQL; SQLite serialises writers anyway), so
    two answers or two requests about the same object apply one after the other, each seeing the other."""
    result = await session.execute(_locking(model), {"key": key})
    row: A | None = result.scalar_one_or_none()
    return row


async def lock_with_tasks(session: AsyncSession, model: type[A], key: str) -> tuple[A | None, list[DepartmentTask]]:
    """An application locked as ``lock_row`` locks it, and its tasks in creation order, read after the lock is
    held (its tasks refreshed too: one read before the lock is not trusted either).

    On PostgreSQL the tasks are read by a second statement: in one statement joining them, a wait for the
    application's lock would return the row's new version but the tasks as they were when the statement
    began, before the answer that held the lock committed, and the two answers would each miss the other's.
    SQLite serialises writers before the first statement, so there the one statement is safe."""
    if session.get_bind().dialect.name == "postgresql":
        app = await lock_row(session, model, key)
        return app, (await load_tasks(session, key, refresh=True) if app is not None else [])
    rows = (await session.execute(_locking_with_tasks(model), {"key": key})).all()
    if not rows:
        return None, []
    return rows[0][0], [task for _app, task in rows if task is not None]


async def readable_or_404(session: AsyncSession, model: type[A], key: str, principal: Principal,
                          not_found: NotFound) -> A:
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


async def take_answer(uow: UnitOfWork, model: type[A], decision: TaskResolved, channel: str, *,
                      final_statuses: frozenset[str]) -> tuple[A, list[DepartmentTask], DepartmentTask]:
    """Record a department's answer (from NATS or HTTP) on its task, with the application locked.

    Returns the application, all its tasks and the answered one, for the service to move on.
    ``PoisonMessage`` when the answer names no task of ours; ``DecisionConflict`` when the application
    is already final or the task is not waiting for this answer.
    """
    app: Any
    held = uow.locked.get((model, decision.application_id))
    if held is not None:
        app, tasks = held
    else:
        # Not flushed first: this unit has changed nothing of this application (else it would be in
        # ``uow.locked``, or flushed by the savepoint it was changed in); other applications' changes in the
        # batch are written with its commit, all at once.
        with uow.session.no_autoflush:
            app, tasks = await lock_with_tasks(uow.session, model, decision.application_id)
        if app is not None and not uow.savepoints:
            uow.locked[(model, decision.application_id)] = app, tasks
    if app is None:
        raise PoisonMessage(f"no application {decision.application_id}")
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


def stored_plan(tasks: Sequence[DepartmentTask]) -> Plan:
    """The plan an application's tasks were created from (each task keeps its step: kind, dependencies,
    working days)."""
    steps = tuple(Step(Department(t.department), t.kind, tuple(Department(d) for d in t.depends_on), t.working_days)
                  for t in tasks)
    return Plan(steps, max((s.working_days for s in steps), default=0))


OnCompleted = Callable[[UnitOfWork, Any, list[DepartmentTask]], Awaitable[None]]
OnRejected = Callable[[UnitOfWork, Any], Awaitable[object]]  # what it returns is not used
OnAnswer = Callable[[UnitOfWork, Any, DepartmentTask], Awaitable[None] | None]


async def _nothing(_uow: UnitOfWork, _app: Any) -> None:
    return None


@dataclass(frozen=True)
class MaterialsRule:
    """How a service's form meets its catalogue items' materials: the item's code, what the form implies
    (``FormMaterials``: its circumstances and the materials it carries itself), and the documents it names.

    ``item`` is one code, or, for a service whose applications are of several items (a deregistration's
    procedure, the utilities chosen, a real-estate registration's type), how to tell an application's items
    from its stored row; the service then names them at submission (``ApplicationFlow.check_materials``)."""

    item: str | Callable[[Any], Sequence[str]]
    facts: Callable[[Any], FormMaterials]
    refs: Callable[[Any], Sequence[MaterialRef]] = lambda form: form.materials
    # Which of the flow's applications are of this item (a flow may also carry other kinds, e.g. changes).
    applies: Callable[[Any], bool] = lambda app: True

    def items_of(self, app: Any) -> tuple[str, ...]:
        """The catalogue items a stored application is of."""
        return (self.item,) if isinstance(self.item, str) else tuple(self.item(app))


@dataclass(frozen=True)
class ApplicationFlow(Generic[App]):
    """The life of one service's applications, declared once.

    ``plan`` and ``details`` are the service's rules (which departments, in which order; what each is sent);
    ``on_completed`` is what every approval together achieves (it sets the final status and announces it);
    ``on_rejected`` releases what the application held; ``on_answer`` sees each recorded answer first (e.g.
    samr's approval carries the USCC).
    """

    service: str
    model: type[App]
    number_prefix: str
    shape: FormShape
    final_statuses: frozenset[str]
    plan: Callable[[App], Plan]
    details: Callable[[App, Sequence[DepartmentTask]], TaskDetails]
    on_completed: OnCompleted
    on_rejected: OnRejected = _nothing
    on_answer: OnAnswer | None = None
    # A column naming another party who may read the application and finds it among their own (e.g. the
    # buyer of a property transfer, who confirms what the seller filed).
    co_party: str | None = None
    # The catalogue item whose materials the form must meet (None: the service checks none yet).
    materials: MaterialsRule | None = None

    # --- reading -----------------------------------------------------------------------------------------

    def form(self, app: App) -> Any:
        """The application's stored form as today's model (read leniently, upgraded from its version)."""
        return stored_form(self.shape, app)

    async def lock(self, uow: UnitOfWork, application_id: str) -> App | None:
        """The application row, locked for this transaction."""
        return await lock_row(uow.session, self.model, application_id)

    async def readable(self, session: AsyncSession, application_id: str, principal: Principal) -> App:
        """An application the caller may read, or ``NotFound`` (another applicant's looks missing too)."""
        if self.co_party is not None:
            app = await session.get(self.model, application_id)
            if app is not None and getattr(app, self.co_party) == principal.sub:
                return app
        return await readable_or_404(session, self.model, application_id, principal, self.not_found())

    def not_found(self) -> NotFound:
        return NotFound("not_found", f"no such {self.service} application")

    async def own_page(self, session: AsyncSession, principal: Principal, paging: PageQuery,
                       *where: Any) -> tuple[int, list[App]]:
        """The caller's own applications (a clerk's: those they submitted; an admin's: all), newest first;
        ``where`` narrows them further (e.g. to one kind)."""
        query = own_only(select(self.model), self.model, principal)
        if self.co_party is not None and not principal.is_admin and not principal.is_clerk:
            query = select(self.model).where(sa.or_(self.model.applicant == principal.sub,  # type: ignore[arg-type]
                                                    getattr(self.model, self.co_party) == principal.sub))
        if where:
            query = query.where(*where)
        return await fetch_page(session, query, self.model.created_at.desc(), paging)  # type: ignore[attr-defined]

    # --- changing ------------------------------------------------------------------------------------------

    def emit(self, uow: UnitOfWork, app: App, tasks: Sequence[DepartmentTask]) -> None:
        """Announce the application's current state."""
        emit_application_event(uow, self.service, app, tasks)

    async def submit(self, uow: UnitOfWork, app: App, *, district_code: str, request_now: bool = True,
                     now: datetime | None = None, deferred: Sequence[PendingMaterial] = ()) -> list[DepartmentTask]:
        """Store a new application: its number, its row, one task per step of its plan, the announcement of
        its first state, the deadline of the materials it was accepted without (``deferred``, from
        ``check_materials``), and (unless it first waits, e.g. for a public notice) the first requests. An
        application asked of its departments now is due within its plan's time limit (承诺时限) from now; one
        that waits is given its due time when it ``start``s."""
        now = now or app.created_at
        app.number = await next_application_number(uow.session, self.number_prefix, district_code, now.date())
        app.form_version = self.shape.version
        uow.session.add(app)
        # Nothing is known of it yet: no escalation, and no deferral unless ``_defer`` below makes one.
        session_memo(uow.session, SUBMITTED)[app.id] = True
        session_memo(uow.session, DEFERRALS)[app.id] = None
        plan = self.plan(app)
        if request_now and app.due_at is None:
            app.due_at = add_working_days(now, plan.working_days).at
        tasks = new_tasks(plan, application_id=app.id, application_number=app.number, service=self.service)
        uow.session.add_all(tasks)
        self.emit(uow, app, tasks)
        if deferred:
            self._defer(uow, app, deferred, now)
        if request_now:
            request_ready(uow, plan, tasks, await self.task_details(uow.session, app, tasks, now=now), now=now,
                          deadline=app.due_at)
        return tasks

    # --- materials (申请材料, 容缺受理) -----------------------------------------------------------------------

    def check_materials(self, form: Any, found: Mapping[str, MaterialInfo | None], *, now: datetime | None = None,
                        items: Sequence[str] | None = None) -> list[PendingMaterial]:
        """The form's materials against the catalogue in force today: ``Invalid`` naming every problem (a key
        material missing, a document not the applicant's or in a format the material does not take); else the
        deferrable materials it is accepted without (容缺受理). ``items`` are the catalogue items the application
        is of, for a rule that tells them from the stored row (the row is not made yet)."""
        if self.materials is None:
            return []
        rule = self.materials
        if items is None:
            assert isinstance(rule.item, str), "a rule of several items is told them at submission"
            items = (rule.item,)
        problems, deferred = check_materials(catalogue.default_catalogue(), items, local_today(now),
                                             rule.refs(form), found, rule.facts(form))
        if problems:
            raise Invalid(problems)
        return deferred

    def _defer(self, uow: UnitOfWork, app: App, deferred: Sequence[PendingMaterial], now: datetime) -> None:
        assert self.materials is not None
        periods = [catalogue.default_catalogue().deferral_working_days(item, local_today(now))
                   for item in self.materials.items_of(app)]
        # The catalogue refuses an entry with deferrable materials and no deferral period; of several items the
        # shortest period holds, so no item's own deadline is passed.
        days = min(d for d in periods if d is not None)
        deadline = add_working_days(now, days).at
        pending = [p.model_dump() for p in deferred]
        session_memo(uow.session, DEFERRALS)[app.id] = timers.schedule(uow.session, DEFERRAL_TIMER, app.id, deadline,
                                                                       {"pending": pending})
        self._announce_gap(uow, app, "deferred", pending, deadline)

    def _announce_gap(self, uow: UnitOfWork, app: App, event: str, pending: list[dict[str, Any]],
                      deadline: datetime | None, supplied: str | None = None) -> None:
        data = MaterialsGap(application_id=app.id, number=app.number, service=self.service, applicant=app.applicant,
                            pending=pending, deadline=deadline, supplied=supplied)
        uow.emit(service_subject(self.service, "materials", event),
                 make_event(f"{self.service}.materials.{event}", data, source_service=self.service, subject=app.id))

    async def task_details(self, session: AsyncSession, app: App, tasks: Sequence[DepartmentTask], *,
                           now: datetime | None = None) -> TaskDetails:
        """What each department is sent: the service's own details, and for a flow with materials the signed
        links to the application's documents (valid for that department only) and what is still pending."""
        own = self.details(app, tasks)
        if self.materials is None or not self.materials.applies(app):
            return own
        refs = list(self.materials.refs(self.form(app)))
        deferral = await deferral_of(session, app.id)
        pending = [p.model_dump() for p in pending_materials(deferral)]
        deadline = deferral.due_at.isoformat() if deferral is not None and pending else None
        at = now or utcnow()

        def details(task: DepartmentTask) -> dict[str, Any]:
            sent = dict(own(task))
            sent["materials"] = [{"code": r.code, "id": r.id, "link": material_link(r.id, task.department, now=at)}
                                 for r in refs]
            if pending:
                sent["pending_materials"] = pending
                sent["materials_deadline"] = deadline
            return sent

        return details

    async def lapse_deferral(self, uow: UnitOfWork, timer: Timer) -> None:
        """The deadline of deferred materials passed (the timer fired): an application still waiting for some
        is returned to its applicant (补正), the missing ones named; until they come its departments' answers
        are recorded but it goes no further (``advance``)."""
        app = await self.lock(uow, timer.target_id)
        pending = pending_materials(timer)
        if app is None or app.status in self.final_statuses or not pending:
            return
        tasks = await load_tasks(uow.session, app.id)
        overdue = [f"{p.name_zh}（容缺材料逾期未补齐 / {p.name_en}, deferred material overdue）" for p in pending]
        app.missing = [*[m for m in app.missing if m not in overdue], *overdue]
        app.updated_at = utcnow()
        self._announce_gap(uow, app, "lapsed", [p.model_dump() for p in pending], timer.due_at)
        if app.status != ApplicationStatus.returned:
            app.status = ApplicationStatus.returned
            self.emit(uow, app, tasks)

    async def supply_material(self, uow: UnitOfWork, application_id: str, principal: Principal, ref: MaterialRef,
                              info: MaterialInfo | None) -> App:
        """A deferred material comes (``info``: what the materials service says of the document, None when it is
        not the applicant's): it joins the form and leaves the pending list; the last one closes the gap (its
        timer cancelled) and resumes an application the deadline had returned."""
        found = await self.readable(uow.session, application_id, principal)
        require_write(principal, found.applicant, found.submitted_by)
        app = await self.lock(uow, found.id)
        assert app is not None
        if app.status in self.final_statuses:
            raise Conflict("application_final", f"the application is {app.status}", title="Application closed",
                           status_now=app.status)
        deferral = await deferral_of(uow.session, app.id)
        pending = pending_materials(deferral)
        material = next((p for p in pending if p.code == ref.code), None)
        checks = Checks()
        if deferral is None or material is None or self.materials is None:
            checks.add(["code"], "material_not_pending", material=ref.code)
            raise Invalid(checks.problems)
        guide = catalogue.default_catalogue()
        wanted = material_of(guide, self.materials.items_of(app), local_today(app.created_at), ref.code)
        problem = document_problem(guide, wanted, info, ref.id)
        if problem is not None:
            code, params = problem
            checks.add(["id"], code, **params)
            raise Invalid(checks.problems)
        now = utcnow()
        # New objects, not edits in place: the JSON columns are saved when they are assigned.
        app.form = {**app.form, "materials": [*app.form.get("materials", []), ref.model_dump()]}
        left = [p.model_dump() for p in pending if p.code != ref.code]
        deferral.payload = {**deferral.payload, "pending": left}
        app.updated_at = now
        self._announce_gap(uow, app, "supplied", left, deferral.due_at, supplied=ref.code)
        if not left:
            await timers.cancel(uow.session, app.id, DEFERRAL_TIMER, now=now)
            tasks = await load_tasks(uow.session, app.id)
            app.missing = [m for m in app.missing if "容缺材料逾期未补齐" not in m]
            if app.status == ApplicationStatus.returned and not any(t.status == "returned" for t in tasks):
                app.status = ApplicationStatus.in_progress
                self.emit(uow, app, tasks)
                await self.advance(uow, app, tasks)
        return app

    def held_for_materials(self, app: App, tasks: Sequence[DepartmentTask]) -> bool:
        """Whether the application waits for deferred materials past their deadline (returned with no department
        asking for anything): answers are recorded, nothing further is asked or completed."""
        return (self.materials is not None and self.materials.applies(app) and app.status == ApplicationStatus.returned
                and progress_of(tasks) not in (Progress.returned, Progress.rejected))

    async def open_supplement(self, uow: UnitOfWork, application_id: str, principal: Principal,
                              changes: Mapping[str, Any]) -> tuple[App, FormModel]:
        """The caller's application, locked and waiting for a supplement, with its form after the changes
        (``NotFound``, ``Conflict`` or ``Invalid`` otherwise). The service checks its own rules, then
        ``resubmit``s."""
        found = await self.readable(uow.session, application_id, principal)
        require_write(principal, found.applicant, found.submitted_by)
        app = await self.lock(uow, found.id)
        assert app is not None
        self.expect_returned(app)
        return app, self.supplemented_form(app, changes)

    async def start(self, uow: UnitOfWork, app: App, *, now: datetime | None = None) -> list[DepartmentTask]:
        """Set an application waiting to start (a notice period over, a party's confirmation) in progress:
        due within its plan's time limit from now, announced, its first departments asked."""
        now = now or utcnow()
        tasks = await load_tasks(uow.session, app.id)
        plan = stored_plan(tasks)
        app.status = ApplicationStatus.in_progress
        app.updated_at = now
        app.due_at = add_working_days(now, self.plan(app).working_days).at
        self.emit(uow, app, tasks)
        request_ready(uow, plan, tasks, await self.task_details(uow.session, app, tasks, now=now), now=now,
                      deadline=app.due_at)
        return tasks

    def supplemented_form(self, app: App, changes: Mapping[str, Any]) -> FormModel:
        """The form after the applicant's supplement: the stored form as today's model, with the changes
        merged in, validated as strictly as a new request (``Invalid`` naming every problem)."""
        current = self.form(app).model_dump(mode="json")
        try:
            return self.shape.model.model_validate(merge_supplement(current, dict(changes)))
        except ValidationError as exc:
            raise Invalid(field_problems_from_validation(exc.errors())) from None

    @staticmethod
    def expect_returned(app: App) -> None:
        """``Conflict`` unless the application is waiting for a supplement (补正)."""
        if app.status != ApplicationStatus.returned:
            raise Conflict("not_returned", f"the application is {app.status}", title="Not waiting for a supplement",
                           status_now=app.status)

    async def resubmit(self, uow: UnitOfWork, app: App, form: FormModel) -> list[DepartmentTask]:
        """After a 补正: store the supplemented form and ask the returning departments again (announced once,
        as ``in_progress``). ``Conflict`` unless the application is waiting for a supplement."""
        self.expect_returned(app)
        app.form = form.model_dump(mode="json")
        app.form_version = self.shape.version
        app.status = ApplicationStatus.in_progress
        app.missing = []
        app.updated_at = utcnow()
        tasks = await load_tasks(uow.session, app.id)
        reopen_returned(uow, tasks, await self.task_details(uow.session, app, tasks))
        self.emit(uow, app, tasks)
        return tasks

    async def apply_decision(self, uow: UnitOfWork, decision: TaskResolved, channel: str) -> None:
        """A department's answer, from NATS or HTTP: record it, then move the application on."""
        app, tasks, task = await take_answer(uow, self.model, decision, channel, final_statuses=self.final_statuses)
        if self.on_answer is not None:
            done = self.on_answer(uow, app, task)
            if done is not None:
                await done
        await self.advance(uow, app, tasks)

    async def advance(self, uow: UnitOfWork, app: App, tasks: list[DepartmentTask]) -> None:
        """Aggregate the tasks into the application's state and act on it.

        One rejection ends it (the service then releases what the application held); a return waits for the
        applicant's supplement (announced once, however many departments return it); all approved completes
        it (the service's own completion); otherwise the tasks whose dependencies are now approved are asked.
        """
        now = utcnow()
        app.updated_at = now
        if self.held_for_materials(app, tasks):
            return
        progress = progress_of(tasks)
        if progress == Progress.rejected:
            app.status = ApplicationStatus.rejected
            app.reason = rejection_reason(tasks)
            await self.on_rejected(uow, app)
            self.emit(uow, app, tasks)
        elif progress == Progress.returned:
            app.missing = [item for t in tasks if t.status == "returned" for item in missing_items(t)]
            if app.status != ApplicationStatus.returned:
                app.status = ApplicationStatus.returned
                self.emit(uow, app, tasks)
        elif progress == Progress.completed:
            app.completed_at = now
            await self.on_completed(uow, app, tasks)
        else:
            # The plan as stored with the tasks at submission, not recomputed from the form: a form read
            # under a later shape (or a rule changed since) must not change an application in flight.
            plan = stored_plan(tasks)
            # What each department is sent is worked out (the stored form read again) only when one is asked.
            if ready_steps(plan, statuses_of(tasks)):
                request_ready(uow, plan, tasks, await self.task_details(uow.session, app, tasks, now=now), now=now,
                              deadline=app.due_at)
