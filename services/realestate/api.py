"""HTTP routes of the real-estate service: thin — parse, authorize, call one command, answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.realestate import commands, views
from services.realestate.schemas import (
    CertificatePublic,
    MortgageCreate,
    MortgageRelease,
    PropertyImport,
    PropertyPublic,
    RegistryApplicationPublic,
    SeizureCreate,
    SeizurePublic,
    TitlePublic,
    TransferCreate,
    TransferSupplement,
)
from shared.auth import CurrentPrincipal, Principal, submitting_for
from shared.departments import Department
from shared.idempotency import Created, IdempotencyKey, create_once
from shared.outbox import UnitOfWork
from shared.pagination import Page, Paging
from shared.problems import Problem
from shared.refusals import Forbidden
from shared.service import Runtime, Uow

router = APIRouter(prefix="/api/v1", tags=["real estate 不动产登记+交易+缴税"])
REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "not the owner, the buyer, a lender or the registry, as the action needs"},
    409: {"description": "Idempotency-Key in use, or the property's or application's state forbids it"},
    422: {"description": "problems, every one named"}}


def _concurrent() -> Problem:
    return Problem(409, "Concurrent request", "another request changed this at the same moment; try again",
                   code="concurrent_request")


def _registry_or_admin(principal: Principal) -> None:
    if not (principal.is_admin or principal.is_officer_of(Department.nr)):
        raise Forbidden("forbidden", "the registry's data is imported by the registry (dept:nr) or an admin")


@router.post("/admin/properties", status_code=201, response_model=PropertyPublic, responses=REFUSALS)
async def import_property(form: PropertyImport, principal: CurrentPrincipal, runtime: Runtime,
                          key: IdempotencyKey) -> JSONResponse:
    """Import one property of the registry's existing data: owners (by token subject, name and ID number),
    mortgages, seizures and its title certificate, which gets a verification code."""
    _registry_or_admin(principal)

    async def create(uow: UnitOfWork) -> Created:
        prop, certificate = await commands.import_property(uow, form)
        body = PropertyPublic(unit_number=prop.unit_number, address=prop.address, use=prop.use, area_m2=prop.area_m2,
                              certificate_number=prop.certificate_number,
                              certificate_verification_code=certificate.verification_code)
        return Created(201, body.model_dump(mode="json"), prop.unit_number)

    return await create_once(runtime.uow, principal.sub, key, form.model_dump(mode="json"), create,
                             on_conflict=_concurrent)


@router.post("/admin/properties/{unit_number}/seizures", status_code=201, response_model=SeizurePublic,
             responses=REFUSALS)
async def register_seizure(unit_number: str, body: SeizureCreate, principal: CurrentPrincipal, runtime: Runtime,
                           key: IdempotencyKey) -> JSONResponse:
    """查封登记 on a court's or another authority's ruling (the registry or an admin): the property cannot
    change hands while it stands; a transfer not entered yet is stopped at entry and its payment refunded."""
    _registry_or_admin(principal)
    payload = {"unit_number": unit_number, **body.model_dump(mode="json")}

    async def create(uow: UnitOfWork) -> Created:
        seizure = await commands.register_seizure(uow, unit_number, body.authority, body.reference)
        public = SeizurePublic(id=seizure.id, unit_number=seizure.unit_number, authority=seizure.authority,
                               reference=seizure.reference, registered_at=seizure.registered_at)
        return Created(201, public.model_dump(mode="json"), seizure.id)

    return await create_once(runtime.uow, principal.sub, key, payload, create, on_conflict=_concurrent)


@router.post("/transfers", status_code=202, response_model=RegistryApplicationPublic, responses=REFUSALS)
async def submit_transfer(form: TransferCreate, principal: CurrentPrincipal, runtime: Runtime,
                          key: IdempotencyKey) -> JSONResponse:
    """转移登记, filed by the owner (202: accepted). It shows the one amount due with its items; the buyer
    confirms it, then the registry, housing and tax are asked together."""
    applicant = submitting_for(principal, form.on_behalf_of)

    async def create(uow: UnitOfWork) -> Created:
        app = await commands.submit_transfer(uow, form, applicant=applicant, submitted_by=principal.sub)
        return Created(202, (await views.application_public(uow.session, app)).model_dump(mode="json"), app.id)

    return await create_once(runtime.uow, principal.sub, key, form.model_dump(mode="json"), create,
                             on_conflict=_concurrent)


@router.get("/transfers", response_model=Page[RegistryApplicationPublic])
async def list_transfers(principal: CurrentPrincipal, runtime: Runtime,
                         paging: Paging) -> Page[RegistryApplicationPublic]:
    """The caller's transfers, as the seller or the buyer, newest first."""
    async with runtime.maker() as session:
        return await views.own_applications(session, principal, paging, views.TRANSFER_KINDS)


@router.get("/transfers/{application_id}", response_model=RegistryApplicationPublic)
async def get_transfer(application_id: str, principal: CurrentPrincipal, runtime: Runtime) -> RegistryApplicationPublic:
    """One transfer, live: its tasks, amount due, payment and split, and the certificates issued at entry."""
    async with runtime.maker() as session:
        return await views.readable_application(session, application_id, principal, views.TRANSFER_KINDS)


@router.post("/transfers/{application_id}/confirmation", response_model=RegistryApplicationPublic,
             responses=REFUSALS)
async def confirm_transfer(application_id: str, principal: CurrentPrincipal, uow: Uow) -> RegistryApplicationPublic:
    """The buyer confirms the transfer: nr (review), housing (contract filing) and tax (assessment) start."""
    app = await commands.confirm_transfer(uow, application_id, principal)
    await uow.commit()
    return await views.application_public(uow.session, app)


@router.patch("/transfers/{application_id}", response_model=RegistryApplicationPublic, responses=REFUSALS)
async def supplement_transfer(application_id: str, body: TransferSupplement, principal: CurrentPrincipal,
                              uow: Uow) -> RegistryApplicationPublic:
    """Send what a department asked for (补正); the returning departments are asked again."""
    changes = body.model_dump(exclude_none=True, exclude={"note"})
    app = await commands.supplement_transfer(uow, application_id, changes, principal)
    await uow.commit()
    return await views.application_public(uow.session, app)


@router.post("/mortgages", status_code=202, response_model=RegistryApplicationPublic, responses=REFUSALS)
async def submit_mortgage(form: MortgageCreate, principal: CurrentPrincipal, runtime: Runtime,
                          key: IdempotencyKey) -> JSONResponse:
    """抵押权登记, filed online by a bank's or local financial organisation's officer (dept:bank)."""

    async def create(uow: UnitOfWork) -> Created:
        app = await commands.submit_mortgage(uow, form, principal)
        return Created(202, (await views.application_public(uow.session, app)).model_dump(mode="json"), app.id)

    return await create_once(runtime.uow, principal.sub, key, form.model_dump(mode="json"), create,
                             on_conflict=_concurrent)


@router.post("/mortgages/releases", status_code=202, response_model=RegistryApplicationPublic, responses=REFUSALS)
async def release_mortgage(form: MortgageRelease, principal: CurrentPrincipal, runtime: Runtime,
                           key: IdempotencyKey) -> JSONResponse:
    """抵押权注销登记 (free), filed by the mortgagee's officer once the debt is repaid."""

    async def create(uow: UnitOfWork) -> Created:
        app = await commands.release_mortgage(uow, form, principal)
        return Created(202, (await views.application_public(uow.session, app)).model_dump(mode="json"), app.id)

    return await create_once(runtime.uow, principal.sub, key, form.model_dump(mode="json"), create,
                             on_conflict=_concurrent)


@router.get("/mortgages", response_model=Page[RegistryApplicationPublic])
async def list_mortgages(principal: CurrentPrincipal, runtime: Runtime,
                         paging: Paging) -> Page[RegistryApplicationPublic]:
    """The mortgage registrations and releases the caller filed, newest first."""
    async with runtime.maker() as session:
        return await views.own_applications(session, principal, paging, views.MORTGAGE_KINDS)


@router.get("/mortgages/{application_id}", response_model=RegistryApplicationPublic)
async def get_mortgage(application_id: str, principal: CurrentPrincipal, runtime: Runtime) -> RegistryApplicationPublic:
    async with runtime.maker() as session:
        return await views.readable_application(session, application_id, principal, views.MORTGAGE_KINDS)


@router.get("/titles/{unit_number}", response_model=TitlePublic)
async def title(unit_number: str, principal: CurrentPrincipal, runtime: Runtime) -> TitlePublic:
    """免费查询: the owner sees everything; any other logged-in person the natural state, co-ownership,
    mortgages and seizures, with names and ID numbers masked. By unit number only: no search by name."""
    async with runtime.maker() as session:
        return await views.title_public(session, unit_number, principal)


@router.get("/property-certificates/{verification_code}", response_model=CertificatePublic, tags=["public"])
async def verify_certificate(verification_code: str, runtime: Runtime) -> CertificatePublic:
    """Verify an electronic certificate by its code (no login): valid or cancelled, the property, the holders
    masked."""
    async with runtime.maker() as session:
        return await views.certificate_public(session, verification_code)


__all__ = ["router"]
