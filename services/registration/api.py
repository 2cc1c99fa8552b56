"""HTTP routes of the registration service: thin — parse, authorize, call one command, answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.registration import commands, domain, views
from services.registration.schemas import (
    ChangeCreate,
    ChangePublic,
    ChangeSupplement,
    LicencePublic,
    RegistrationCreate,
    RegistrationPublic,
    RegistrationSupplement,
)
from shared.auth import CurrentPrincipal, submitting_for
from shared.idempotency import Created, IdempotencyKey, create_once
from shared.kit import SUPPLEMENT_RESPONSES
from shared.materials import LOOKUP_RESPONSES, MaterialRef, Materials
from shared.outbox import UnitOfWork
from shared.pagination import Page, Paging
from shared.problems import problem_of
from shared.service import Runtime, Uow

router = APIRouter(prefix="/api/v1", tags=["registration 企业开办"])
CHANGE_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "not the enterprise's owner (or a clerk for them)"},
    409: {"description": "Idempotency-Key in use, the enterprise is cancelled, or another change is in flight"},
    422: {"description": "problems, every one named"},
}


@router.post("/registrations", status_code=202, response_model=RegistrationPublic,
             responses={409: {"description": "Idempotency-Key in use"},
                        422: {"description": "problems, every one named: a key material missing among them"},
                        **LOOKUP_RESPONSES})
async def submit(form: RegistrationCreate, principal: CurrentPrincipal, runtime: Runtime,
                 key: IdempotencyKey, materials: Materials) -> JSONResponse:
    """Submit one 企业开办 application; it fans out to every department chosen (202: accepted). The service
    catalogue decides which materials it needs: a key one missing is 422; with only non-key ones missing it is
    accepted all the same (容缺受理) and `pending_materials` and `materials_deadline` say what is to come by
    when."""
    applicant = submitting_for(principal, form.on_behalf_of)
    found = await materials.look_up([m.id for m in form.materials])

    async def create(uow: UnitOfWork) -> Created:
        app, tasks = await commands.submit(uow, form, applicant=applicant, submitted_by=principal.sub, found=found)
        body = (await views.registration_public(uow.session, app, tasks)).model_dump(mode="json")
        return Created(202, body, app.id)

    # A unique clash that is not a same-key twin is a concurrent submission of the same name.
    return await create_once(runtime.uow, principal.sub, key, form.model_dump(mode="json"), create,
                             on_conflict=lambda: problem_of(domain.name_taken(form.enterprise.name)))


@router.get("/registrations", response_model=Page[RegistrationPublic])
async def list_registrations(principal: CurrentPrincipal, runtime: Runtime,
                             paging: Paging) -> Page[RegistrationPublic]:
    """The caller's own 企业开办 applications (a clerk's: those they submitted; an admin's: all), newest first."""
    async with runtime.maker() as session:
        return await views.own_registrations(session, principal, paging)


@router.get("/registrations/{application_id}", response_model=RegistrationPublic)
async def get_registration(application_id: str, principal: CurrentPrincipal, runtime: Runtime) -> RegistrationPublic:
    """One application, live. Another applicant's answers 404, as a missing one does."""
    async with runtime.maker() as session:
        app = await views.readable(session, application_id, principal, opening=True)
        return await views.registration_public(session, app)


@router.post("/registrations/{application_id}/materials", response_model=RegistrationPublic,
             responses={**SUPPLEMENT_RESPONSES,
                        409: {"description": "the application is completed or rejected"},
                        422: {"description": "not a material the application waits for, or a document that is not "
                                            "the applicant's or not in a format the material takes"},
                        **LOOKUP_RESPONSES})
async def supply_material(application_id: str, body: MaterialRef, principal: CurrentPrincipal, uow: Uow,
                          materials: Materials) -> RegistrationPublic:
    """Supply a material the opening was accepted without (容缺受理), as an uploaded document. The last one
    closes the gap; an opening returned because the deadline passed goes on."""
    found = await materials.look_up([body.id])
    app = await commands.supply_material(uow, application_id, body, found[body.id], principal)
    await uow.commit()
    return await views.registration_public(uow.session, app)


@router.patch("/registrations/{application_id}", response_model=RegistrationPublic,
               responses=SUPPLEMENT_RESPONSES)
async def supplement(application_id: str, body: RegistrationSupplement, principal: CurrentPrincipal,
                     uow: Uow) -> RegistrationPublic:
    """Send what a department asked for (补正); the returning departments are asked again."""
    changes = body.model_dump(exclude_none=True, exclude={"note"})
    app = await commands.supplement(uow, application_id, changes, principal)
    await uow.commit()
    return await views.registration_public(uow.session, app)


@router.post("/changes", status_code=202, response_model=ChangePublic, responses=CHANGE_REFUSALS)
async def submit_change(form: ChangeCreate, principal: CurrentPrincipal, runtime: Runtime,
                        key: IdempotencyKey) -> JSONResponse:
    """File a registered enterprise's change (变更登记: name, address, registered capital, business scope,
    officers; only what changes) or its move to another district (省内迁移, ``kind: move``): samr, then tax
    (202: accepted). Only the enterprise's owner files (403)."""
    applicant = submitting_for(principal, form.on_behalf_of)

    async def create(uow: UnitOfWork) -> Created:
        app = await commands.submit_change(uow, form, applicant=applicant, submitted_by=principal.sub)
        return Created(202, (await views.change_public(uow.session, app)).model_dump(mode="json"), app.id)

    # A unique clash that is not a same-key twin is a concurrent reservation of the new name.
    return await create_once(runtime.uow, principal.sub, key, form.model_dump(mode="json"), create,
                             on_conflict=lambda: problem_of(domain.name_taken(form.name or "", ["name"])))


@router.get("/changes", response_model=Page[ChangePublic])
async def list_changes(principal: CurrentPrincipal, runtime: Runtime, paging: Paging) -> Page[ChangePublic]:
    """The caller's own changes and moves, newest first."""
    async with runtime.maker() as session:
        return await views.own_changes(session, principal, paging)


@router.get("/changes/{application_id}", response_model=ChangePublic)
async def get_change(application_id: str, principal: CurrentPrincipal, runtime: Runtime) -> ChangePublic:
    """One change or move, live. Another applicant's answers 404, as a missing one does."""
    async with runtime.maker() as session:
        return await views.change_public(session, await views.readable(session, application_id, principal,
                                                                       opening=False))


@router.patch("/changes/{application_id}", response_model=ChangePublic, responses=CHANGE_REFUSALS)
async def supplement_change(application_id: str, body: ChangeSupplement, principal: CurrentPrincipal,
                            uow: Uow) -> ChangePublic:
    """Send what a department asked for (补正) on a change or move; the returning departments are asked again."""
    changes = body.model_dump(exclude_none=True, exclude={"note"})
    app = await commands.supplement_change(uow, application_id, changes, principal)
    await uow.commit()
    return await views.change_public(uow.session, app)


@router.get("/licenses/{verification_code}", response_model=LicencePublic, tags=["public"])
async def verify_licence(verification_code: str, runtime: Runtime) -> LicencePublic:
    """Verify an electronic business licence by its code (扫码亮证). No login needed."""
    async with runtime.maker() as session:
        return await views.licence_public(session, verification_code)


__all__ = ["router"]
