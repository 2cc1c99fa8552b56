"""The gateway process: token check, routing to services, the dev token endpoint, and the views that
gather from several services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import httpx
from fastapi import Depends, FastAPI, Path, Query, Request, Response

from services.gateway import api, openapi, progress
from services.gateway.guard import RequestGuardMiddleware
from services.gateway.limits import RateLimits, enforce_rate_limit, verified_caller
from services.gateway.proxy import Upstreams, forward, route_template, upstream_clients
from shared import catalogue, tracing
from shared.auth import TokenVerifier, bearer_token
from shared.bus import Bus
from shared.events import asyncapi_document
from shared.idempotency import RETENTION
from shared.logs import configure_logging
from shared.metrics import Metrics, tally
from shared.natsauth import GATEWAY_IDENTITY
from shared.problems import Problem, problem_response
from shared.registry import is_anonymous, owner_of, upload_paths
from shared.settings import get_settings
from shared.web import (
    FASTAPI_TELEMETRY,
    BodyLimitMiddleware,
    health_router,
    install_common,
    install_problem_openapi,
    label_route,
)
from shared.workdays import local_today

settings = get_settings()
settings.refuse_unsafe()
configure_logging("gateway", settings.log_level)
tracing.configure_tracing("gateway")

DESCRIPTION = f"""One application, every department. All public endpoints are under `/api/v1`; errors are
`application/problem+json` (RFC 9457).

**Identity.** A bearer JWT on every call but licence verification: signature, issuer, audience, expiry and
not-before are checked here and again by the service. Roles: `applicant`, `clerk` (service-hall staff
submitting with `on_behalf_of`; recorded as `submitted_by`), `dept:<code>`, `admin`. Another applicant's
application answers 404; an endpoint of another role answers 403.

**Idempotency-Key.** Required (400 without) on every POST that creates something, and enforced by the
owning service in the same transaction as the creation, per caller and key. The same key with the same body
replays the first answer (same status, same body, marked `Idempotent-Replayed: true`) and creates nothing;
with another body it is 422; while the first request with that key is still being processed, a retry is 409
with `Retry-After` (retry it: it then gets the first answer). Keys are kept for
{int(RETENTION.total_seconds() // 3600)} hours after the first answer; after that the same key counts as new.

**Limits.** Per caller (token subject, or client address without a token):
{settings.rate_limit_writes_per_minute or "unlimited"} writes and {settings.rate_limit_reads_per_minute or "unlimited"}
reads a minute by default (`ONESTOP_RATE_LIMIT_WRITES_PER_MINUTE`, `ONESTOP_RATE_LIMIT_READS_PER_MINUTE`),
then 429 with `Retry-After`; the client address is the peer's unless the peer is a trusted proxy
(`ONESTOP_TRUSTED_PROXIES`, none by default), whose `X-Forwarded-For` then names it. Bodies over
{settings.max_body_bytes} bytes are 413, at the gateway and at every service (an upload of a material:
{settings.max_upload_bytes} bytes, streamed). A path with a dot segment, an
encoded slash or backslash or an empty segment is 400, and so is a request with two `Authorization` headers.
A service slower than
{settings.upstream_timeout_seconds:g} s answers 504, one that is down 503 with `Retry-After`; the others keep
working, and the lists gathered from several services name the ones that did not answer.

**Live progress.** `GET /api/v1/applications/{{id}}/events` (server-sent events), resumable with
`Last-Event-ID`; at most {settings.progress_streams_per_caller} streams at once per caller and
{settings.progress_streams_total} in all (then 429 with `Retry-After`); a stream ends when its token expires.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    timeout = httpx.Timeout(settings.upstream_timeout_seconds, connect=2.0)
    bus = Bus(settings.nats_url, name="onestop-gateway", seed=settings.nats_seed(GATEWAY_IDENTITY),
              tls_ca=settings.nats_tls_ca,
              manage_streams=False)
    upstreams = Upstreams(upstream_clients(timeout), pool_timeout=settings.upstream_timeout_seconds)
    app.state.upstreams = upstreams
    app.state.verifier = TokenVerifier(settings)
    app.state.limits = RateLimits(settings)
    app.state.bus = bus
    # In the background: the gateway serves everything but live progress while the broker is away.
    bus.start()
    try:
        yield
    finally:
        await bus.close()
        await upstreams.aclose()


# /openapi.json and /docs are served by services.gateway.openapi: one document for the whole public API.
app = FastAPI(title="Jiangmen one-stop service API (一网通办)", lifespan=lifespan, docs_url=None, openapi_url=None,
              description=DESCRIPTION, dependencies=[Depends(enforce_rate_limit)], telemetry=FASTAPI_TELEMETRY)
# Inside the request-context middleware (added by install_common, the outermost), so a 400 or 413 is logged
# with its request id; the guard before the body limit, so a malformed path is refused before its body is read.
app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, uploads=upload_paths(),
                   max_upload_bytes=settings.max_upload_bytes)
app.add_middleware(RequestGuardMiddleware, trusted_proxies=settings.trusted_proxies)
# The services count Idempotency-Key replays; the gateway only passes them on.
metrics = Metrics("gateway", owns_idempotency=False)
metrics.count_from("onestop_rate_limit_refusals", "Requests refused with 429 by the per-caller limits",
                   ["kind"], lambda: tally(app.state.limits.refused))
metrics.count_from("onestop_bus_events_refused",
                   "Events dropped because their subject, source and data disagree (provenance check)",
                   ["consumer"], lambda: tally(app.state.bus.refused_by_consumer))
bus_connected = metrics.gauge("onestop_bus_connected", "1 while the process is connected to NATS")


async def _bus_connection() -> None:
    bus: Bus = app.state.bus
    metrics.set(bus_connected, 1 if bus.is_connected else 0)


metrics.probe("bus", _bus_connection)
# The public edge: a trace starts here, whatever traceparent a client sends.
install_common(app, metrics, continue_traces=False)
install_problem_openapi(app, settings)


async def _bus_ready() -> None:
    bus: Bus = app.state.bus
    if not bus.is_connected:
        raise ConnectionError("not connected to NATS")
    await bus.js.account_info()


app.include_router(health_router({"nats": _bus_ready}))
app.include_router(api.router)
progress.install(app, settings)
openapi.install(app, settings)
if settings.env == "dev":
    app.include_router(api.dev_router)


@app.get("/api/v1/asyncapi.json", tags=["events"])
async def event_contract() -> dict:
    """The AsyncAPI document of every event, for department back offices."""
    return asyncapi_document()


Language = Annotated[Literal["zh", "en", "both"], Query(description="zh, en, or both side by side")]


@app.get("/api/v1/catalogue", tags=["catalogue 办事指南"])
async def service_catalogue(lang: Language = "zh") -> dict[str, Any]:
    """The service guide (办事指南) of every service item in force today: conditions, materials (which are key
    and which may come later), departments and steps, time limit in working days, fees, channels and legal
    basis. No login needed."""
    return catalogue.public_view(local_today(), lang)


@app.get("/api/v1/catalogue/{item}", tags=["catalogue 办事指南"],
         responses={404: {"description": "no such service item in force today"}})
async def service_guide(item: Annotated[str, Path(max_length=100)], lang: Language = "zh") -> dict[str, Any]:
    """One service item's guide in force today. No login needed."""
    try:
        return catalogue.public_item(item, local_today(), lang)
    except catalogue.UnknownItem as exc:
        raise Problem(404, "Not found", str(exc), code="catalogue_item_unknown") from None


@app.api_route("/api/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def route_to_service(path: str, request: Request) -> Response:
    """Everything else under /api/v1 goes to the service that owns it, once the token checks out."""
    label_route(request.state, route_template(request.url.path))
    owner = owner_of(request.url.path)
    if owner is None:
        return problem_response(Problem(404, "Not found", "no such endpoint", code="not_found"), request)
    if not is_anonymous(request.url.path) and await verified_caller(request) is None:
        try:
            request.state.principal = await app.state.verifier.verify(bearer_token(request))
        except Problem as problem:
            return problem_response(problem, request)
    if request.method == "POST" and request.url.path in upload_paths():
        # An upload is passed on as it arrives (the body-limit middleware counts it), never held whole here.
        return await forward(request, app.state.upstreams, settings.service_url(owner.name), owner.name,
                             request.stream())
    # The body-limit middleware has already read (and bounded) the body.
    return await forward(request, app.state.upstreams, settings.service_url(owner.name), owner.name,
                         await request.body())
