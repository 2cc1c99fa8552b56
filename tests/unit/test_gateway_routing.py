"""What the gateway derives from the registry: where a path goes, and when a progress stream ends."""

from __future__ import annotations

from services.gateway.progress import progress_event
from services.gateway.proxy import forward_headers, route_template
from shared import registry
from shared.events import CloudEvent
from shared.registry import ServiceSpec

WIDGETS = ServiceSpec(name="widgets", port=18901, title="Widgets", public_prefixes=("/api/v1/widgets",),
                      application_paths=("/api/v1/widgets",), final_statuses=frozenset({"shipped"}))


def ends_at(spec: ServiceSpec, status: str) -> bool:
    """Whether an application of ``spec`` reaching ``status`` is the last event of its progress stream."""
    event = CloudEvent(source=f"/onestop/{spec.name}", subject="app-1",
                       type=f"cn.gov.jiangmen.onestop.{spec.name}.application.{status}",
                       data={"application_id": "app-1", "status": status})
    progress = progress_event(spec, event)
    assert progress is not None and progress.status == status
    return progress.final


def test_a_progress_stream_ends_at_a_final_status_of_its_own_service() -> None:
    assert ends_at(WIDGETS, "shipped") and not ends_at(WIDGETS, "completed")
    deregistration, registration = registry.service("deregistration"), registry.service("registration")
    assert ends_at(deregistration, "objected") and ends_at(deregistration, "rejected")
    assert ends_at(registration, "completed") and not ends_at(registration, "objected")
    assert not ends_at(registration, "in_progress")


def test_every_public_prefix_of_the_registry_is_routed_to_its_service() -> None:
    for spec in registry.services().values():
        for prefix in spec.public_prefixes:
            assert registry.owner_of(prefix) == spec
            assert registry.owner_of(prefix.rstrip("/") + "/some-id") == spec
    assert registry.owner_of("/api/v1/applications") is None  # answered by the gateway itself
    assert registry.is_anonymous("/api/v1/licenses/ABC123") and not registry.is_anonymous("/api/v1/registrations")


def test_a_forwarded_path_is_named_by_its_template() -> None:
    assert route_template("/api/v1/registrations") == "/api/v1/registrations"
    assert route_template("/api/v1/registrations/6f1c9a52-3b0e-4c1e-9d7a-1a2b3c4d5e6f/supplements") == \
        "/api/v1/registrations/{id}/supplements"
    assert route_template("/api/v1/licenses/91440703MA4W0X1Y2Z") == "/api/v1/licenses/{id}"
    assert route_template("/api/v1/titles/440703001001GB00001F0001") == "/api/v1/titles/{id}"


def test_a_clients_trace_context_is_not_passed_on() -> None:
    # The gateway's own span starts the trace; what a client claims as its parent stays outside.
    kept = forward_headers({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01", "tracestate": "k=v",
                            "accept": "application/json"})
    assert kept == {"accept": "application/json"}
