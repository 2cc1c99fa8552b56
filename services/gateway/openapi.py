"""The public API's one OpenAPI document: the gateway's own routes plus, for every service in the registry,
the routes under its public prefixes, gathered from the services when asked (a service that does not answer
is named in the description). Two documents that define one schema name two ways are an error, not a choice.
Every operation declares the problem+json answers it can give: its own (``shared.web.problem_openapi``, in the
gateway and in each service) and the gateway's (``declare_gateway_problems``)."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Iterable
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from services.gateway.proxy import UpstreamBusy, Upstreams
from shared import registry
from shared.problems import Problem, problem_response
from shared.registry import ServiceSpec
from shared.settings import Settings
from shared.web import add_problem_components, declare_problems, operations

log = logging.getLogger("onestop.gateway.openapi")
OPENAPI_PATH = "/openapi.json"


class SchemaConflict(Exception):
    """Two documents define a component schema of the same name with different content."""

    def __init__(self, name: str, first: str, second: str) -> None:
        super().__init__(f"component schema {name!r} is defined differently by {first} and {second}")
        self.name = name
        self.first = first
        self.second = second


def _under(path: str, prefix: str) -> bool:
    # A prefix owns itself and what is below it, not a longer name that merely starts the same way.
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


async def _service_document(upstreams: Upstreams, base_url: str) -> dict[str, Any] | None:
    try:
        async with upstreams.lend(base_url) as client:
            resp = await client.get(base_url + OPENAPI_PATH, timeout=3.0)
        return resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, UpstreamBusy, ValueError):
        return None


def merge(gateway: dict[str, Any], documents: Iterable[tuple[ServiceSpec, dict[str, Any] | None]]) -> dict[str, Any]:
    """The gateway's document plus each service's paths under its own public prefixes and its schemas.

    A service whose document is None (it did not answer) is named in the description. A schema defined by
    two documents must be the same in both; otherwise ``SchemaConflict`` names it and both documents.
    """
    document = copy.deepcopy(gateway)  # the gateway's own document is cached by FastAPI: never change it
    paths = document.setdefault("paths", {})
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    defined_by = dict.fromkeys(schemas, registry.GATEWAY)
    missing = []
    for spec, doc in documents:
        if doc is None:
            missing.append(spec.name)
            continue
        for path, item in doc.get("paths", {}).items():
            # The gateway answers some paths itself (e.g. the views gathered from every service): its own win.
            if any(_under(path, prefix) for prefix in spec.public_prefixes) and path not in paths:
                paths[path] = item
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            if name not in schemas:
                schemas[name] = schema
                defined_by[name] = spec.name
            elif schemas[name] != schema:
                raise SchemaConflict(name, defined_by[name], spec.name)
    if missing:
        info = document.setdefault("info", {})
        info["description"] = (info.get("description", "")
                               + f"\n\n*Not shown now (not answering): {', '.join(missing)}.*")
    return document


def declare_gateway_problems(document: dict[str, Any], forwarded: set[str], settings: Settings) -> None:
    """What the gateway answers itself on top of what each operation declares: 400 for a malformed path or
    two Authorization headers (everywhere), 429 under /api (rate limits), and for the paths it forwards 503
    and 504 (the service is down or slow) and 413 on bodies."""
    for path, _method, operation in operations(document):
        reasons: dict[int, list[str]] = {
            400: ["a dot segment, an encoded slash or backslash or an empty segment in the path",
                  "two Authorization headers"]}
        if path.startswith("/api/"):
            reasons[429] = ["over the caller's rate limit"]
        if path in forwarded:
            reasons[503] = ["the service that owns the path does not answer"]
            reasons[504] = [f"the service that owns the path did not answer in {settings.upstream_timeout_seconds:g} s"]
            if "requestBody" in operation:
                upload = path in registry.upload_paths()
                reasons[413] = [f"the body is over {settings.max_upload_bytes if upload else settings.max_body_bytes}"
                                " bytes"]
        declare_problems(operation, reasons)
    add_problem_components(document)


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the merged document at ``/openapi.json`` and Swagger UI at ``/docs``.

    The app must be created with ``openapi_url=None, docs_url=None`` so these routes are the ones served.
    """

    @app.get(OPENAPI_PATH, include_in_schema=False)
    async def openapi_document(request: Request) -> JSONResponse:
        upstreams: Upstreams = request.app.state.upstreams
        specs = [s for s in registry.services().values() if s.public_prefixes]
        docs = await asyncio.gather(*(_service_document(upstreams, settings.service_url(s.name)) for s in specs))
        own = app.openapi()
        try:
            document = merge(own, zip(specs, docs, strict=True))
        except SchemaConflict as conflict:
            # A release that broke the public contract: loud in the logs, plain to whoever reads the docs.
            log.error("public OpenAPI document not merged", extra={"schema": conflict.name,
                                                                    "services": [conflict.first, conflict.second]})
            return problem_response(Problem(500, "OpenAPI documents conflict", str(conflict),
                                            code="openapi_schema_conflict", schema=conflict.name,
                                            services=[conflict.first, conflict.second]), request)
        declare_gateway_problems(document, set(document["paths"]) - set(own.get("paths", {})), settings)
        return JSONResponse(document)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=OPENAPI_PATH, title=app.title)
