"""Routes the gateway answers itself: views gathered from several services (the caller's applications,
a department's queue, the audit trail), and the dev token (dev only)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.gateway.proxy import call, forward_headers
from services.gateway.routing import APPLICATION_PATHS, APPLICATION_SERVICES
from shared.auth import AdminPrincipal, CurrentPrincipal, issue_token, require_officer
from shared.departments import Department
from shared.problems import Problem
from shared.settings import get_settings

router = APIRouter(prefix="/api/v1")
dev_router = APIRouter(prefix="/api/v1", tags=["dev"])

LIST_PATHS = APPLICATION_PATHS


def client_of(request: Request) -> httpx.AsyncClient:
    return request.app.state.client


async def gather_from_services(request: Request, method: str, path_for: dict[str, str], *,
                               params: list[tuple[str, str]] | None = None,
                               content: bytes | None = None) -> tuple[dict[str, httpx.Response], list[str]]:
    """Ask several services at once; those that do not answer are named rather than failing the whole."""
    settings = get_settings()
    headers = forward_headers(request.headers)

    async def one(service: str, path: str) -> tuple[str, httpx.Response | None]:
        try:
            return service, await call(client_of(request), settings.service_url(service), service, method, path,
                                       headers=headers, params=params, content=content)
        except Problem:
            return service, None

    results = await asyncio.gather(*(one(s, p) for s, p in path_for.items()))
    answered = {s: r for s, r in results if r is not None and r.status_code < 500}
    unavailable = [s for s, r in results if r is None or r.status_code >= 500]
    return answered, unavailable


class ApplicationsPage(BaseModel):
    items: list[dict[str, Any]]
    limit: int
    offset: int
    total: int = Field(description="total among the services that answered")
    unavailable_services: list[str]


@router.get("/applications", response_model=ApplicationsPage, tags=["applications"])
async def my_applications(request: Request, _principal: CurrentPrincipal,
                          limit: Annotated[int, Query(ge=1, le=100)] = 20,
                          offset: Annotated[int, Query(ge=0)] = 0) -> ApplicationsPage:
    """The caller's applications from every service, newest first."""
    window = [("limit", str(min(100, limit + offset))), ("offset", "0")]
    answered, unavailable = await gather_from_services(request, "GET", LIST_PATHS, params=window)
    items: list[dict[str, Any]] = []
    total = 0
    for resp in answered.values():
        if resp.status_code == 200:
            body = resp.json()
            items.extend(body["items"])
            total += body["total"]
    items.sort(key=lambda a: a["created_at"], reverse=True)
    return ApplicationsPage(items=items[offset:offset + limit], limit=limit, offset=offset, total=total,
                            unavailable_services=unavailable)


class DepartmentQueue(BaseModel):
    items: list[dict[str, Any]]
    unavailable_services: list[str]


@router.get("/departments/{code}/tasks", response_model=DepartmentQueue, tags=["department back office"])
async def department_tasks(code: Department, request: Request, principal: CurrentPrincipal,
                           status: Annotated[str | None, Query()] = "requested",
                           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> DepartmentQueue:
    """A department's tasks across every service, oldest due first, overdue marked."""
    require_officer(principal, code)
    params = [("status", status or ""), ("limit", str(limit))]
    answered, unavailable = await gather_from_services(
        request, "GET", {s: f"/api/v1/departments/{code}/tasks" for s in APPLICATION_SERVICES}, params=params)
    items = [t for r in answered.values() if r.status_code == 200 for t in r.json()]
    items.sort(key=lambda t: (t["due_at"] is None, t["due_at"] or "", t["requested_at"] or ""))
    return DepartmentQueue(items=items[:limit], unavailable_services=unavailable)


class DecisionIn(BaseModel):
    outcome: str
    comment: str | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)


@router.post("/departments/{code}/tasks/{task_id}/decision", tags=["department back office"])
async def department_decision(code: Department, task_id: str, body: DecisionIn, request: Request,
                              principal: CurrentPrincipal) -> JSONResponse:
    """Decide a task (approved, rejected, returned); the owning service applies it like a NATS answer."""
    require_officer(principal, code)
    answered, unavailable = await gather_from_services(
        request, "POST", {s: f"/api/v1/departments/{code}/tasks/{task_id}/decision" for s in APPLICATION_SERVICES},
        content=body.model_dump_json().encode())
    for resp in answered.values():
        if resp.status_code != 404:
            return JSONResponse(resp.json(), status_code=resp.status_code,
                                media_type=resp.headers.get("content-type"))
    if unavailable:
        raise Problem(503, "Service unavailable", "the task may belong to a service that does not answer",
                      code="service_unavailable", unavailable_services=unavailable, headers={"Retry-After": "5"})
    raise Problem(404, "Not found", f"no task {task_id} in the queue of {code}", code="task_not_found")


@router.get("/admin/task-decisions", tags=["admin"])
async def audit_trail(request: Request, _admin: AdminPrincipal,
                      application_id: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    """Every decision on every task (append-only), from every service."""
    params = [("application_id", application_id)] if application_id else None
    answered, unavailable = await gather_from_services(
        request, "GET", {s: "/api/v1/admin/task-decisions" for s in APPLICATION_SERVICES}, params=params)
    items = [d for r in answered.values() if r.status_code == 200 for d in r.json()]
    items.sort(key=lambda d: d["recorded_at"])
    return {"items": items, "unavailable_services": unavailable}


class DevTokenRequest(BaseModel):
    sub: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(default_factory=lambda: ["applicant"])
    name: str | None = None


class DevTokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@dev_router.post("/auth/dev-token", response_model=DevTokenResponse)
async def dev_token(body: DevTokenRequest) -> DevTokenResponse:
    """A token for any subject and roles. Exists only when ONESTOP_ENV=dev."""
    ttl = 8 * 3600
    return DevTokenResponse(access_token=issue_token(get_settings(), body.sub, body.roles, name=body.name,
                                                     ttl_seconds=ttl), expires_in=ttl)
