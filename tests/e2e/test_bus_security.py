"""The event bus trusts no one it does not know: no anonymous client; each party publishes only its own
subjects and reads only its own tasks (the broker refuses the rest); and a party with valid credentials
speaking for another on its own subject is dropped by the consumer (subject, source and data disagree)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import nats
import pytest
from nats.errors import NoServersError
from nats.js.api import ConsumerConfig
from nats.js.errors import APIError

from services.stack import Stack
from shared.events import EnterpriseStatusChanged, TaskOutcome, TaskResolved, make_event
from tests.support import Api, connect_to_stack, dump, eventually, registration_body, stream_events

pytestmark = pytest.mark.e2e


async def test_no_anonymous_client(stack: Stack) -> None:
    with pytest.raises((NoServersError, nats.errors.Error, OSError)):  # type: ignore[arg-type]
        await nats.connect(stack.env["ONESTOP_NATS_URL"], allow_reconnect=False, max_reconnect_attempts=0,
                           connect_timeout=2)


async def test_a_department_cannot_announce_a_service_event_nor_read_anothers_tasks(stack: Stack) -> None:
    nc = await connect_to_stack(stack, "department.tax")
    js = nc.jetstream(timeout=2)
    forged = make_event("deregistration.enterprise.deregistered",
                        EnterpriseStatusChanged(uscc="91440700708039146Q", status="cancelled"),
                        source_service="deregistration")
    with pytest.raises((nats.errors.TimeoutError, APIError, asyncio.TimeoutError)):
        await js.publish("deregistration.enterprise.deregistered", forged.model_dump_json().encode(),
                         headers={"Nats-Msg-Id": forged.id})
    with pytest.raises((nats.errors.TimeoutError, APIError, asyncio.TimeoutError)):
        await js.add_consumer("TASKS", ConsumerConfig(name="dept-tax", durable_name="dept-tax",
                                                      filter_subject="task.*.samr.requested"))
    await nc.close()
    events = await stream_events(stack, "DEREGISTRATION", "deregistration.enterprise.deregistered")
    assert forged.id not in {e.id for e in events}


async def test_an_answer_for_another_department_is_dropped_by_the_consumer(stack: Stack, api: Api) -> None:
    owner = f"bus-owner-{uuid.uuid4().hex[:6]}"
    submitted = await api.submit(owner, registration_body(bank_account=True, bank_name="江门农商银行"))
    assert submitted.status_code == 202, dump(submitted)
    path = f"/api/v1/registrations/{submitted.json()['id']}"

    async def bank_requested() -> dict | None:
        app = (await api.get(owner, path)).json()
        return next((t for t in app["tasks"] if t["department"] == "bank" and t["status"] == "requested"), None)

    bank = await eventually(bank_requested, what="the bank task to be requested")
    # The tax department, with its own valid credentials, on its own subject, answers the bank's task.
    forged = TaskResolved(task_id=bank["id"], application_id=submitted.json()["id"], service="registration",
                          department="bank", outcome=TaskOutcome.approved, round=1)  # type: ignore[arg-type]
    event = make_event("task.registration.tax.resolved", forged, source_service="department/tax")
    nc = await connect_to_stack(stack, "department.tax")
    await nc.jetstream().publish("task.registration.tax.resolved", event.model_dump_json().encode(),
                                 headers={"Nats-Msg-Id": event.id})
    await nc.close()

    log = Path(stack.log_dir or ".") / "registration.log"

    async def refused() -> bool:
        return event.id in log.read_text() and "event refused" in log.read_text()

    await eventually(refused, what="the registration service to refuse the forged answer")
    app = (await api.get(owner, path)).json()
    assert next(t for t in app["tasks"] if t["department"] == "bank")["status"] == "requested"
    assert app["status"] == "in_progress"
