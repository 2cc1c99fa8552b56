"""HTTP routes of the utilities service: thin — parse, authorize, call one command, answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.utilities import commands, views
from services.utilities.handlers import FLOW
from services.utilities.schemas import (
    AccountPublic,
    ConnectionCreate,
    ConnectionPublic,
    ConnectionSupplement,
    OfferAcceptance,
    OfferPublic,
)
from shared.auth import CurrentPrincipal, submitting_for
from shared.idempotency import Created, IdempotencyKey, create_once
from shared.kit import SUPPLEMENT_RESPONSES, add_application_reads
from shared.outbox import UnitOfWork
from shared.pagination import Page, Paging
from shared.problems import Problem
from shared.service import Runtime, Uow

router = APIRouter(prefix="/api/v1", tags=["utilities 水电气网联合报装"])
CREATED: dict[int | str, dict[str, Any]] = {403: {"description": "the enterprise is not the caller's"},
           409: {"description": "Idempotency-Key in use, the enterprise cancelled, or the offer not open"},
           422: {"description": "problems, every one named"}}


def _concurrent() -> Problem:
    return Problem(409, "Concurrent request", "another request changed this at the same moment; try again",
                   code="concurrent_request")


@router.post("/connections", status_code=202, response_model=ConnectionPublic, responses=CREATED)
async def submit(form: ConnectionCreate, principal: CurrentPrincipal, runtime: Runtime,
                 key: IdempotencyKey) -> JSONResponse:
    """One joint application for any of power, water, gas, telecom and cable TV (202: accepted). The permits
    the works need are asked at once, in parallel; each supplier connects once its permits are granted."""
    applicant = submitting_for(principal, form.on_behalf_of)

    async def create(uow: UnitOfWork) -> Created:
        app = await commands.submit(uow, form, applicant=applicant, submitted_by=principal.sub,
                                    settings=runtime.settings)
        return Created(202, (await views.connection_public(uow.session, app)).model_dump(mode="json"), app.id)

    return await create_once(runtime.uow, principal.sub, key, form.model_dump(mode="json"), create,
                             on_conflict=_concurrent)


@router.get("/connections/offers", response_model=list[OfferPublic])
async def offers(principal: CurrentPrincipal, runtime: Runtime) -> list[OfferPublic]:
    """主动办: connections offered to the caller's newly registered enterprises, still open."""
    async with runtime.maker() as session:
        return await views.open_offers(session, principal)


@router.post("/connections/offers/{offer_id}/accept", status_code=202, response_model=ConnectionPublic,
             responses={404: {"description": "no such open offer of the caller's"}, **CREATED})
async def accept(offer_id: str, body: OfferAcceptance, principal: CurrentPrincipal, runtime: Runtime,
                 key: IdempotencyKey) -> JSONResponse:
    """Accept an offer with the utilities chosen: the application is made with the enterprise and its
    registered address filled in (202: accepted)."""
    payload = {"offer_id": offer_id, **body.model_dump(mode="json")}

    async def create(uow: UnitOfWork) -> Created:
        app = await commands.accept_offer(uow, offer_id, body, principal, runtime.settings)
        return Created(202, (await views.connection_public(uow.session, app)).model_dump(mode="json"), app.id)

    return await create_once(runtime.uow, principal.sub, key, payload, create, on_conflict=_concurrent)


add_application_reads(router, FLOW, "/connections", ConnectionPublic, views.connection_public)


@router.patch("/connections/{application_id}", response_model=ConnectionPublic,
               responses=SUPPLEMENT_RESPONSES)
async def supplement(application_id: str, body: ConnectionSupplement, principal: CurrentPrincipal, uow: Uow,
                     runtime: Runtime) -> ConnectionPublic:
    """Send what a department asked for (补正); the returning departments are asked again."""
    changes = body.model_dump(exclude_none=True, exclude={"note"})
    app = await commands.supplement(uow, application_id, changes, principal, runtime.settings)
    await uow.commit()
    return await views.connection_public(uow.session, app)


@router.get("/utility-accounts", response_model=Page[AccountPublic])
async def accounts(principal: CurrentPrincipal, runtime: Runtime, paging: Paging) -> Page[AccountPublic]:
    """The caller's utility accounts, by utility, premises and account number."""
    async with runtime.maker() as session:
        total, items = await views.accounts_of(session, principal, paging)
    return Page[AccountPublic](items=items, total=total, limit=paging.limit, offset=paging.offset)


__all__ = ["router"]
