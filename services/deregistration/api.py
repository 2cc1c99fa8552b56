"""HTTP routes of the deregistration service: thin — parse, authorize, call one command, answer."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.deregistration import commands, views
from services.deregistration.handlers import FLOW
from services.deregistration.schemas import (
    DeregistrationCreate,
    DeregistrationPublic,
    DeregistrationSupplement,
    EnterprisePublic,
    ObjectionCreate,
    ObjectionPublic,
    PublicNotice,
    SuspensionCreate,
    SuspensionExtension,
    SuspensionList,
    SuspensionPublic,
    SuspensionResume,
)
from shared.auth import CurrentPrincipal, submitting_for
from shared.idempotency import Created, IdempotencyKey, create_once
from shared.kit import SUPPLEMENT_RESPONSES, add_application_reads, add_material_supply
from shared.materials import LOOKUP_RESPONSES, Materials
from shared.outbox import UnitOfWork
from shared.pagination import Paging
from shared.problems import Problem
from shared.service import Runtime, Uow

router = APIRouter(prefix="/api/v1", tags=["deregistration 套餐式注销 and 歇业备案"])


def _concurrent() -> Problem:
    return Problem(409, "Concurrent request", "another request changed this at the same moment; try again",
                   code="concurrent_request")


# --- 套餐式注销 ------------------------------------------------------------------------------------------------


@router.post("/deregistrations", status_code=202, response_model=DeregistrationPublic,
             responses={403: {"description": "not the enterprise's applicant"},
                        409: {"description": "enterprise cancelled, or a deregistration in flight"},
                        422: {"description": "problems, including an enterprise not known or a key material "
                                            "missing"},
                        **LOOKUP_RESPONSES})
async def submit(form: DeregistrationCreate, principal: CurrentPrincipal, runtime: Runtime,
                 key: IdempotencyKey, materials: Materials) -> JSONResponse:
    """Deregister an enterprise (套餐式注销): one application to every department it holds (202: accepted).

    The simplified procedure starts with the public notice of the undertaking (a 个体工商户: a 10-day
    objection window, unpublished): tax, customs, social and medical insurance are asked at once and may
    object during it; samr cancels the licence when it is over and nobody objected, then the accounts close.
    The general procedure starts with the creditors' announcement (45 days; 60 for a 个人独资企业); then tax
    and customs settle, samr cancels, and the accounts and insurances close.

    The service catalogue of the procedure says which materials it needs: a key one missing is 422; with only
    non-key ones missing it is accepted (容缺受理), `pending_materials` and `materials_deadline` saying what is
    to come by when (`POST /deregistrations/{id}/materials`).
    """
    applicant = submitting_for(principal, form.on_behalf_of)
    found = await materials.look_up([m.id for m in form.materials])

    async def create(uow: UnitOfWork) -> Created:
        app = await commands.submit(uow, form, applicant=applicant, submitted_by=principal.sub,
                                    settings=runtime.settings, found=found)
        body = (await views.deregistration_public(uow.session, app)).model_dump(mode="json")
        return Created(202, body, app.id)

    return await create_once(runtime.uow, principal.sub, key, form.model_dump(mode="json"), create,
                             on_conflict=_concurrent)


@router.get("/deregistrations/notices", response_model=list[PublicNotice])
async def public_notices(_principal: CurrentPrincipal, runtime: Runtime, paging: Paging) -> list[PublicNotice]:
    """Deregistrations in their notice period (简易注销公告 / 债权人公告): who may object or declare a claim."""
    async with runtime.maker() as session:
        return await views.public_notices(session, paging)


@router.get("/deregistrations/enterprises/{uscc}", response_model=EnterprisePublic)
async def enterprise(uscc: str, principal: CurrentPrincipal, runtime: Runtime) -> EnterprisePublic:
    """An enterprise as this service knows it, and the departments a deregistration of it would reach.
    Its own applicant, a clerk or an admin may look; anyone else is answered as if it were unknown."""
    async with runtime.maker() as session:
        return await views.enterprise_public(session, uscc, principal)


add_application_reads(router, FLOW, "/deregistrations", DeregistrationPublic, views.deregistration_public)
add_material_supply(router, FLOW, "/deregistrations", DeregistrationPublic, views.deregistration_public)


@router.post("/deregistrations/{application_id}/objections", status_code=201, response_model=ObjectionPublic,
             responses={409: {"description": "not in its public notice period"}})
async def object_to(application_id: str, body: ObjectionCreate, principal: CurrentPrincipal, runtime: Runtime,
                    key: IdempotencyKey) -> JSONResponse:
    """Object to a simplified deregistration during its public notice (any logged-in user): it stops."""
    payload = {"application_id": application_id, **body.model_dump(mode="json")}

    async def create(uow: UnitOfWork) -> Created:
        app, objection = await commands.object_to(uow, application_id, objector=principal.sub, reason=body.reason,
                                                  contact=body.contact)
        return Created(201, views.objection_public(app, objection).model_dump(mode="json"), objection.id)

    return await create_once(runtime.uow, principal.sub, key, payload, create, on_conflict=_concurrent)


@router.patch("/deregistrations/{application_id}", response_model=DeregistrationPublic,
               responses=SUPPLEMENT_RESPONSES)
async def supplement(application_id: str, body: DeregistrationSupplement, principal: CurrentPrincipal,
                     uow: Uow) -> DeregistrationPublic:
    """Send what a department asked for (补正); the returning departments are asked again."""
    changes = body.model_dump(exclude_none=True, exclude={"note"})
    app = await commands.supplement(uow, application_id, changes, principal)
    await uow.commit()
    return await views.deregistration_public(uow.session, app)


# --- 歇业备案 ------------------------------------------------------------------------------------------------


@router.post("/suspensions", status_code=201, response_model=SuspensionPublic,
             responses={403: {"description": "not the enterprise's applicant"},
                        409: {"description": "cancelled, deregistration in flight, or already suspended"},
                        422: {"description": "problems, including the 3-year cap"}})
async def file_suspension(form: SuspensionCreate, principal: CurrentPrincipal, runtime: Runtime,
                          key: IdempotencyKey) -> JSONResponse:
    """File a suspension (歇业备案): the enterprise is suspended from the start date until the end date is
    over, at most 3 years in total across filings."""
    applicant = submitting_for(principal, form.on_behalf_of)

    async def create(uow: UnitOfWork) -> Created:
        suspension = await commands.file_suspension(uow, form, applicant=applicant, submitted_by=principal.sub,
                                                    settings=runtime.settings)
        body = (await views.suspension_public(uow.session, suspension)).model_dump(mode="json")
        return Created(201, body, suspension.id)

    return await create_once(runtime.uow, principal.sub, key, form.model_dump(mode="json"), create,
                             on_conflict=_concurrent)


@router.get("/suspensions", response_model=SuspensionList)
async def list_suspensions(principal: CurrentPrincipal, runtime: Runtime, paging: Paging) -> SuspensionList:
    """The caller's own suspension filings, newest first."""
    async with runtime.maker() as session:
        return await views.own_suspensions(session, principal, paging)


@router.get("/suspensions/{suspension_id}", response_model=SuspensionPublic)
async def get_suspension(suspension_id: str, principal: CurrentPrincipal, runtime: Runtime) -> SuspensionPublic:
    async with runtime.maker() as session:
        return await views.suspension_public(session, await views.readable_suspension(session, suspension_id,
                                                                                       principal))


@router.post("/suspensions/{suspension_id}/resume", response_model=SuspensionPublic,
             responses={403: {"description": "read only: only the enterprise's applicant changes a suspension"},
                        409: {"description": "the suspension is no longer current"},
                        422: {"description": "a resumption date outside the suspension, or over 30 days ago"}})
async def resume(suspension_id: str, principal: CurrentPrincipal, uow: Uow,
                 body: SuspensionResume | None = None) -> SuspensionPublic:
    """End a suspension early, published now (提前恢复营业公示: the enterprise resumed today, or on
    ``resumed_on`` within the last 30 days), or withdraw one not started yet."""
    suspension = await commands.resume(uow, suspension_id, principal, body.resumed_on if body else None)
    await uow.commit()
    return await views.suspension_public(uow.session, suspension)


@router.post("/suspensions/{suspension_id}/extension", response_model=SuspensionPublic,
             responses={403: {"description": "read only: only the enterprise's applicant changes a suspension"},
                        409: {"description": "the suspension is no longer current"},
                        422: {"description": "outside the 30 days before the end, or over the 3-year cap"}})
async def extend(suspension_id: str, body: SuspensionExtension, principal: CurrentPrincipal, uow: Uow,
                 runtime: Runtime) -> SuspensionPublic:
    """Extend a suspension: filed within the 30 days before its end, still within 3 years in total."""
    suspension = await commands.extend(uow, suspension_id, body.end_date, principal, runtime.settings)
    await uow.commit()
    return await views.suspension_public(uow.session, suspension)


__all__ = ["router"]
