"""A throwaway service declared inside the test suite, to show that a new service is its rules, its table
and one registry entry: ``ONESTOP_SERVICE_MODULES=tests.kit_service`` makes every process of a stack see it."""

from __future__ import annotations

from shared.registry import ServiceSpec, register

SPEC = register(ServiceSpec(
    name="kitdemo",
    port=8091,
    title="Kit demonstration service",
    public_prefixes=("/api/v1/kit-demos",),
    application_paths=("/api/v1/kit-demos",),
    package="tests.kit_service",
))
