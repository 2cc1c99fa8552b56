"""What every FastAPI app shares: request ids, the access log, problem+json errors, health checks, the body
limit, and an OpenAPI document that declares every problem+json answer an operation can give."""

from __future__ import annotations

import contextlib
import enum
import http
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import fastapi.routing
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import registry, tracing
from shared.auth import current_principal, require_admin, require_supervisor
from shared.departments import Department
from shared.idempotency import KEY_HEADER
from shared.metrics import ROUTE_LABEL, Metrics, install_metrics
from shared.problems import PROBLEM_JSON, Problem, install_problem_handlers, problem_response
from shared.requestid import REQUEST_ID_HEADER, accept_request_id, request_id_var
from shared.settings import Settings, get_settings

access_log = logging.getLogger("onestop.access")


@dataclass(frozen=True)
class CheckReading:
    """What a readiness check found when it has more to say than "ok" or a warning: whether the process may
    take work, a note (a warning when ready, the reason when not), and figures for operators (``details``)."""

    ready: bool = True
    note: str | None = None
    detail: Mapping[str, Any] | None = None


# A readiness check raises when its dependency does not answer (the process is then unready), returns a
# string to report a warning that leaves the process ready (e.g. provisional due dates), None for "ok", or a
# ``CheckReading``.
ReadinessCheck = Callable[[], Awaitable[str | CheckReading | None]]
# A body refused for its size is still read (and dropped) up to this many times the limit.
DRAIN_FACTOR = 8
# FastAPI's own OpenTelemetry switched off in every app (``FastAPI(telemetry=...)``): the request spans are
# ours (RequestContextMiddleware), which start the trace at the gateway whatever a client sends and name a
# forwarded request by its template; FastAPI's would add a second SERVER span per request and its spans
# for dependencies and endpoints between the gateway's span and the service's.
FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "operation_spans": False, "metrics": False, "logs": False}
# What an upload's multipart framing (boundaries, part headers, a few small fields) may add to the file.
UPLOAD_OVERHEAD_BYTES = 64 * 1024


class RequestContextMiddleware:
    """Takes ``X-Request-ID`` in (or makes one), returns it, and writes one access-log line per request; with
    traces on, the request is a SERVER span, continuing the caller's ``traceparent`` when ``continue_traces``
    (a service behind the gateway) or starting a trace (the gateway: a client does not choose our traces)."""

    def __init__(self, app: ASGIApp, continue_traces: bool = True) -> None:
        self.app = app
        self.continue_traces = continue_traces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = accept_request_id(headers.get(REQUEST_ID_HEADER.lower()))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        span = None
        if tracing.enabled():
            span = tracing.server_span(scope["method"], tracing.extract(headers) if self.continue_traces else None)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((REQUEST_ID_HEADER.encode(), request_id.encode()))
            await send(message)

        try:
            with tracing.activated(span) if span is not None else contextlib.nullcontext():
                await self.app(scope, receive, send_with_id)
        finally:
            state = scope.get("state") or {}
            principal = state.get("principal")
            # The route's template keeps ids out of what dashboards group by; the path is kept beside it. A
            # route that serves many paths (the gateway's forwarding) names the template it stands for.
            route = state.get(ROUTE_LABEL) or getattr(scope.get("route"), "path", None)
            if span is not None:
                tracing.finish_server_span(span, scope["method"], route, scope["path"], status)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route or scope["path"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "caller": getattr(principal, "sub", None),
                },
            )
            request_id_var.reset(token)


def label_route(state: Any, template: str) -> None:
    """Name the route template a request stands for, for the access log and the trace, when the matched
    route is a catch-all (``request.state`` is the ``state`` to pass)."""
    setattr(state, ROUTE_LABEL, template)


def body_too_large(max_bytes: int) -> Problem:
    return Problem(413, "Request too large", f"the body may be at most {max_bytes} bytes", code="body_too_large")


class BodyLimitMiddleware:
    """Refuses a body over ``max_bytes`` with 413: at once by its Content-Length, or while reading a chunked
    body, which it holds (at most ``max_bytes``) and then hands on to the app unchanged.

    A POST to one of ``uploads`` (the registry's upload paths) may carry up to ``max_upload_bytes`` plus its
    multipart framing; it is not held but passed on as it arrives, counted, and a body that turns out larger
    than declared or allowed raises a 413 ``Problem`` in whoever reads it (the route, or the gateway's forward).

    The gateway and every service (``shared.service.create_service_app``) install it with the same
    ``ONESTOP_MAX_BODY_BYTES``, inside the request-context middleware so a 413 carries its request id."""

    def __init__(self, app: ASGIApp, max_bytes: int, *, uploads: Collection[str] = (),
                 max_upload_bytes: int = 0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = frozenset(uploads)
        self.max_upload_bytes = max_upload_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, read: int, more: bool,
                      limit: int | None = None) -> None:
        limit = limit or self.max_bytes
        # Most clients only read an answer once they have sent their body: read on (and drop) up to a
        # bound so they see the 413, and beyond it just answer and close.
        while more and read <= DRAIN_FACTOR * limit:
            message = await receive()
            if message["type"] != "http.request":
                return
            read += len(message.get("body", b""))
            more = message.get("more_body", False)
        problem = body_too_large(limit)
        response = JSONResponse(problem.body(scope.get("path")), status_code=413, media_type=PROBLEM_JSON,
                                headers={"connection": "close"})
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if scope["method"] == "POST" and scope["path"] in self.uploads:
            await self._stream(scope, receive, send, declared)
            return
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send, read=0,
                               more=declared.isdigit() and int(declared) <= DRAIN_FACTOR * self.max_bytes)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app sees it on its first receive
            body.extend(message.get("body", b""))
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send, read=len(body), more=message.get("more_body", False))
                return
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": bytes(body), "more_body": False}
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, declared: bytes | None) -> None:
        limit = self.max_upload_bytes + UPLOAD_OVERHEAD_BYTES
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, read=0, limit=self.max_upload_bytes,
                               more=declared.isdigit() and int(declared) <= DRAIN_FACTOR * limit)
            return
        read = 0

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise body_too_large(self.max_upload_bytes)
            return message

        await self.app(scope, counted, send)


class Readiness(BaseModel):
    """Whether every dependency answers, and what each said: ``ok``, ``warning: ...`` (still ready) or
    ``unavailable: ...``; ``details`` (only when a check has figures) by check, e.g. the outbox backlog."""

    status: str
    checks: dict[str, str]
    details: dict[str, dict[str, Any]] | None = None


def health_router(checks: dict[str, ReadinessCheck]) -> APIRouter:
    """``/healthz`` (the process runs) and ``/readyz`` (every dependency really answers).

    A check that raises makes ``/readyz`` answer 503; one that returns a string is reported as
    ``warning: <string>`` in the body and leaves the process ready.
    """
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", response_model=Readiness,
                responses={503: {"model": Readiness, "description": "A dependency does not answer (named in checks)"}})
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        details: dict[str, dict[str, Any]] = {}
        ready = True
        for name, check in checks.items():
            try:
                found = await check()
            except Exception as exc:
                results[name] = f"unavailable: {exc.__class__.__name__}"
                ready = False
                continue
            reading = found if isinstance(found, CheckReading) else CheckReading(note=found)
            if reading.detail is not None:
                details[name] = dict(reading.detail)
            if not reading.ready:
                results[name] = f"unavailable: {reading.note or 'not ready'}"
                ready = False
            else:
                # A warning is for operators to see; taking the process out of rotation would not help it.
                results[name] = "ok" if reading.note is None else f"warning: {reading.note}"
        body = Readiness(status="ready" if ready else "unavailable", checks=results, details=details or None)
        # Without figures the body is what it always was: {status, checks}.
        return JSONResponse(body.model_dump(mode="json", exclude={"details"} if body.details is None else None),
                            status_code=200 if ready else 503)

    return router


def install_common(app: FastAPI, metrics: Metrics | None = None, *, continue_traces: bool = True) -> None:
    """Problem handlers and the request-context middleware (``continue_traces``: see
    ``RequestContextMiddleware``); with ``metrics``, the request metrics (outermost, so what the other
    middleware refuse is counted) and ``GET /metrics``."""
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, continue_traces=continue_traces)
    if metrics is not None:
        install_metrics(app, metrics)


# --- The OpenAPI document: every problem+json answer declared ---------------------------------------------

PROBLEM_REF = "#/components/schemas/Problem"
PROBLEM_SCHEMAS: dict[str, dict[str, Any]] = {
    "FieldProblem": {
        "title": "FieldProblem",
        "description": "One thing wrong with a request, in both languages.",
        "type": "object",
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    "description": "Where: the path to the field (body fields without `body`)"},
            "code": {"type": "string"},
            "message_zh": {"type": "string"},
            "message_en": {"type": "string"},
        },
        "required": ["loc", "code", "message_zh", "message_en"],
    },
    "Problem": {
        "title": "Problem",
        "description": "An error (RFC 9457 problem details). A validation failure lists every problem in "
                       "`errors`; some problems add members of their own (e.g. `service`, `limit_per_minute`).",
        "type": "object",
        "properties": {
            "type": {"type": "string", "description": "A URI naming the kind of problem"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "code": {"type": "string", "description": "Stable, for clients to act on"},
            "instance": {"type": "string", "description": "The request path"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldProblem"}},
            "request_id": {"type": "string", "description": "The X-Request-ID of the request, as logged"},
        },
        "required": ["type", "title", "status", "request_id"],
    },
}
SECURITY_SCHEME = "bearer"
# What FastAPI writes when a route names a status without a description of its own.
_GENERATED = {"Validation Error", "Additional Response", *http.client.responses.values()}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again",
                               "schema": {"type": "integer", "minimum": 0}}}


def is_problem_status(status: str) -> bool:
    return status[:1] in ("4", "5")


def _problem_content(response: dict[str, Any]) -> bool:
    """Whether a declared error answer is to be problem+json: it has no content of its own, or only
    FastAPI's default validation-error body (which this API never sends)."""
    content = response.get("content")
    if not content:
        return True
    schemas = [media.get("schema", {}).get("$ref", "") for media in content.values()]
    return all(ref.endswith("/HTTPValidationError") or ref == PROBLEM_REF for ref in schemas)


def declare_problems(operation: dict[str, Any], reasons: Mapping[int, Iterable[str]], *,
                     keep_declared: bool = False) -> None:
    """Add ``reasons`` (status → why) to an operation's responses and make each error answer it declares
    problem+json. ``keep_declared`` leaves the description of a status the route declared itself alone."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, texts in sorted(reasons.items()):
        key = str(status)
        response = responses.setdefault(key, {})
        description = response.get("description") or ""
        own = bool(description) and description not in _GENERATED
        if own and keep_declared:
            continue
        if not own:
            description = ""
        for text in texts:
            if text.lower() not in description.lower():
                description = f"{description}; {text}" if description else text
        response["description"] = (description[:1].upper() + description[1:]) or http.HTTPStatus(status).phrase
        if status in (429, 503):
            response.setdefault("headers", {}).update(RETRY_AFTER)
    for key, response in responses.items():
        if is_problem_status(key) and _problem_content(response):
            response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}


def add_problem_components(document: dict[str, Any]) -> None:
    """The Problem schemas and the bearer scheme; FastAPI's validation-error schemas once nothing uses them."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(PROBLEM_SCHEMAS)
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A token of the identity provider (or, in dev, of POST /api/v1/auth/dev-token)"}
    for name in ("HTTPValidationError", "ValidationError"):  # the first is all that refers to the second
        if f"#/components/schemas/{name}\"" not in json.dumps(document):
            schemas.pop(name, None)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of every operation of a document."""
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
                yield path, method, operation


# Dependencies that open the service's database: a route that uses one may answer 503 database_unavailable
# (shared.problems) when the database refuses or drops a connection, and its document says so.
DATABASE_DEPENDENCIES: set[Callable[..., Any]] = set()
D = TypeVar("D")


def uses_database(dependency: Callable[..., D]) -> Callable[..., D]:
    """Mark a FastAPI dependency as one that opens the service's database (see ``DATABASE_DEPENDENCIES``)."""
    DATABASE_DEPENDENCIES.add(dependency)
    return dependency


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _annotation(field: Any) -> Any:
    return getattr(getattr(field, "field_info", None), "annotation", None)


def _is_department(field: Any) -> bool:
    annotation = _annotation(field)
    return isinstance(annotation, type) and issubclass(annotation, Department)


def _names_an_object(field: Any) -> bool:
    """A path parameter that names something to look up (an id, a code), not one of a fixed set (an enum:
    any other value is 422)."""
    annotation = _annotation(field)
    return not (isinstance(annotation, type) and issubclass(annotation, enum.Enum))


def api_routes(app: FastAPI) -> Iterator[Any]:
    """The app's API routes as FastAPI documents them: with FastAPI's included routers resolved (their
    prefixes and dependencies applied), where this FastAPI resolves them lazily."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:
        yield from (route for route in app.routes if isinstance(route, APIRoute))
        return
    for context in contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def route_problems(route: Any, operation: dict[str, Any], settings: Settings) -> dict[int, list[str]]:
    """The problem+json answers an operation can give, from what its route depends on and takes."""
    calls = set(_calls(route.dependant))
    parameters = operation.get("parameters", [])
    reasons: dict[int, list[str]] = {}

    def add(status: int, why: str) -> None:
        reasons.setdefault(status, []).append(why)

    token = current_principal in calls
    if token:
        add(400, "two Authorization headers")
        add(401, "no bearer token, or one that is malformed, expired, not yet valid, or not ours")
        operation["security"] = [{SECURITY_SCHEME: []}]
        if settings.jwks_url:
            add(503, "the identity provider's signing keys cannot be fetched")
    if require_admin in calls:
        add(403, "the caller is not an administrator")
    if require_supervisor in calls:
        add(403, "the caller is not a supervisor")
    if any(_is_department(p) for p in route.dependant.path_params):
        add(403, "the caller is not an officer of that department")
    if any(_names_an_object(p) for p in route.dependant.path_params):
        add(404, "no such object, or not one the caller may see")
    if any(p.get("in") == "header" and p.get("name", "").lower() == KEY_HEADER.lower() for p in parameters):
        add(400, "no Idempotency-Key, or one over 200 characters")
        add(409, "a request with this Idempotency-Key is still being processed (retry shortly)")
        add(422, "this Idempotency-Key came with another body")
        if token:
            add(403, "the caller's role does not create this (e.g. officers and administrators do not submit)")
    if calls & DATABASE_DEPENDENCIES:
        add(503, "the database is busy or unreachable (try again after Retry-After)")
    if "requestBody" in operation:
        limit = settings.max_upload_bytes if route.path_format in registry.upload_paths() else settings.max_body_bytes
        add(413, f"the body is over {limit} bytes")
    if parameters or "requestBody" in operation or "422" in operation.get("responses", {}):
        add(422, "invalid parameters or body: every problem is listed in `errors`")
    return reasons


def _required_idempotency_key(operation: dict[str, Any]) -> None:
    # A creating POST refuses a request without the key (400): the document says it is required.
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter.get("name", "").lower() == KEY_HEADER.lower():
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "minLength": 1, "maxLength": 200,
                                   "description": parameter.get("description", "")}


def problem_openapi(app: FastAPI, settings: Settings | None = None) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` with every operation's problem+json answers declared (``route_problems``), the
    ``Problem`` schema, and the bearer scheme on the operations that need a token."""
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        # FastAPI's own document, cached on the app (made again when the routes change): completed once each.
        document = FastAPI.openapi(app)
        if completed and completed[0] is document:
            return document
        completed[:] = [document]
        paths = document.get("paths", {})
        for route in api_routes(app):
            if not route.include_in_schema:
                continue
            for method in route.methods or ():
                operation = paths.get(route.path_format, {}).get(method.lower())
                if operation is not None:
                    _required_idempotency_key(operation)
                    declare_problems(operation, route_problems(route, operation, settings or get_settings()),
                                     keep_declared=True)
        add_problem_components(document)
        return document

    return openapi


def install_problem_openapi(app: FastAPI, settings: Settings | None = None) -> None:
    """Serve the document of ``problem_openapi`` as the app's OpenAPI document."""
    app.openapi = problem_openapi(app, settings)  # type: ignore[method-assign]


__all__ = ["BodyLimitMiddleware", "CheckReading", "Problem", "ReadinessCheck", "body_too_large", "declare_problems",
           "health_router", "install_common", "install_problem_openapi", "problem_response"]
