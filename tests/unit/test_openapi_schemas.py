"""The services' OpenAPI documents merge at the gateway without a schema defined two ways (a new service
reusing a model name for another shape would otherwise answer 500 at /openapi.json)."""

from __future__ import annotations

import importlib

import pytest

from services.gateway.openapi import merge
from shared import registry
from shared.settings import get_settings


def test_the_services_documents_merge_without_conflict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_ENV", "dev")  # the apps refuse to be built with production defaults
    get_settings.cache_clear()
    gateway = importlib.import_module("services.gateway.app").app.openapi()
    documents = [(spec, importlib.import_module(spec.app_path.split(":")[0]).app.openapi())
                 for spec in registry.services().values()]
    merged = merge(gateway, documents)
    for spec in registry.services().values():
        for prefix in spec.public_prefixes:
            assert any(path == prefix or path.startswith(prefix + "/") for path in merged["paths"]), prefix
    get_settings.cache_clear()


def test_every_status_a_service_declares_fits_the_status_column() -> None:
    """Application statuses are stored in a 20-character column (PostgreSQL refuses longer ones)."""
    import services.deregistration.domain
    import services.realestate.domain
    import services.registration.domain
    import services.utilities.domain

    for module in (services.registration.domain, services.deregistration.domain, services.utilities.domain,
                   services.realestate.domain):
        statuses = [getattr(module.Status, k) for k in dir(module.Status)
                    if not k.startswith("_") and isinstance(getattr(module.Status, k), str)]
        assert statuses and all(len(s) <= 20 for s in statuses), (module.__name__, statuses)


def test_a_route_that_opens_the_database_declares_its_503(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``test_database_unavailable`` shows answered (503 database_unavailable, Retry-After) is in the
    document of every service route that opens the database, and not of one that does not."""
    monkeypatch.setenv("ONESTOP_ENV", "dev")
    get_settings.cache_clear()
    document = importlib.import_module("services.registration.app").app.openapi()
    for path, method in (("/api/v1/registrations/{application_id}", "get"), ("/api/v1/registrations", "get")):
        answers = document["paths"][path][method]["responses"]
        assert "database" in answers["503"]["description"], path
        assert "Retry-After" in answers["503"]["headers"], path
    health = document["paths"]["/healthz"]["get"]["responses"]
    assert "503" not in health
    get_settings.cache_clear()
