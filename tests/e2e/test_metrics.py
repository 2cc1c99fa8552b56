"""What an operator's Prometheus reads after one enterprise opening through the gateway: ``/metrics`` on the
gateway and on every service, in the text format, without a token."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.registration.handlers import ENTERPRISE_EVENTS_CONSUMER
from services.stack import Stack
from shared import registry
from shared.backoffice import answers_consumer_name
from shared.departments import Department
from shared.events import TASKS_STREAM
from shared.idempotency import REPLAYED_HEADER
from tests.support import Api, dump, eventually, metric_samples, metric_value, registration_body

pytestmark = pytest.mark.e2e


async def scrape(stack: Stack, process: str) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(f"{stack.url_of(process)}/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return resp.text


def series(text: str, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return {key: v for (n, key), v in metric_samples(text).items() if n == name and wanted <= key}


@pytest.mark.timeout(120)
async def test_one_opening_shows_in_the_metrics_of_the_gateway_and_every_service(stack: Stack, api: Api) -> None:
    owner, key, body = "metrics-owner", str(uuid.uuid4()), registration_body()
    submitted = await api.submit(owner, body, key=key)
    assert submitted.status_code == 202, dump(submitted)
    await api.wait_status(owner, f"/api/v1/registrations/{submitted.json()['id']}", {"completed"})
    again = await api.submit(owner, body, key=key)
    assert again.status_code == 202 and again.json()["id"] == submitted.json()["id"]
    assert again.headers[REPLAYED_HEADER] == "true"

    text = await scrape(stack, "registration")
    post = {"service": "registration", "method": "POST", "route": "/api/v1/registrations"}
    assert (metric_value(text, "onestop_http_requests_total", **post, status="202") or 0) >= 2
    assert (metric_value(text, "onestop_http_request_duration_seconds_count", **post) or 0) >= 2
    assert (metric_value(text, "onestop_idempotency_replays_total", service="registration",
                  route="/api/v1/registrations") or 0) >= 1
    assert (metric_value(text, "onestop_applications_by_state", service="registration", state="completed") or 0) >= 1
    # Every department has its series (0 when nothing waits for it), never a raw path or an id as a label.
    for department in Department:
        for name in ("onestop_tasks_open", "onestop_tasks_overdue"):
            assert metric_value(text, name, service="registration", department=department.value) is not None
    assert submitted.json()["id"] not in text
    assert metric_value(text, "onestop_consumer_pending_messages", service="registration", stream="DEREGISTRATION",
                 consumer=ENTERPRISE_EVENTS_CONSUMER) is not None

    for spec in registry.services().values():
        service = spec.name

        async def drained(service: str = service) -> str | None:
            scraped = await scrape(stack, service)
            return scraped if metric_value(scraped, "onestop_outbox_unsent_events", service=service) == 0 else None

        text = await eventually(drained, timeout=30, what=f"{service}'s outbox to drain")
        assert metric_value(text, "onestop_outbox_oldest_unsent_age_seconds", service=service) == 0
        assert metric_value(text, "onestop_outbox_dead_letters", service=service) == 0
        assert metric_value(text, "onestop_bus_connected", service=service) == 1
        answers = {"service": service, "stream": TASKS_STREAM, "consumer": answers_consumer_name(service)}
        for name in ("onestop_consumer_pending_messages", "onestop_consumer_ack_pending_messages",
                     "onestop_consumer_redelivered_messages"):
            # A service no department answers (the materials store) runs no answers consumer.
            assert (metric_value(text, name, **answers) is not None) == spec.has_departments, (service, name)
        assert all(v >= 0 for v in series(text, "onestop_consumer_pending_messages").values())
        assert series(text, "onestop_metrics_probe_up", service=service)
        assert all(v == 1 for v in series(text, "onestop_metrics_probe_up", service=service).values()), service
        assert "# TYPE onestop_bus_events_refused_total counter" in text

    gateway = await scrape(stack, "gateway")
    # The gateway passes every call under /api/v1 it does not answer itself on through one route, and labels
    # each by the template it stands for (ids as {id}), never by its raw path.
    proxied = series(gateway, "onestop_http_requests_total", service="gateway", method="POST",
                     route="/api/v1/registrations", status="202")
    assert sum(proxied.values()) >= 2
    assert metric_value(gateway, "onestop_bus_connected", service="gateway") == 1
    assert "# TYPE onestop_rate_limit_refusals_total counter" in gateway
    assert not series(gateway, "onestop_idempotency_replays_total")  # counted once, by the service

