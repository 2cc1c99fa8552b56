"""The gateway's one OpenAPI document: each service's own public paths, schemas merged only when they agree."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import create_model

from services.gateway.openapi import SchemaConflict, install, merge
from services.gateway.proxy import Upstreams
from shared import registry
from shared.registry import ServiceSpec
from shared.settings import Settings

WIDGETS = ServiceSpec(name="widgets", port=18901, title="Widgets", public_prefixes=("/api/v1/widgets",))
GADGETS = ServiceSpec(name="gadgets", port=18902, title="Gadgets", public_prefixes=("/api/v1/gadgets",))
ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}}


def document(paths: list[str], schemas: dict[str, Any] | None = None, **info: str) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1", **info},
            "paths": {p: {"get": {"summary": p}} for p in paths}, "components": {"schemas": schemas or {}}}


def test_identical_duplicate_schemas_merge_once() -> None:
    gateway = document(["/api/v1/applications"], {"Error": ERROR})
    merged = merge(gateway, [(WIDGETS, document(["/api/v1/widgets"], {"Error": dict(ERROR), "Widget": {}})),
                             (GADGETS, document(["/api/v1/gadgets"], {"Error": dict(ERROR), "Widget": {}}))])
    assert merged["components"]["schemas"] == {"Error": ERROR, "Widget": {}}
    assert set(merged["paths"]) == {"/api/v1/applications", "/api/v1/widgets", "/api/v1/gadgets"}
    assert gateway["paths"].keys() == {"/api/v1/applications"}  # the gateway's cached document is left alone


def test_a_schema_defined_two_ways_is_a_conflict_naming_both_documents() -> None:
    other = {"type": "object", "properties": {"code": {"type": "integer"}}}
    with pytest.raises(SchemaConflict) as between_services:
        merge(document([]), [(WIDGETS, document([], {"Error": ERROR})), (GADGETS, document([], {"Error": other}))])
    assert (between_services.value.name, between_services.value.first, between_services.value.second) == \
        ("Error", "widgets", "gadgets")
    assert "'Error'" in str(between_services.value) and "widgets" in str(between_services.value) \
        and "gadgets" in str(between_services.value)
    with pytest.raises(SchemaConflict) as with_gateway:
        merge(document([], {"Error": ERROR}), [(GADGETS, document([], {"Error": other}))])
    assert (with_gateway.value.first, with_gateway.value.second) == (registry.GATEWAY, "gadgets")


def test_a_service_not_answering_is_named_in_the_description() -> None:
    merged = merge(document([], description="The API."), [(WIDGETS, None), (GADGETS, document(["/api/v1/gadgets"]))])
    description = merged["info"]["description"]
    assert description.startswith("The API.") and "not answering" in description
    assert "widgets" in description and "gadgets" not in description
    assert "Not shown" not in merge(document([]), [(GADGETS, document([]))])["info"].get("description", "")


def test_only_a_services_own_public_prefixes_are_taken() -> None:
    gateway = document(["/api/v1/widgets/summary"])
    service = document(["/api/v1/widgets", "/api/v1/widgets/{widget_id}", "/api/v1/widgets/summary",
                        "/api/v1/widgetsmiths", "/api/v1/gadgets", "/api/v1/departments/{code}/tasks", "/healthz"])
    merged = merge(gateway, [(WIDGETS, service)])
    assert set(merged["paths"]) == {"/api/v1/widgets", "/api/v1/widgets/{widget_id}", "/api/v1/widgets/summary"}
    # A path the gateway answers itself stays the gateway's.
    assert merged["paths"]["/api/v1/widgets/summary"] == gateway["paths"]["/api/v1/widgets/summary"]


def service_app(spec: ServiceSpec, field: str) -> FastAPI:
    """A real service-like app with one public route whose ``Thing`` schema has the field ``field``."""
    thing = create_model("Thing", **{field: (int, ...)})
    app = FastAPI(title=spec.title)

    @app.get(spec.public_prefixes[0], response_model=thing)
    async def one() -> Any:
        return {field: 1}

    return app


async def openapi_of(apps: dict[str, FastAPI]) -> httpx.Response:
    """The gateway's ``/openapi.json`` with the registry's services answered in process by ``apps``."""
    settings = Settings()
    gateway = FastAPI(title="gateway", openapi_url=None, docs_url=None)
    install(gateway, settings)
    mounts = {settings.service_url(name): httpx.ASGITransport(app) for name, app in apps.items()}
    upstreams = Upstreams(lambda: httpx.AsyncClient(mounts=mounts))
    gateway.state.upstreams = upstreams
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(gateway), base_url="http://gw") as http:
            return await http.get("/openapi.json")
    finally:
        await upstreams.aclose()


async def test_the_document_route_merges_or_answers_a_conflict_as_a_logged_500(
        caplog: pytest.LogCaptureFixture) -> None:
    specs = [s for s in registry.services().values() if s.public_prefixes]
    assert len(specs) >= 2
    agreeing = await openapi_of({s.name: service_app(s, "value") for s in specs})
    assert agreeing.status_code == 200
    doc = agreeing.json()
    assert all(s.public_prefixes[0] in doc["paths"] for s in specs)
    assert "Thing" in doc["components"]["schemas"]

    first, second = specs[0], specs[1]
    with caplog.at_level(logging.ERROR, logger="onestop.gateway.openapi"):
        conflicting = await openapi_of({first.name: service_app(first, "value"),
                                        second.name: service_app(second, "count")})
    assert conflicting.status_code == 500
    assert conflicting.headers["content-type"].startswith("application/problem+json")
    problem = conflicting.json()
    assert problem["status"] == 500 and problem["code"] == "openapi_schema_conflict"
    assert "Thing" in problem["detail"] and first.name in problem["detail"] and second.name in problem["detail"]
    assert any(r.levelno == logging.ERROR and getattr(r, "schema", None) == "Thing" for r in caplog.records)
