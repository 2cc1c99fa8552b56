"""办不成事 end to end through the gateway: an applicant whose registration waits on the bank (left to people in
the test stack) escalates it; the supervisors' queue has it with its due time, the bank is named in the
announcement, the supervisor upholds it, and the applicant sees both the escalation and the outcome on the
application and in its live progress. The bank's back office, connected with the bank's own credentials, reads
both on its own conversation and answers nothing; another department cannot read them. Nobody else escalates
another's application, and only supervisors read the queue."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import ConsumerConfig
from nats.js.errors import APIError

from examples.department_backoffice import SimulatedDepartment
from services.stack import Stack
from shared.bus import Bus
from shared.departments import Department
from shared.events import TASKS_STREAM, TaskEscalated
from shared.natsauth import department_identity, escalations_consumer, seed_path
from tests.sse import SseEvent, read_events
from tests.support import Api, connect_to_stack, dump, eventually, registration_body, stream_events

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
STUCK = {"reason": "stuck", "description": "银行开户预约提交三天了没有任何回音，电话也打不通。"}


async def waiting_on_the_bank(api: Api, applicant: str) -> dict[str, Any]:
    resp = await api.submit(applicant, registration_body(bank_account=True))
    assert resp.status_code == 202, dump(resp)
    path = f"/api/v1/registrations/{resp.json()['id']}"

    async def only_the_bank_left() -> dict[str, Any] | None:
        # The bank asked, and the simulated departments asked with it done: they answer on their own time.
        app = (await api.get(applicant, path)).json()
        left = {t["department"]: t["status"] for t in app["tasks"] if t["status"] != "approved"}
        return app if left == {"bank": "requested"} else None

    return await eventually(only_the_bank_left, what="every department but the bank to approve")


async def escalate(api: Api, who: str, app_id: str, body: dict[str, Any], *roles: str,
                   key: str | None = None) -> Any:
    headers = {**await api.as_(who, *roles), "Idempotency-Key": key or str(uuid.uuid4())}
    return await api.http.post(f"/api/v1/applications/{app_id}/escalations", json=body, headers=headers)


@asynccontextmanager
async def back_office(stack: Stack, department: Department, service: str) -> AsyncIterator[SimulatedDepartment]:
    """The department's back office (the example client) reading only its escalation notices, connected with the
    department's own credentials; its requests are left alone (the bank's tasks wait for people here)."""
    identity = department_identity(department).name
    bus = Bus(stack.env["ONESTOP_NATS_URL"], name=f"test-{identity}", manage_streams=False,
              seed=seed_path(Path(stack.env["ONESTOP_NATS_CREDENTIALS_DIR"]), identity))
    office = SimulatedDepartment(bus, department, reject_ratio=0.0, delay=0.0, service=service)
    bus.start()
    bus.consume(office.notices())
    try:
        yield office
    finally:
        await bus.close()


def noted(office: SimulatedDepartment, escalation_id: str, status: str) -> TaskEscalated | None:
    return next((n for n in office.escalations if n.escalation_id == escalation_id and n.status == status), None)


REFUSED = (nats.errors.TimeoutError, APIError, asyncio.TimeoutError)


async def another_department_cannot_read(stack: Stack, escalation_id: str, banks_consumer: str) -> None:
    """Tax, with its own valid credentials: no consumer of the bank's notices, under its name or the bank's, and
    no reading from the bank's own consumer. Its own notices it may read, and the bank's are not among them."""
    nc = await connect_to_stack(stack, department_identity(Department.tax).name)
    try:
        js = nc.jetstream(timeout=2)
        for name, subject in ((escalations_consumer("dept-tax"), "task.*.bank.escalated"),
                              (escalations_consumer("dept-registration-tax"), "task.registration.bank.escalated"),
                              (banks_consumer, "task.registration.bank.escalated")):
            with pytest.raises(REFUSED):
                await js.add_consumer(TASKS_STREAM, ConsumerConfig(name=name, durable_name=name,
                                                                   filter_subject=subject))
        stolen = await js.pull_subscribe_bind(durable=banks_consumer, stream=TASKS_STREAM)
        with pytest.raises(REFUSED):
            await stolen.fetch(1, timeout=1.0)
        own = escalations_consumer("dept-registration-tax")
        await js.add_consumer(TASKS_STREAM, ConsumerConfig(name=own, durable_name=own,
                                                           filter_subject="task.registration.tax.escalated"))
        mine = await js.pull_subscribe_bind(durable=own, stream=TASKS_STREAM)
        try:
            seen = await mine.fetch(100, timeout=1.0)
        except nats.errors.TimeoutError:
            seen = []
        assert all(escalation_id not in m.data.decode() for m in seen)
    finally:
        await nc.close()


async def test_a_stuck_application_is_escalated_upheld_and_the_applicant_sees_it(api: Api, stack: Stack) -> None:
    async with back_office(stack, Department.bank, "registration") as bank_office:
        await escalated_upheld_and_seen(api, stack, bank_office)


async def escalated_upheld_and_seen(api: Api, stack: Stack, bank_office: SimulatedDepartment) -> None:
    applicant = f"stuck-{uuid.uuid4().hex[:6]}"
    app = await waiting_on_the_bank(api, applicant)
    app_id = app["id"]
    bank_task = next(t for t in app["tasks"] if t["department"] == "bank")

    def resolved(seen: list[SseEvent]) -> bool:
        return any(e.event == "escalation.resolved" for e in seen)

    listening = asyncio.create_task(read_events(api.http, f"/api/v1/applications/{app_id}/events",
                                                await api.as_(applicant), stop=resolved))

    # Another applicant cannot even tell the application exists; bad input names every problem.
    assert (await escalate(api, "someone-else", app_id, STUCK)).status_code == 404
    bad = await escalate(api, applicant, app_id, {"reason": "angry", "description": "  "})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert {tuple(e["loc"][-1:]) for e in bad.json()["errors"]} == {("reason",), ("description",)}, dump(bad)

    key = str(uuid.uuid4())
    raised = await escalate(api, applicant, app_id, STUCK, key=key)
    assert raised.status_code == 201, dump(raised)
    escalation = raised.json()
    assert escalation["status"] == "open" and escalation["departments"] == ["bank"]
    assert escalation["reason"] == "stuck" and not escalation["overdue"] and escalation["due_at"]
    replay = await escalate(api, applicant, app_id, STUCK, key=key)
    assert replay.status_code == 201 and replay.json()["id"] == escalation["id"]
    again = await escalate(api, applicant, app_id, STUCK)
    assert again.status_code == 409 and again.json()["code"] == "escalation_open", dump(again)

    # Only supervisors read the queue; there it is, with its time limit.
    for who, roles in ((applicant, ()), ("bank-officer", ("dept:bank",)), ("auditor", ("admin",))):
        refused = await api.http.get("/api/v1/supervision/escalations", headers=await api.as_(who, *roles))
        assert refused.status_code == 403, (who, refused.status_code)
    supervisor = await api.as_("supervisor-1", "supervisor")
    queue = await api.http.get("/api/v1/supervision/escalations", headers=supervisor, params={"limit": 100})
    assert queue.status_code == 200, dump(queue)
    queued = next(e for e in queue.json()["items"] if e["id"] == escalation["id"])
    assert queued["application_number"] == app["number"] and queued["due_at"] == escalation["due_at"]
    assert queue.json()["unavailable_services"] == []

    # The bank is told: the announcement a department's back office reads names it.
    async def announced(event: str) -> dict[str, Any] | None:
        found = [e.data for e in await stream_events(stack, "REGISTRATION", f"registration.escalation.{event}")
                 if e.data["escalation_id"] == escalation["id"]]
        return found[0] if found else None

    told = await eventually(lambda: announced("raised"), what="the escalation's announcement")
    assert told["departments"] == ["bank"] and told["application_number"] == app["number"]

    # The bank's own back office reads it on its own conversation, with its task and the supervisors' due time.
    async def bank_noted(status: str) -> TaskEscalated | None:
        return noted(bank_office, escalation["id"], status)

    notice = await eventually(lambda: bank_noted("open"), what="the bank's back office to read the escalation")
    assert (notice.service, notice.department, notice.task_id, notice.task_status, notice.reason) == (
        "registration", Department.bank, bank_task["id"], "requested", "stuck")
    assert notice.application_number == app["number"]
    assert notice.due_at == datetime.fromisoformat(escalation["due_at"]).replace(tzinfo=notice.due_at.tzinfo)
    await another_department_cannot_read(stack, escalation["id"], escalations_consumer("dept-registration-bank"))

    outcome = {"outcome": "upheld", "note": "已督促银行今日内联系申请人。"}
    path = f"/api/v1/supervision/escalations/{escalation['id']}/outcome"
    assert (await api.http.post(path, json=outcome, headers=await api.as_(applicant))).status_code == 403
    decided = await api.http.post(path, json=outcome, headers=supervisor)
    assert decided.status_code == 200, dump(decided)
    assert decided.json()["status"] == "upheld" and decided.json()["decided_by"] == "supervisor-1"
    twice = await api.http.post(path, json={"outcome": "dismissed", "note": "x"}, headers=supervisor)
    assert twice.status_code == 409 and twice.json()["code"] == "escalation_decided", dump(twice)
    unknown = await api.http.post("/api/v1/supervision/escalations/no-such-escalation/outcome", json=outcome,
                                  headers=supervisor)
    assert unknown.status_code == 404, dump(unknown)
    assert (await eventually(lambda: announced("resolved"), what="the outcome's announcement"))["outcome"] == "upheld"
    outcome_noted = await eventually(lambda: bank_noted("upheld"), what="the bank's back office to read the outcome")
    assert outcome_noted.note == "已督促银行今日内联系申请人。" and not outcome_noted.reannounced  # not overdue yet

    # A notice is not work: the bank's back office answered neither, and its task still waits for a person.
    answers = await stream_events(stack, TASKS_STREAM, "task.registration.bank.resolved")
    assert bank_task["id"] not in {e.data["task_id"] for e in answers}

    # The applicant sees both on the application and in its live progress.
    shown = (await api.get(applicant, f"/api/v1/registrations/{app_id}")).json()["escalations"]
    assert [(e["id"], e["status"], e["outcome_note"]) for e in shown] == [
        (escalation["id"], "upheld", "已督促银行今日内联系申请人。")]
    tasks = (await api.get(applicant, f"/api/v1/registrations/{app_id}")).json()["tasks"]
    assert next(t for t in tasks if t["department"] == "bank")["status"] == "requested"
    stream = await asyncio.wait_for(listening, 60)
    steps = [(e.event, e.data["status"]) for e in stream.events if e.event.startswith("escalation.")]
    assert steps == [("escalation.raised", "open"), ("escalation.resolved", "upheld")]
    last = stream.events[-1].data
    assert last["escalation_id"] == escalation["id"] and last["comment"] == "已督促银行今日内联系申请人。"
    assert STUCK["description"] not in str([e.data for e in stream.events])


async def test_a_refusal_is_escalated_only_once_there_is_one(api: Api) -> None:
    applicant = f"refused-{uuid.uuid4().hex[:6]}"
    app = await waiting_on_the_bank(api, applicant)
    unfair = {"reason": "unfair_refusal", "description": "银行以材料不全为由拒绝，但材料齐全。"}
    early = await escalate(api, applicant, app["id"], unfair)
    assert early.status_code == 409 and early.json()["code"] == "not_refused", dump(early)

    bank = next(t for t in app["tasks"] if t["department"] == "bank")
    refused = await api.http.post(f"/api/v1/departments/bank/tasks/{bank['id']}/decision",
                                  json={"outcome": "rejected", "comment": "材料不全"},
                                  headers=await api.as_("bank-officer", "dept:bank"))
    assert refused.status_code == 200, dump(refused)
    await api.wait_status(applicant, f"/api/v1/registrations/{app['id']}", {"rejected"})
    stuck = await escalate(api, applicant, app["id"], STUCK)
    assert stuck.status_code == 409 and stuck.json()["code"] == "application_final", dump(stuck)
    raised = await escalate(api, applicant, app["id"], unfair)
    assert raised.status_code == 201, dump(raised)
    assert raised.json()["departments"] == ["bank"] and raised.json()["application_status"] == "rejected"
    dismissed = await api.http.post(f"/api/v1/supervision/escalations/{raised.json()['id']}/outcome",
                                    json={"outcome": "dismissed", "note": "经核实，缺少股东会决议。"},
                                    headers=await api.as_("supervisor-2", "supervisor"))
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed", dump(dismissed)
    # An admin reads everything and escalates nothing of an applicant's.
    assert (await escalate(api, "auditor", app["id"], STUCK, "admin")).status_code == 403
