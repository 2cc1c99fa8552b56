"""Honest readiness against a real nats-server and database: a service whose events cannot leave (the broker
is down and they have waited past the threshold) answers 503 from /readyz, and 200 again once the broker is
back and the outbox drained; its /metrics show the same backlog."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.registration.handlers import FLOW
from services.registration.models import RegistrationApplication
from shared import service
from shared.backoffice import answers_consumer_name, task_answers_consumer
from shared.db import migrate_async
from shared.events import TaskOverdue, make_event
from shared.settings import Settings
from tests.support import Databases, NatsServer, eventually, metric_value

# Short, so the test need not wait the production default of 30 s.
STALL_SECONDS = 1.0


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A broker of this test's own: it is stopped and started again."""
    with NatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
async def registration(broker: NatsServer, databases: Databases,
                       monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The registration service's process in this test's loop: its database, its consumer of department
    answers, its relay, its /readyz and /metrics."""
    url = databases.new("readiness")
    await migrate_async("registration", url)
    monkeypatch.setattr(service, "configure_logging", lambda *args, **kwargs: None)
    settings = Settings(env="dev", service="registration", database_url=url, nats_url=broker.url,
                        nats_credentials_dir=broker.credentials, outbox_stall_seconds=STALL_SECONDS,
                        relay_idle_seconds=0.1, sweep_interval_seconds=0.5)
    app = service.create_service_app(
        title="registration", routers=[], settings=settings, applications=RegistrationApplication,
        consumers=lambda runtime: [task_answers_consumer(runtime, FLOW.apply_decision)])
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://registration") as client:
        yield app, client


async def readiness(client: httpx.AsyncClient, status: int) -> dict[str, Any] | None:
    resp = await client.get("/readyz")
    return resp.json() if resp.status_code == status else None


@pytest.mark.timeout(90)
async def test_readiness_is_false_while_the_outbox_cannot_drain(
        broker: NatsServer, registration: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = registration
    consumer = answers_consumer_name("registration")

    ready = await eventually(lambda: readiness(client, 200), timeout=30, what="the service to be ready")
    assert ready["checks"]["outbox"] == "ok" and ready["checks"]["consumers"] == "ok"
    assert ready["details"]["outbox"]["unsent"] == 0 and ready["details"]["outbox"]["bus_connected"] is True
    assert ready["details"]["consumers"][consumer]["exists"] is True
    assert ready["details"]["consumers"][consumer]["pending"] == 0

    broker.stop()
    # An event committed while the broker is away: it waits in the outbox.
    event = make_event("registration.task.overdue",
                       TaskOverdue(task_id=str(uuid.uuid4()), application_id=str(uuid.uuid4()),
                                   service="registration", department="samr", due_at=datetime.now(UTC)),
                       source_service="registration")
    async with app.state.runtime.uow() as uow:
        uow.emit("registration.task.overdue", event)
        await uow.commit()

    async def outbox_stuck() -> dict[str, Any] | None:
        # NATS itself is reported unavailable at once; the outbox once its event waited past the threshold.
        body = await readiness(client, 503)
        return body if body and body["checks"]["outbox"] != "ok" else None

    stuck = await eventually(outbox_stuck, timeout=30, what="the outbox check to fail past the threshold")
    assert stuck["status"] == "unavailable" and stuck["checks"]["nats"].startswith("unavailable")
    assert stuck["checks"]["outbox"].startswith("unavailable: 1 event(s) unsent for")
    outbox = stuck["details"]["outbox"]
    assert outbox["unsent"] == 1 and outbox["oldest_unsent_age_seconds"] > STALL_SECONDS
    assert outbox["bus_connected"] is False and outbox["stall_after_seconds"] == STALL_SECONDS
    text = (await client.get("/metrics")).text
    assert metric_value(text, "onestop_outbox_unsent_events", service="registration") == 1
    assert metric_value(text, "onestop_outbox_oldest_unsent_age_seconds", service="registration") > STALL_SECONDS
    assert metric_value(text, "onestop_bus_connected", service="registration") == 0
    # Nothing to say about the consumers without a broker: that probe is down, the scrape is not.
    assert metric_value(text, "onestop_metrics_probe_up", service="registration", probe="consumers") == 0

    broker.start()

    async def drained() -> dict[str, Any] | None:
        body = await readiness(client, 200)
        return body if body and body["details"]["outbox"]["unsent"] == 0 else None

    back = await eventually(drained, timeout=45, what="/readyz to answer 200 with the outbox drained")
    assert back["checks"]["outbox"] == "ok" and back["details"]["outbox"]["oldest_unsent_age_seconds"] is None
    text = (await client.get("/metrics")).text
    assert metric_value(text, "onestop_outbox_unsent_events", service="registration") == 0
    assert metric_value(text, "onestop_bus_connected", service="registration") == 1
    assert metric_value(text, "onestop_consumer_pending_messages", service="registration", stream="TASKS",
                 consumer=consumer) == 0
