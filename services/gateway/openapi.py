"""The public API's one OpenAPI document: the gateway's own routes plus each service's ``/api/v1`` routes,
gathered from the services when asked (a service that does not answer is named in the description)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from services.gateway.routing import ROUTES
from shared.settings import Settings

OPENAPI_PATH = "/openapi.json"


async def _service_document(client: httpx.AsyncClient, base_url: str) -> dict[str, Any] | None:
    try:
        resp = await client.get(base_url + OPENAPI_PATH, timeout=3.0)
    except httpx.HTTPError:
        return None
    return resp.json() if resp.status_code == 200 else None


def merge(gateway: dict[str, Any], services: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """Add each service's public paths (those the gateway routes to it) and their schemas to the gateway's
    document; services that did not answer are listed in the description."""
    document = copy.deepcopy(gateway)  # the gateway's own document is cached by FastAPI: never change it
    document.setdefault("paths", {})
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    missing = []
    for service, doc in services.items():
        if doc is None:
            missing.append(service)
            continue
        prefixes = tuple(prefix for prefix, owner in ROUTES.items() if owner == service)
        for path, item in doc.get("paths", {}).items():
            if path.startswith(prefixes) and path not in document["paths"]:
                document["paths"][path] = item
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            schemas.setdefault(name, schema)
    if missing:
        document["info"] = {**document["info"], "description": document["info"].get("description", "")
                            + f"\n\n*Not shown now (not answering): {', '.join(missing)}.*"}
    return document


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the merged document at ``/openapi.json`` and Swagger UI at ``/docs``.

    The app must be created with ``openapi_url=None, docs_url=None`` so these routes are the ones served.
    """

    @app.get(OPENAPI_PATH, include_in_schema=False)
    async def openapi_document(request: Request) -> JSONResponse:
        own = app.openapi()
        client: httpx.AsyncClient = request.app.state.client
        services = sorted(set(ROUTES.values()))
        docs = await asyncio.gather(*(_service_document(client, settings.service_url(s)) for s in services))
        return JSONResponse(merge(own, dict(zip(services, docs, strict=True))))

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=OPENAPI_PATH, title=app.title)
