"""HTTP routes of the registration service: thin — parse, authorize, call one command, answer."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.registration import commands, domain, views
from services.registration.handlers import FLOW
from services.registration.schemas import (
    LicencePublic,
    RegistrationCreate,
    RegistrationPublic,
    RegistrationSupplement,
)
from shared.auth import CurrentPrincipal, submitting_for
from shared.idempotency import Created, IdempotencyKey, create_once
from shared.kit import add_application_reads
from shared.outbox import UnitOfWork
from shared.problems import problem_of
from shared.service import Runtime, Uow

router = APIRouter(prefix="/api/v1", tags=["registration 企业开办"])


@router.post("/registrations", status_code=202, response_model=RegistrationPublic,
             responses={409: {"description": "Idempotency-Key in use"}, 422: {"description": "problems"}})
async def submit(form: RegistrationCreate, principal: CurrentPrincipal, runtime: Runtime,
                 key: IdempotencyKey) -> JSONResponse:
    """Submit one 企业开办 application; it fans out to every department chosen (202: accepted)."""
    applicant = submitting_for(principal, form.on_behalf_of)

    async def create(uow: UnitOfWork) -> Created:
        app = await commands.submit(uow, form, applicant=applicant, submitted_by=principal.sub)
        body = (await views.registration_public(uow.session, app)).model_dump(mode="json")
        return Created(202, body, app.id)

    # A unique clash that is not a same-key twin is a concurrent submission of the same name.
    return await create_once(runtime.uow, principal.sub, key, form.model_dump(mode="json"), create,
                             on_conflict=lambda: problem_of(domain.name_taken(form.enterprise.name)))


add_application_reads(router, FLOW, "/registrations", RegistrationPublic, views.registration_public)


@router.patch("/registrations/{application_id}", response_model=RegistrationPublic)
async def supplement(application_id: str, body: RegistrationSupplement, principal: CurrentPrincipal,
                     uow: Uow) -> RegistrationPublic:
    """Send what a department asked for (补正); the returning departments are asked again."""
    changes = body.model_dump(exclude_none=True, exclude={"note"})
    app = await commands.supplement(uow, application_id, changes, principal)
    await uow.commit()
    return await views.registration_public(uow.session, app)


@router.get("/licenses/{verification_code}", response_model=LicencePublic, tags=["public"])
async def verify_licence(verification_code: str, runtime: Runtime) -> LicencePublic:
    """Verify an electronic business licence by its code (扫码亮证). No login needed."""
    async with runtime.maker() as session:
        return await views.licence_public(session, verification_code)


__all__ = ["router"]
