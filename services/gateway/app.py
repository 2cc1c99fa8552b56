"""The gateway process: token check, routing to services, the dev token endpoint, and the views that
gather from several services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request, Response

from services.gateway import api
from services.gateway.proxy import forward
from services.gateway.routing import is_public, owner_of
from shared.auth import TokenVerifier, bearer_token
from shared.events import asyncapi_document
from shared.logs import configure_logging
from shared.problems import Problem, problem_response
from shared.settings import get_settings
from shared.web import health_router, install_common

MAX_BODY_BYTES = 1 * 1024 * 1024

settings = get_settings()
configure_logging("gateway", settings.log_level)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    timeout = httpx.Timeout(settings.upstream_timeout_seconds, connect=2.0)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        app.state.client = client
        app.state.verifier = TokenVerifier(settings)
        yield


app = FastAPI(title="Jiangmen one-stop service API (一网通办)", lifespan=lifespan, docs_url="/docs",
              description="One application, every department. All public endpoints are under /api/v1.")
install_common(app)


async def _gateway_ready() -> None:
    return None


app.include_router(health_router({"gateway": _gateway_ready}))
app.include_router(api.router)
if settings.env == "dev":
    app.include_router(api.dev_router)


@app.get("/api/v1/asyncapi.json", tags=["events"])
async def event_contract() -> dict:
    """The AsyncAPI document of every event, for department back offices."""
    return asyncapi_document()


async def read_limited_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Problem(413, "Request too large", f"the body may be at most {MAX_BODY_BYTES} bytes",
                      code="body_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise Problem(413, "Request too large", f"the body may be at most {MAX_BODY_BYTES} bytes",
                          code="body_too_large")
    return bytes(body)


@app.api_route("/api/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def route_to_service(path: str, request: Request) -> Response:
    """Everything else under /api/v1 goes to the service that owns it, once the token checks out."""
    service = owner_of(request.url.path)
    if service is None:
        return problem_response(Problem(404, "Not found", "no such endpoint", code="not_found"), request)
    try:
        if not is_public(request.url.path):
            request.state.principal = await app.state.verifier.verify(bearer_token(request))
        body = await read_limited_body(request)
    except Problem as problem:
        return problem_response(problem, request)
    return await forward(request, app.state.client, settings.service_url(service), service, body)
