"""HTTP routes of the deregistration service: thin — parse, authorize, call the domain, answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from services.deregistration import domain, handlers
from services.deregistration.domain import (
    NUMBER_PREFIX,
    SERVICE,
    SUSPENSION_NUMBER_PREFIX,
    Status,
    SuspensionStatus,
)
from services.deregistration.models import DeregistrationApplication, EnterpriseView, Objection, Suspension
from services.deregistration.schemas import (
    DeregistrationCreate,
    DeregistrationList,
    DeregistrationPublic,
    DeregistrationSupplement,
    EnterprisePublic,
    ExtensionPublic,
    NoticePublic,
    ObjectionCreate,
    ObjectionPublic,
    PublicNotice,
    SuspensionCreate,
    SuspensionExtension,
    SuspensionList,
    SuspensionPublic,
)
from shared import timers
from shared.applications import lock_row, merge_supplement, own_only, page, readable_or_404, task_views
from shared.auth import CurrentPrincipal, Principal, submitting_for
from shared.idempotency import Created, create_once, require_idempotency_key
from shared.identifiers import is_valid_uscc
from shared.numbers import next_application_number
from shared.outbox import UnitOfWork
from shared.problems import FieldProblem, Problem, field_problems_from_validation, validation_problem
from shared.records import DepartmentTask, Timer, utcnow
from shared.service import Runtime, Uow
from shared.tasks import load_tasks, new_tasks, reopen_returned

router = APIRouter(prefix="/api/v1", tags=["deregistration 套餐式注销 and 歇业备案"])
NOT_FOUND = Problem(404, "Not found", "no such deregistration application", code="not_found")
SUSPENSION_NOT_FOUND = Problem(404, "Not found", "no such suspension filing", code="not_found")
IdempotencyKey = Annotated[str, Depends(require_idempotency_key)]


def _concurrent() -> Problem:
    return Problem(409, "Concurrent request", "another request changed this at the same moment; try again",
                   code="concurrent_request")


async def enterprise_state(session: AsyncSession, ent: EnterpriseView) -> domain.EnterpriseState:
    """The read model row as the refusal rules see it (with the numbers of what is in flight)."""
    dereg = await session.get(DeregistrationApplication, ent.deregistration_id) if ent.deregistration_id else None
    suspension = await session.get(Suspension, ent.suspension_id) if ent.suspension_id else None
    return domain.EnterpriseState(uscc=ent.uscc, owner=ent.owner, status=ent.status,
                                  deregistration_number=dereg.number if dereg else None,
                                  suspension_number=suspension.number if suspension else None)


async def _locked_enterprise(uow: UnitOfWork, uscc: str, problems: list[FieldProblem]) -> EnterpriseView | None:
    """The enterprise, locked so two requests about it apply one after the other; a problem when unknown."""
    if not is_valid_uscc(uscc):
        return None  # the validation already said so
    enterprise = await lock_row(uow.session, EnterpriseView, uscc)
    if enterprise is None:
        problems.append(domain.unknown_enterprise(uscc))
    return enterprise


# --- 套餐式注销 ------------------------------------------------------------------------------------------------


def to_public(app: DeregistrationApplication, tasks: list[DepartmentTask], objections: list[Objection],
              app_timers: list[Timer]) -> DeregistrationPublic:
    notice_timer = next((t for t in app_timers if t.kind == domain.TIMER_NOTICE_END), None)
    notice = None
    if notice_timer is not None:
        notice = NoticePublic(kind=domain.notice_status(app.procedure), starts_at=app.created_at,  # type: ignore[arg-type]
                              ends_at=notice_timer.due_at, ended_at=notice_timer.fired_at,
                              cancelled_at=notice_timer.cancelled_at)
    return DeregistrationPublic(
        id=app.id, number=app.number, status=app.status, procedure=app.procedure, uscc=app.uscc,
        enterprise_name=app.enterprise_name, district_code=app.district_code, applicant=app.applicant,
        submitted_by=app.submitted_by, stated_reason=app.stated_reason, created_at=app.created_at,
        updated_at=app.updated_at, due_at=app.due_at, completed_at=app.completed_at, reason=app.reason,
        missing=app.missing, notice=notice,
        objections=[ObjectionPublic(id=o.id, application_id=o.application_id, reason=o.reason,
                                    created_at=o.created_at) for o in objections],
        tasks=task_views(tasks),
    )


async def load_public(session: AsyncSession, app: DeregistrationApplication) -> DeregistrationPublic:
    tasks = await load_tasks(session, app.id)
    objections = list((await session.execute(
        select(Objection).where(Objection.application_id == app.id).order_by(Objection.created_at)  # type: ignore[arg-type]
    )).scalars())
    return to_public(app, tasks, objections, await timers.timers_of(session, app.id))


@router.post("/deregistrations", status_code=202, response_model=DeregistrationPublic,
             responses={403: {"description": "not the enterprise's applicant"},
                        409: {"description": "enterprise cancelled, or a deregistration in flight"},
                        422: {"description": "problems, including an enterprise not known"}})
async def submit(form: DeregistrationCreate, principal: CurrentPrincipal, runtime: Runtime,
                 key: IdempotencyKey) -> JSONResponse:
    """Deregister an enterprise (套餐式注销): one application to every department it holds (202: accepted).

    The simplified procedure starts with the public notice of the undertaking, the general one with the
    creditors' announcement; the departments are asked when that period is over.
    """
    applicant = submitting_for(principal, form.on_behalf_of)
    payload = form.model_dump(mode="json")
    settings = runtime.settings

    async def create(uow: UnitOfWork) -> Created:
        problems = domain.validate(form)
        enterprise = await _locked_enterprise(uow, form.uscc, problems)
        if problems:
            raise validation_problem(problems)
        assert enterprise is not None
        refusal = domain.deregistration_refusal(await enterprise_state(uow.session, enterprise), applicant)
        if refusal is not None:
            raise refusal
        now = utcnow()
        holdings = handlers.holdings_of(enterprise)
        plan = domain.plan_for(form.procedure, holdings)
        number = await next_application_number(uow.session, NUMBER_PREFIX, enterprise.district_code, now.date())
        app = DeregistrationApplication(
            number=number, uscc=enterprise.uscc, enterprise_name=enterprise.name,
            district_code=enterprise.district_code, applicant=applicant, submitted_by=principal.sub,
            procedure=form.procedure, status=domain.notice_status(form.procedure), stated_reason=form.reason,
            form=payload, reason=None, created_at=now, updated_at=now,
            holdings={"registered_with": sorted(holdings.registered_with), "has_tax_matters": holdings.has_tax_matters,
                      "customs_registered": holdings.customs_registered},
        )
        uow.session.add(app)
        enterprise.deregistration_id = app.id
        enterprise.updated_at = now
        tasks = new_tasks(plan, application_id=app.id, application_number=number, service=SERVICE)
        uow.session.add_all(tasks)
        length = domain.notice_length(form.procedure, settings.public_notice_days, settings.creditor_notice_days)
        notice = timers.schedule(uow.session, domain.TIMER_NOTICE_END, app.id, now + length)
        notice.created_at = now
        handlers.emit_application_event(uow, app, tasks)  # .public_notice / .creditor_notice == submitted
        body = to_public(app, tasks, [], [notice]).model_dump(mode="json")
        return Created(202, body, app.id)

    return await create_once(runtime.uow, principal.sub, key, payload, create, on_conflict=_concurrent)


@router.get("/deregistrations/notices", response_model=list[PublicNotice])
async def public_notices(_principal: CurrentPrincipal, runtime: Runtime,
                         limit: Annotated[int, Query(ge=1, le=200)] = 50,
                         offset: Annotated[int, Query(ge=0)] = 0) -> list[PublicNotice]:
    """Deregistrations in their notice period (简易注销公告 / 债权人公告): who may object or declare a claim."""
    async with runtime.maker() as session:
        query = select(DeregistrationApplication).where(DeregistrationApplication.status.in_(Status.NOTICE))  # type: ignore[attr-defined]
        _total, apps = await page(session, query, DeregistrationApplication.created_at.desc(),  # type: ignore[attr-defined]
                                  limit=limit, offset=offset)
        notices = []
        for app in apps:
            due = await timers.pending(session, app.id, domain.TIMER_NOTICE_END)
            if not due:
                continue
            form = app.form
            people = (form.get("undertaking") or {}).get("signatories") or (form.get("liquidation") or {}).get(
                "members") or []
            notices.append(PublicNotice(
                application_id=app.id, number=app.number, procedure=app.procedure, kind=app.status, uscc=app.uscc,
                enterprise_name=app.enterprise_name, stated_reason=app.stated_reason, starts_at=app.created_at,
                ends_at=due[0].due_at, signatories=[p["name"] for p in people]))
    return notices


@router.get("/deregistrations/enterprises/{uscc}", response_model=EnterprisePublic)
async def enterprise(uscc: str, principal: CurrentPrincipal, runtime: Runtime) -> EnterprisePublic:
    """An enterprise as this service knows it, and the departments a deregistration of it would reach.
    Its own applicant, a clerk or an admin may look; anyone else is answered as if it were unknown."""
    async with runtime.maker() as session:
        ent = await session.get(EnterpriseView, uscc.strip().upper())
    if ent is None or not (principal.sub == ent.owner or principal.is_clerk or principal.is_admin):
        raise Problem(404, "Not found", f"no enterprise {uscc} is known here", code="enterprise_unknown")
    holdings = handlers.holdings_of(ent)
    return EnterprisePublic(
        uscc=ent.uscc, name=ent.name, district_code=ent.district_code, status=ent.status,
        status_changed_at=ent.status_changed_at,
        departments={p.value: [str(d) for d in domain.departments_needed(holdings, p)] for p in domain.Procedure},
        deregistration_id=ent.deregistration_id, suspension_id=ent.suspension_id,
    )


@router.get("/deregistrations", response_model=DeregistrationList)
async def list_own(principal: CurrentPrincipal, runtime: Runtime,
                   limit: Annotated[int, Query(ge=1, le=100)] = 20,
                   offset: Annotated[int, Query(ge=0)] = 0) -> DeregistrationList:
    """The caller's own deregistrations (a clerk's: those they submitted; an admin's: all), newest first."""
    query = own_only(select(DeregistrationApplication), DeregistrationApplication, principal)
    async with runtime.maker() as session:
        total, apps = await page(session, query, DeregistrationApplication.created_at.desc(),  # type: ignore[attr-defined]
                                 limit=limit, offset=offset)
        items = [await load_public(session, a) for a in apps]
    return DeregistrationList(items=items, total=total, limit=limit, offset=offset)


@router.get("/deregistrations/{application_id}", response_model=DeregistrationPublic)
async def get_one(application_id: str, principal: CurrentPrincipal, runtime: Runtime) -> DeregistrationPublic:
    """The live state of one deregistration."""
    async with runtime.maker() as session:
        app = await readable_or_404(session, DeregistrationApplication, application_id, principal, NOT_FOUND)
        return await load_public(session, app)


@router.post("/deregistrations/{application_id}/objections", status_code=201, response_model=ObjectionPublic,
             responses={409: {"description": "not in its public notice period"}})
async def object_to(application_id: str, body: ObjectionCreate, principal: CurrentPrincipal, runtime: Runtime,
                    key: IdempotencyKey) -> JSONResponse:
    """Object to a simplified deregistration during its public notice (any logged-in user): it stops."""
    payload = {"application_id": application_id, **body.model_dump(mode="json")}

    async def create(uow: UnitOfWork) -> Created:
        app = await handlers.lock_application(uow, application_id)
        if app is None:
            raise NOT_FOUND
        if app.status != Status.public_notice:
            raise Problem(409, "Not in public notice",
                          f"{app.number} is {app.status}: objections are taken during a simplified deregistration's "
                          "public notice (creditors of a general one declare their claims to the liquidation group)",
                          code="not_in_public_notice", status_now=app.status)
        now = utcnow()
        objection = Objection(application_id=app.id, objector=principal.sub, reason=body.reason,
                              contact=body.contact, created_at=now)
        uow.session.add(objection)
        app.status = Status.objected
        app.reason = f"公示期内收到异议：{body.reason}"
        app.updated_at = now
        await timers.cancel(uow.session, app.id, domain.TIMER_NOTICE_END, now=now)
        await handlers.release_enterprise(uow, app)
        handlers.emit_application_event(uow, app, await load_tasks(uow.session, app.id))
        public = ObjectionPublic(id=objection.id, application_id=app.id, reason=objection.reason, created_at=now,
                                 application_status=app.status)
        return Created(201, public.model_dump(mode="json"), objection.id)

    return await create_once(runtime.uow, principal.sub, key, payload, create, on_conflict=_concurrent)


@router.patch("/deregistrations/{application_id}", response_model=DeregistrationPublic)
async def supplement(application_id: str, body: DeregistrationSupplement, principal: CurrentPrincipal,
                     uow: Uow) -> DeregistrationPublic:
    """Send what a department asked for (补正); the returning departments are asked again."""
    app = await readable_or_404(uow.session, DeregistrationApplication, application_id, principal, NOT_FOUND)
    app = await handlers.lock_application(uow, app.id)
    assert app is not None
    if app.status != Status.returned:
        raise Problem(409, "Not waiting for a supplement", f"the application is {app.status}", code="not_returned")
    merged = merge_supplement(app.form, body.model_dump(exclude_none=True, exclude={"note"}))
    try:
        form = DeregistrationCreate.model_validate(merged)
    except ValueError as exc:
        raise validation_problem(field_problems_from_validation(exc.errors())) from None  # type: ignore[attr-defined]
    problems = domain.validate(form)
    if problems:
        raise validation_problem(problems)
    app.form = form.model_dump(mode="json")
    app.stated_reason = form.reason
    app.missing = []
    app.updated_at = utcnow()
    tasks = await load_tasks(uow.session, app.id)
    reopen_returned(uow, tasks, handlers.task_details(app))
    app.status = "resumed"
    handlers.emit_application_event(uow, app, tasks)
    app.status = Status.in_progress
    await uow.commit()
    return await load_public(uow.session, app)


# --- 歇业备案 ------------------------------------------------------------------------------------------------


async def suspension_public(session: AsyncSession, suspension: Suspension) -> SuspensionPublic:
    earlier = await handlers.filings_of(session, suspension.uscc, excluding=suspension.id)
    first = min([f.start for f in earlier] + [suspension.start_date])
    return SuspensionPublic(
        id=suspension.id, number=suspension.number, uscc=suspension.uscc, enterprise_name=suspension.enterprise_name,
        applicant=suspension.applicant, submitted_by=suspension.submitted_by, status=suspension.status,  # type: ignore[arg-type]
        reason=suspension.reason, start_date=suspension.start_date, end_date=suspension.end_date,
        delivery_address=suspension.delivery_address, resumed_on=suspension.resumed_on,
        extensions=[ExtensionPublic.model_validate(e) for e in suspension.extensions],
        days_used_before=domain.total_days(earlier), days_allowed=domain.cap_days(first),
        created_at=suspension.created_at, updated_at=suspension.updated_at,
    )


def _schedule_end(session: AsyncSession, suspension: Suspension, day_seconds: float) -> None:
    due = domain.scaled_due(domain.suspension_ends_at(suspension.end_date), utcnow(), day_seconds)
    timers.schedule(session, domain.TIMER_SUSPENSION_END, suspension.id, due)


@router.post("/suspensions", status_code=201, response_model=SuspensionPublic,
             responses={403: {"description": "not the enterprise's applicant"},
                        409: {"description": "cancelled, deregistration in flight, or already suspended"},
                        422: {"description": "problems, including the 3-year cap"}})
async def file_suspension(form: SuspensionCreate, principal: CurrentPrincipal, runtime: Runtime,
                          key: IdempotencyKey) -> JSONResponse:
    """File a suspension (歇业备案): the enterprise is suspended from the start date until the end date is
    over, at most 3 years in total across filings."""
    applicant = submitting_for(principal, form.on_behalf_of)
    payload = form.model_dump(mode="json")
    day_seconds = runtime.settings.suspension_day_seconds

    async def create(uow: UnitOfWork) -> Created:
        problems: list[FieldProblem] = []
        enterprise = await _locked_enterprise(uow, form.uscc, problems)
        previous = await handlers.filings_of(uow.session, form.uscc) if enterprise else []
        today = handlers.local_today()
        form_problems, filing = domain.validate_suspension(form, today, previous)
        problems = form_problems + problems
        if problems:
            raise validation_problem(problems)
        assert enterprise is not None and filing is not None
        refusal = domain.suspension_refusal(await enterprise_state(uow.session, enterprise), applicant)
        if refusal is not None:
            raise refusal
        now = utcnow()
        number = await next_application_number(uow.session, SUSPENSION_NUMBER_PREFIX, enterprise.district_code, today)
        suspension = Suspension(
            number=number, uscc=enterprise.uscc, enterprise_name=enterprise.name, applicant=applicant,
            submitted_by=principal.sub, status=SuspensionStatus.filed, reason=form.reason,
            start_date=filing.start, end_date=filing.end, delivery_address=form.delivery_address,
            created_at=now, updated_at=now,
        )
        uow.session.add(suspension)
        enterprise.suspension_id = suspension.id
        if filing.start <= today:
            await handlers.start_suspension(uow, enterprise, suspension)
        else:
            due = domain.scaled_due(domain.suspension_starts_at(filing), now, day_seconds)
            timers.schedule(uow.session, domain.TIMER_SUSPENSION_START, suspension.id, due)
        _schedule_end(uow.session, suspension, day_seconds)
        await uow.session.flush()
        body = (await suspension_public(uow.session, suspension)).model_dump(mode="json")
        return Created(201, body, suspension.id)

    return await create_once(runtime.uow, principal.sub, key, payload, create, on_conflict=_concurrent)


@router.get("/suspensions", response_model=SuspensionList)
async def list_suspensions(principal: CurrentPrincipal, runtime: Runtime,
                           limit: Annotated[int, Query(ge=1, le=100)] = 20,
                           offset: Annotated[int, Query(ge=0)] = 0) -> SuspensionList:
    """The caller's own suspension filings, newest first."""
    query = own_only(select(Suspension), Suspension, principal)
    async with runtime.maker() as session:
        total, rows = await page(session, query, Suspension.created_at.desc(),  # type: ignore[attr-defined]
                                 limit=limit, offset=offset)
        items = [await suspension_public(session, s) for s in rows]
    return SuspensionList(items=items, total=total, limit=limit, offset=offset)


@router.get("/suspensions/{suspension_id}", response_model=SuspensionPublic)
async def get_suspension(suspension_id: str, principal: CurrentPrincipal, runtime: Runtime) -> SuspensionPublic:
    async with runtime.maker() as session:
        suspension = await readable_or_404(session, Suspension, suspension_id, principal, SUSPENSION_NOT_FOUND)
        return await suspension_public(session, suspension)


async def _locked_suspension(uow: UnitOfWork, suspension_id: str,
                             principal: Principal) -> tuple[EnterpriseView, Suspension]:
    """The suspension and its enterprise, both locked (enterprise first, as everywhere)."""
    found = await readable_or_404(uow.session, Suspension, suspension_id, principal, SUSPENSION_NOT_FOUND)
    enterprise = await lock_row(uow.session, EnterpriseView, found.uscc)
    suspension = await lock_row(uow.session, Suspension, suspension_id)
    assert enterprise is not None and suspension is not None
    return enterprise, suspension


def _not_current(suspension: Suspension) -> Problem:
    return Problem(409, "Suspension not current", f"{suspension.number} is {suspension.status}",
                   code="suspension_not_current", status_now=suspension.status)


@router.post("/suspensions/{suspension_id}/resume", response_model=SuspensionPublic)
async def resume(suspension_id: str, principal: CurrentPrincipal, uow: Uow) -> SuspensionPublic:
    """End a suspension early (the enterprise resumes business today), or withdraw one not started yet."""
    enterprise, suspension = await _locked_suspension(uow, suspension_id, principal)
    if suspension.status == SuspensionStatus.active:
        await handlers.end_suspension(uow, enterprise, suspension, status=SuspensionStatus.resumed,
                                      resumed_on=handlers.local_today())
    elif suspension.status == SuspensionStatus.filed:
        await handlers.end_suspension(uow, enterprise, suspension, status=SuspensionStatus.withdrawn)
    else:
        raise _not_current(suspension)
    await uow.commit()
    return await suspension_public(uow.session, suspension)


@router.post("/suspensions/{suspension_id}/extension", response_model=SuspensionPublic,
             responses={422: {"description": "outside the 30 days before the end, or over the 3-year cap"}})
async def extend(suspension_id: str, body: SuspensionExtension, principal: CurrentPrincipal, uow: Uow,
                 runtime: Runtime) -> SuspensionPublic:
    """Extend a suspension: filed within the 30 days before its end, still within 3 years in total."""
    enterprise, suspension = await _locked_suspension(uow, suspension_id, principal)
    if suspension.status not in SuspensionStatus.CURRENT:
        raise _not_current(suspension)
    others = await handlers.filings_of(uow.session, suspension.uscc, excluding=suspension.id)
    current = domain.Filing(suspension.start_date, suspension.end_date)
    problems, new_end = domain.extension_problems(current, body.end_date, handlers.local_today(), others)
    if problems:
        raise validation_problem(problems)
    assert new_end is not None
    now = utcnow()
    extension: dict[str, Any] = {"previous_end_date": suspension.end_date.isoformat(),
                                 "end_date": new_end.isoformat(), "filed_at": now.isoformat()}
    suspension.extensions = [*suspension.extensions, extension]  # a new list, so the JSON column is saved
    suspension.end_date = new_end
    suspension.updated_at = now
    await timers.cancel(uow.session, suspension.id, domain.TIMER_SUSPENSION_END, now=now)
    _schedule_end(uow.session, suspension, runtime.settings.suspension_day_seconds)
    if suspension.status == SuspensionStatus.active:
        handlers.announce_suspended(uow, enterprise, suspension)  # the same status, announced with its new end
    await uow.commit()
    return await suspension_public(uow.session, suspension)


__all__ = ["router"]
