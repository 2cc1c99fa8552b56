"""Routes the gateway answers itself: views gathered from the services in the registry (the caller's
applications, a department's queue, the audit trail, the supervisors' escalations), the applicant's escalation
routed to the service that owns the application, and the dev token (dev only)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.gateway.progress import APPLICATION_ID, find_application
from services.gateway.proxy import Upstreams, call, upstream_headers
from shared import registry
from shared.auth import AdminPrincipal, CurrentPrincipal, SupervisorPrincipal, issue_token, require_officer
from shared.backoffice import DecisionIn, DecisionPublic
from shared.departments import Department
from shared.escalations import OPEN, EscalationIn, EscalationPublic, OutcomeIn
from shared.idempotency import IdempotencyKey
from shared.pagination import MAX_LIMIT, Page, PageQuery, Paging
from shared.problems import Problem
from shared.settings import get_settings

router = APIRouter(prefix="/api/v1")
dev_router = APIRouter(prefix="/api/v1", tags=["dev"])

# (service, path): one place to ask. A service may list its applications at several paths.
Target = tuple[str, str]
Answer = tuple[str, httpx.Response | None]


def upstreams_of(request: Request) -> Upstreams:
    """The gateway's connections to the services."""
    upstreams: Upstreams = request.app.state.upstreams
    return upstreams


async def ask_services(request: Request, method: str, targets: Iterable[Target], *,
                       params: list[tuple[str, str]] | None = None, content: bytes | None = None) -> list[Answer]:
    """Ask several services at once with the caller's headers; a service that does not answer gives None."""
    settings = get_settings()
    headers = upstream_headers(request)

    async def one(service: str, path: str) -> Answer:
        try:
            return service, await call(upstreams_of(request), settings.service_url(service), service, method, path,
                                       headers=headers, params=params, content=content)
        except Problem:
            return service, None

    return list(await asyncio.gather(*(one(s, p) for s, p in targets)))


def unavailable_of(answers: Iterable[Answer]) -> list[str]:
    """The services that did not answer or failed (each named once)."""
    return sorted({s for s, r in answers if r is None or r.status_code >= 500})


@dataclass
class _Window:
    """The first items of one service's paged list, fetched page by page (a service gives at most
    ``MAX_LIMIT`` at a time, and a merged page needs its first ``limit + offset``)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    failed: bool = False


async def _fetch_window(request: Request, target: Target, window: int, params: list[tuple[str, str]]) -> _Window:
    found = _Window()
    seen: set[Any] = set()
    offset = 0
    while offset < window:
        limit = min(MAX_LIMIT, window - offset)
        [(_, resp)] = await ask_services(request, "GET", [target],
                                         params=[*params, ("limit", str(limit)), ("offset", str(offset))])
        if resp is None or resp.status_code >= 500:
            found.failed = True
            return found
        if resp.status_code != 200:
            return found  # the service refused the caller: nothing of it is shown
        body = resp.json()
        found.total = body["total"]
        for item in body["items"]:
            # A list that grows between two pages can shift an item into the next one: it is taken once.
            if item["id"] not in seen:
                seen.add(item["id"])
                found.items.append(item)
        offset += limit
        if len(body["items"]) < limit or offset >= found.total:
            break
    return found


async def gather_pages(request: Request, targets: list[Target], paging: PageQuery,
                       sort_key: Callable[[dict[str, Any]], Any], *, reverse: bool = False,
                       params: list[tuple[str, str]] | None = None) -> tuple[list[dict[str, Any]], int, list[str]]:
    """One page of a list merged from several services: each gives its first ``limit + offset`` items,
    the merge is sorted and cut. Returns the page, the total among those that answered, and those that did not.
    """
    windows = await asyncio.gather(*(_fetch_window(request, t, paging.window, params or []) for t in targets))
    items = sorted((i for w in windows if not w.failed for i in w.items), key=sort_key, reverse=reverse)
    total = sum(w.total for w in windows if not w.failed)
    unavailable = sorted({t[0] for t, w in zip(targets, windows, strict=True) if w.failed})
    return items[paging.offset:paging.offset + paging.limit], total, unavailable


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


class ApplicationsPage(Page[dict[str, Any]]):
    """The caller's applications from every service, and the services that did not answer."""

    total: int = Field(description="total among the services that answered")
    unavailable_services: list[str]


@router.get("/applications", response_model=ApplicationsPage, tags=["applications"])
async def my_applications(request: Request, _principal: CurrentPrincipal, paging: Paging) -> ApplicationsPage:
    """The caller's applications from every service, newest first."""
    targets = [(s.name, p) for s in registry.with_applications() for p in s.application_paths]
    items, total, unavailable = await gather_pages(request, targets, paging, lambda a: _instant(a["created_at"]),
                                                   reverse=True)
    return ApplicationsPage(items=items, total=total, limit=paging.limit, offset=paging.offset,
                            unavailable_services=unavailable)


class DepartmentQueue(BaseModel):
    """A department's open work across every service."""

    items: list[dict[str, Any]]
    unavailable_services: list[str]


@router.get("/departments/{code}/tasks", response_model=DepartmentQueue, tags=["department back office"])
async def department_tasks(code: Department, request: Request, principal: CurrentPrincipal,
                           status: Annotated[str | None, Query()] = "requested",
                           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> DepartmentQueue:
    """A department's tasks across every service, oldest due first, overdue marked."""
    require_officer(principal, code)
    params = [("status", status or ""), ("limit", str(limit))]
    answers = await ask_services(request, "GET", [(s.name, f"/api/v1/departments/{code}/tasks")
                                                  for s in registry.with_departments()], params=params)
    items = [t for _, r in answers if r is not None and r.status_code == 200 for t in r.json()]
    items.sort(key=lambda t: (t["due_at"] is None, t["due_at"] or "", t["requested_at"] or ""))
    return DepartmentQueue(items=items[:limit], unavailable_services=unavailable_of(answers))


@router.post("/departments/{code}/tasks/{task_id}/decision", tags=["department back office"],
             responses={409: {"description": "The task is decided already"},
                        503: {"description": "The task may belong to a service that does not answer"}})
async def department_decision(code: Department, task_id: str, body: DecisionIn, request: Request,
                              principal: CurrentPrincipal) -> JSONResponse:
    """Decide a task (approved, rejected, returned); the owning service applies it like a NATS answer."""
    require_officer(principal, code)
    answers = await ask_services(request, "POST", [(s.name, f"/api/v1/departments/{code}/tasks/{task_id}/decision")
                                                   for s in registry.with_departments()],
                                 content=body.model_dump_json().encode())
    for _, resp in answers:
        if resp is not None and resp.status_code < 500 and resp.status_code != 404:
            return JSONResponse(resp.json(), status_code=resp.status_code,
                                media_type=resp.headers.get("content-type"))
    unavailable = unavailable_of(answers)
    if unavailable:
        raise Problem(503, "Service unavailable", "the task may belong to a service that does not answer",
                      code="service_unavailable", unavailable_services=unavailable, headers={"Retry-After": "5"})
    raise Problem(404, "Not found", f"no task {task_id} in the queue of {code}", code="task_not_found")


def _relayed(resp: httpx.Response) -> JSONResponse:
    """A service's answer passed on as it is (status, body and content type)."""
    return JSONResponse(resp.json(), status_code=resp.status_code, media_type=resp.headers.get("content-type"))


def _first_answer(answers: list[Answer], not_found: Problem) -> JSONResponse:
    """The answer of the service that knows the object (the others say 404); 503 when one that may know it is
    down, ``not_found`` when none knows it."""
    for _, resp in answers:
        if resp is not None and resp.status_code < 500 and resp.status_code != 404:
            return _relayed(resp)
    unavailable = unavailable_of(answers)
    if unavailable:
        raise Problem(503, "Service unavailable", "the object may belong to a service that does not answer",
                      code="service_unavailable", unavailable_services=unavailable, headers={"Retry-After": "5"})
    raise not_found


@router.post("/applications/{application_id}/escalations", status_code=201, response_model=EscalationPublic,
             tags=["办不成事 escalations"],
             responses={403: {"description": "read only: only the applicant (or the clerk who submitted it) escalates"},
                        409: {"description": "an escalation is open already, the application is finished (not "
                                             "stuck), nothing was refused, or the Idempotency-Key is in use"},
                        503: {"description": "the application may belong to a service that does not answer"}})
async def escalate(application_id: Annotated[str, Path(pattern=APPLICATION_ID)], body: EscalationIn,
                   request: Request, _principal: CurrentPrincipal, _key: IdempotencyKey) -> JSONResponse:
    """办不成事 (首问负责): the applicant reports that an application is stuck or was refused unfairly. The
    supervisors answer within their time limit in working days; the departments concerned (those it waits for,
    or those that refused it) are told, and the applicant follows it on the application's progress stream and
    in its `escalations`. Another applicant's application answers 404."""
    spec, _ = await find_application(request, application_id)
    path = f"/api/v1/applications/{application_id}/escalations"
    [(_, resp)] = await ask_services(request, "POST", [(spec.name, path)], content=body.model_dump_json().encode())
    if resp is None or resp.status_code >= 500:
        raise Problem(503, "Service unavailable", f"the {spec.name} service does not answer; try again shortly",
                      code="service_unavailable", service=spec.name, headers={"Retry-After": "5"})
    return _relayed(resp)


class EscalationQueue(Page[EscalationPublic]):
    """The escalations of every service, the most urgent first, and the services that did not answer."""

    total: int = Field(description="total among the services that answered")
    unavailable_services: list[str]


@router.get("/supervision/escalations", response_model=EscalationQueue, tags=["办不成事 escalations"])
async def supervision_queue(request: Request, _supervisor: SupervisorPrincipal, paging: Paging,
                            status: Annotated[str | None, Query(max_length=20)] = OPEN) -> EscalationQueue:
    """The supervisors' queue (办不成事): escalations from every service, due first, each with its due time in
    working days and whether it is overdue. `status` is open by default (upheld, dismissed, resolved; empty
    for all). For supervisors only."""
    targets = [(s.name, "/api/v1/supervision/escalations") for s in registry.with_departments()]
    items, total, unavailable = await gather_pages(request, targets, paging, lambda e: (_instant(e["due_at"]), e["id"]),
                                                   params=[("status", status or "")])
    return EscalationQueue(items=[EscalationPublic.model_validate(e) for e in items], total=total,
                           limit=paging.limit, offset=paging.offset, unavailable_services=unavailable)


@router.post("/supervision/escalations/{escalation_id}/outcome", response_model=EscalationPublic,
             tags=["办不成事 escalations"],
             responses={409: {"description": "the escalation has its outcome already"},
                        503: {"description": "the escalation may belong to a service that does not answer"}})
async def escalation_outcome(escalation_id: Annotated[str, Path(pattern=APPLICATION_ID)], body: OutcomeIn,
                             request: Request, _supervisor: SupervisorPrincipal) -> JSONResponse:
    """The supervisor's outcome: `upheld` (the applicant is right; a stuck application's overdue departments are
    asked again), `dismissed` or `resolved`, with a note for the applicant. Announced to the applicant's
    progress stream and to the departments concerned."""
    answers = await ask_services(request, "POST", [(s.name, f"/api/v1/supervision/escalations/{escalation_id}/outcome")
                                                   for s in registry.with_departments()],
                                 content=body.model_dump_json().encode())
    return _first_answer(answers, Problem(404, "Not found", f"no escalation {escalation_id}",
                                          code="escalation_not_found"))


class DecisionTrail(Page[DecisionPublic]):
    """One page of the audit trail of every service, and the services that did not answer."""

    total: int = Field(description="total among the services that answered")
    unavailable_services: list[str]


@router.get("/admin/task-decisions", response_model=DecisionTrail, tags=["admin"])
async def audit_trail(request: Request, _admin: AdminPrincipal, paging: Paging,
                      application_id: Annotated[str | None, Query(max_length=100)] = None) -> DecisionTrail:
    """Every decision on every task (append-only), from every service, in the order they were recorded."""
    params = [("application_id", application_id)] if application_id else []
    targets = [(s.name, "/api/v1/admin/task-decisions") for s in registry.with_departments()]
    items, total, unavailable = await gather_pages(
        request, targets, paging, lambda d: (_instant(d["recorded_at"]), d["id"]), params=params)
    return DecisionTrail(items=[DecisionPublic.model_validate(d) for d in items], total=total,
                         limit=paging.limit, offset=paging.offset, unavailable_services=unavailable)


class DeadLetters(Page[dict[str, Any]]):
    """The events every service could never publish (too large for the bus), newest first."""

    total: int = Field(description="total among the services that answered")
    unavailable_services: list[str]


@router.get("/admin/dead-letters", response_model=DeadLetters, tags=["admin"])
async def dead_letters(request: Request, _admin: AdminPrincipal, paging: Paging) -> DeadLetters:
    """Events a service kept aside because the bus can never take them: they block nothing, and an operator
    decides what to do with each (each service's `/readyz` names how many it holds)."""
    targets = [(s.name, "/api/v1/admin/dead-letters") for s in registry.services().values()]
    items, total, unavailable = await gather_pages(request, targets, paging, lambda d: _instant(d["dead_at"]),
                                                   reverse=True)
    return DeadLetters(items=items, total=total, limit=paging.limit, offset=paging.offset,
                       unavailable_services=unavailable)


class DevTokenRequest(BaseModel):
    """Who the dev token is for."""

    sub: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(default_factory=lambda: ["applicant"])
    name: str | None = None


class DevTokenResponse(BaseModel):
    """A bearer token and how long it lasts."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


@dev_router.post("/auth/dev-token", response_model=DevTokenResponse)
async def dev_token(body: DevTokenRequest) -> DevTokenResponse:
    """A token for any subject and roles. Exists only when ONESTOP_ENV=dev."""
    ttl = 8 * 3600
    return DevTokenResponse(access_token=issue_token(get_settings(), body.sub, body.roles, name=body.name,
                                                     ttl_seconds=ttl), expires_in=ttl)
