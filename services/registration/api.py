"""HTTP routes of the registration service: thin — parse, authorize, call the domain, answer."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlmodel import select

from services.registration import domain
from services.registration.domain import NUMBER_PREFIX, SERVICE, Status
from services.registration.handlers import advance, emit_application_event, lock_application, task_details
from services.registration.models import Enterprise, EnterpriseName, Licence, RegistrationApplication
from services.registration.schemas import (
    EnterpriseSummary,
    LicencePublic,
    LicenceSummary,
    RegistrationCreate,
    RegistrationList,
    RegistrationPublic,
    RegistrationSupplement,
)
from shared.applications import merge_supplement, own_only, page, readable_or_404, task_views
from shared.auth import CurrentPrincipal, Principal, submitting_for
from shared.divisions import resolve_address
from shared.idempotency import Created, create_once, require_idempotency_key
from shared.money import fen_to_yuan
from shared.numbers import next_application_number
from shared.outbox import UnitOfWork
from shared.problems import FieldProblem, Problem, validation_problem
from shared.records import DepartmentTask, utcnow
from shared.service import Runtime, Uow
from shared.tasks import load_tasks, new_tasks, reopen_returned, request_ready
from shared.workdays import add_working_days

router = APIRouter(prefix="/api/v1", tags=["registration 企业开办"])
NOT_FOUND = Problem(404, "Not found", "no such registration application", code="not_found")


def to_public(app: RegistrationApplication, tasks: list[DepartmentTask], enterprise: Enterprise | None,
              licence: Licence | None) -> RegistrationPublic:
    return RegistrationPublic(
        id=app.id, number=app.number, status=app.status, enterprise_name=app.enterprise_name,
        district_code=app.district_code, applicant=app.applicant, submitted_by=app.submitted_by,
        created_at=app.created_at, updated_at=app.updated_at, due_at=app.due_at, reason=app.reason,
        missing=app.missing,
        tasks=task_views(tasks),
        enterprise=EnterpriseSummary(uscc=enterprise.uscc, name=enterprise.name, status=enterprise.status)
        if enterprise else None,
        license=LicenceSummary(verification_code=licence.verification_code) if licence else None,
    )


async def load_public(session: sa.ext.asyncio.AsyncSession, app: RegistrationApplication) -> RegistrationPublic:
    tasks = await load_tasks(session, app.id)
    enterprise = licence = None
    if app.status == Status.completed and app.uscc:
        enterprise = await session.get(Enterprise, app.uscc)
        licence = (await session.execute(select(Licence).where(Licence.uscc == app.uscc))).scalar_one_or_none()
    return to_public(app, tasks, enterprise, licence)


async def readable_application(session: sa.ext.asyncio.AsyncSession, application_id: str,
                               principal: Principal) -> RegistrationApplication:
    return await readable_or_404(session, RegistrationApplication, application_id, principal, NOT_FOUND)


def _validate_or_422(form: RegistrationCreate) -> str:
    """Validate the form (every problem at once) and return its resolved address."""
    problems = domain.validate(form)
    if problems:
        raise validation_problem(problems)
    ent = form.enterprise
    resolved, _ = resolve_address(ent.district_code, ent.address.town_code, ent.address.road, ent.address.number,
                                  building=ent.address.building, room=ent.address.room, text=ent.address.text)
    assert resolved is not None
    return resolved.full_text


def _name_taken(name: str) -> Problem:
    return validation_problem([FieldProblem(
        loc=["enterprise", "name"], code="name_taken", message_zh="企业名称已被登记或正在申请中",
        message_en=f"the name {name!r} is registered or reserved by an application in flight")])


@router.post("/registrations", status_code=202, response_model=RegistrationPublic,
             responses={409: {"description": "Idempotency-Key in use"}, 422: {"description": "problems"}})
async def submit(form: RegistrationCreate, principal: CurrentPrincipal, runtime: Runtime,
                 key: Annotated[str, Depends(require_idempotency_key)]) -> JSONResponse:
    """Submit one 企业开办 application; it fans out to every department chosen (202: accepted)."""
    applicant = submitting_for(principal, form.on_behalf_of)
    payload = form.model_dump(mode="json")

    async def create(uow: UnitOfWork) -> Created:
        address = _validate_or_422(form)
        name = domain.normalise_name(form.enterprise.name)
        if await uow.session.get(EnterpriseName, name) is not None:
            raise _name_taken(form.enterprise.name)
        body = await _create(uow, form, payload, applicant, principal, address, name)
        return Created(202, body, body["id"])

    # A unique clash that is not a same-key twin is a concurrent submission of the same name.
    return await create_once(runtime.uow, principal.sub, key, payload, create,
                             on_conflict=lambda: _name_taken(form.enterprise.name))


async def _create(uow: UnitOfWork, form: RegistrationCreate, payload: dict, applicant: str, principal: Principal,
                  address: str, name: str) -> dict:
    now = utcnow()
    session = uow.session
    session.add(EnterpriseName(name=name, application_id="", status="reserved"))
    await session.flush()
    number = await next_application_number(session, NUMBER_PREFIX, form.enterprise.district_code, now.date())
    plan = domain.plan_for(form)
    app = RegistrationApplication(
        number=number, applicant=applicant, submitted_by=principal.sub, status=Status.in_progress,
        enterprise_name=form.enterprise.name, district_code=form.enterprise.district_code,
        entity_type=form.enterprise.entity_type, address=address, form=payload,
        due_at=add_working_days(now, plan.working_days).at, created_at=now, updated_at=now,
    )
    session.add(app)
    reservation = await session.get(EnterpriseName, name)
    assert reservation is not None
    reservation.application_id = app.id
    tasks = new_tasks(plan, application_id=app.id, application_number=number, service=SERVICE)
    session.add_all(tasks)
    emit_application_event(uow, app, tasks)  # registration.application.in_progress == submitted
    request_ready(uow, plan, tasks, task_details(app, tasks), now=now, deadline=app.due_at)
    return to_public(app, tasks, None, None).model_dump(mode="json")


@router.get("/registrations", response_model=RegistrationList)
async def list_own(principal: CurrentPrincipal, runtime: Runtime,
                   limit: Annotated[int, Query(ge=1, le=100)] = 20,
                   offset: Annotated[int, Query(ge=0)] = 0) -> RegistrationList:
    """The caller's own applications (a clerk's: those they submitted; an admin's: all), newest first."""
    query = own_only(select(RegistrationApplication), RegistrationApplication, principal)
    async with runtime.maker() as session:
        total, apps = await page(session, query, RegistrationApplication.created_at.desc(),  # type: ignore[attr-defined]
                                 limit=limit, offset=offset)
        items = [await load_public(session, a) for a in apps]
    return RegistrationList(items=items, total=total, limit=limit, offset=offset)


@router.get("/registrations/{application_id}", response_model=RegistrationPublic)
async def get_one(application_id: str, principal: CurrentPrincipal, runtime: Runtime) -> RegistrationPublic:
    """The live state of one application."""
    async with runtime.maker() as session:
        app = await readable_application(session, application_id, principal)
        return await load_public(session, app)


@router.patch("/registrations/{application_id}", response_model=RegistrationPublic)
async def supplement(application_id: str, body: RegistrationSupplement, principal: CurrentPrincipal,
                     uow: Uow) -> RegistrationPublic:
    """Send what a department asked for (补正); the returning departments are asked again."""
    app = await readable_application(uow.session, application_id, principal)
    app = await lock_application(uow, app.id)
    assert app is not None
    if app.status != Status.returned:
        raise Problem(409, "Not waiting for a supplement", f"the application is {app.status}",
                      code="not_returned")
    changes = body.model_dump(exclude_none=True, exclude={"note"})
    merged = merge_supplement(app.form, changes)
    try:
        form = RegistrationCreate.model_validate(merged)
    except ValueError as exc:
        from shared.problems import field_problems_from_validation

        raise validation_problem(field_problems_from_validation(exc.errors())) from None  # type: ignore[attr-defined]
    if domain.normalise_name(form.enterprise.name) != domain.normalise_name(app.enterprise_name):
        raise validation_problem([FieldProblem(
            loc=["enterprise", "name"], code="name_change_not_allowed", message_zh="补正时不能更改企业名称",
            message_en="the name cannot change in a supplement; submit a new application")])
    app.address = _validate_or_422(form)
    app.form = form.model_dump(mode="json")
    app.status = Status.in_progress
    app.missing = []
    app.updated_at = utcnow()
    tasks = await load_tasks(uow.session, app.id)
    reopen_returned(uow, tasks, task_details(app, tasks))
    app.status = "resumed"
    emit_application_event(uow, app, tasks)
    app.status = Status.in_progress
    await uow.commit()
    return to_public(app, tasks, None, None)


@router.get("/licenses/{verification_code}", response_model=LicencePublic, tags=["public"])
async def verify_licence(verification_code: str, runtime: Runtime) -> LicencePublic:
    """Verify an electronic business licence by its code (扫码亮证). No login needed."""
    async with runtime.maker() as session:
        licence = await session.get(Licence, verification_code.strip().upper())
        if licence is None:
            raise Problem(404, "Not found", "no licence has this verification code", code="licence_not_found")
        ent = await session.get(Enterprise, licence.uscc)
        assert ent is not None
    return LicencePublic(
        verification_code=licence.verification_code, status=licence.status, uscc=ent.uscc, name=ent.name,  # type: ignore[arg-type]
        entity_type=ent.entity_type, entity_type_zh=domain.ENTITY_TYPES[ent.entity_type][0],
        legal_representative=ent.legal_representative,
        registered_capital=fen_to_yuan(ent.registered_capital_fen) if ent.registered_capital_fen is not None else None,
        address=ent.address, business_scope=ent.business_scope, registered_at=ent.registered_at,
        status_changed_at=licence.status_changed_at,
    )


__all__ = ["advance", "router"]
