"""A service whose applications fan out to departments, assembled from its flow: its routes, the department
back office for its tasks, the consumer of the departments' answers and the overdue sweep."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shared import registry
from shared.applications import DEFERRAL_TIMER, ApplicationFlow, ApplicationPublic
from shared.auth import CurrentPrincipal
from shared.backoffice import department_router, task_answers_consumer
from shared.bus import ConsumerSpec
from shared.escalations import escalation_router
from shared.materials import LOOKUP_RESPONSES, MaterialRef, Materials
from shared.pagination import Page, Paging
from shared.service import Runtime, ServiceRuntime, Sweep, Uow, create_service_app
from shared.tasks import overdue_sweep
from shared.timers import timer_sweep

P = TypeVar("P", bound=ApplicationPublic)
# What a supplement (补正, ``PATCH`` of an application) may answer besides 200.
SUPPLEMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "read only: an admin or officer reads the application, only its applicant changes it"},
    409: {"description": "not waiting for a supplement (补正)"},
    422: {"description": "problems, every one named"},
}


def application_service(
    flow: ApplicationFlow[Any],
    *,
    routers: Sequence[APIRouter],
    consumers: Callable[[ServiceRuntime], Sequence[ConsumerSpec]] = lambda _: (),
    sweeps: Sequence[Sweep] = (),
    on_start: Callable[[ServiceRuntime], Awaitable[None]] | None = None,
) -> FastAPI:
    """The FastAPI app of the service that owns ``flow``: its own routes, consumers and sweeps, plus what
    every application service has (department queue and decisions, answers over NATS, overdue tasks, and the
    办不成事 escalations with the supervisors' queue, and the deadline of deferred materials when its flow checks
    materials)."""
    common = [overdue_sweep(flow.service)]
    if flow.materials is not None:
        common.append(timer_sweep({DEFERRAL_TIMER: flow.lapse_deferral}))
    return create_service_app(
        title=registry.service(flow.service).title,
        routers=[*routers, department_router(flow.service, flow.apply_decision), escalation_router(flow)],
        consumers=lambda runtime: [task_answers_consumer(runtime, flow.apply_decision), *consumers(runtime)],
        sweeps=[*common, *sweeps],
        on_start=on_start,
        applications=flow.model,
    )


def add_application_reads(router: APIRouter, flow: ApplicationFlow[Any], path: str, model: type[P],
                          view: Callable[[AsyncSession, Any], Awaitable[P]]) -> None:
    """``GET {path}`` (the caller's own applications, paged) and ``GET {path}/{application_id}`` (one, or 404
    when it is not the caller's), answered with ``view``: what every application service offers."""

    async def list_own(principal: CurrentPrincipal, runtime: Runtime, paging: Paging) -> Page[Any]:
        async with runtime.maker() as session:
            total, apps = await flow.own_page(session, principal, paging)
            items = [await view(session, app) for app in apps]
        return Page[model](items=items, total=total, limit=paging.limit, offset=paging.offset)  # type: ignore[valid-type]

    async def get_one(application_id: str, principal: CurrentPrincipal, runtime: Runtime) -> Any:
        async with runtime.maker() as session:
            return await view(session, await flow.readable(session, application_id, principal))

    router.add_api_route(path, list_own, methods=["GET"], response_model=Page[model],  # type: ignore[valid-type]
                         name=f"list_{flow.service}", summary="The caller's own applications",
                         description="A clerk's: those they submitted; an admin's: all. Newest first.")
    router.add_api_route(f"{path}/{{application_id}}", get_one, methods=["GET"], response_model=model,
                         name=f"get_{flow.service}", summary="One application, live",
                         description="Another applicant's application answers 404, as a missing one does.")


# What supplying a deferred material (容缺受理) may answer besides 200.
SUPPLY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **SUPPLEMENT_RESPONSES,
    409: {"description": "the application is completed, rejected or otherwise closed"},
    422: {"description": "not a material the application waits for, or a document that is not the applicant's or "
                         "not in a format the material takes"},
    **LOOKUP_RESPONSES,
}


def add_material_supply(router: APIRouter, flow: ApplicationFlow[Any], path: str, model: type[P],
                        view: Callable[[AsyncSession, Any], Awaitable[P]]) -> None:
    """``POST {path}/{application_id}/materials``: the applicant supplies, as an uploaded document, a material the
    application was accepted without (容缺受理); the last one closes the gap and resumes an application the
    deadline had returned. Answered with ``view``, as every service whose flow checks materials offers."""

    async def supply(application_id: str, body: MaterialRef, principal: CurrentPrincipal, uow: Uow,
                     materials: Materials) -> Any:
        found = await materials.look_up([body.id])
        app = await flow.supply_material(uow, application_id, principal, body, found[body.id])
        await uow.commit()
        return await view(uow.session, app)

    router.add_api_route(f"{path}/{{application_id}}/materials", supply, methods=["POST"], response_model=model,
                         responses=SUPPLY_RESPONSES, name=f"supply_{flow.service}_material",
                         summary="Supply a deferred material (容缺受理)",
                         description="A material the application was accepted without, as an uploaded document "
                                     "(POST /api/v1/materials). The last one closes the gap; an application returned "
                                     "because the deadline passed goes on.")
