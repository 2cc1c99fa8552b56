"""Faults: the registration service killed between commit and publish, the broker killed mid-flow, and
department answers delivered twice. Every accepted application still reaches exactly one final state."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest

from services.stack import Stack
from shared.events import TaskOutcome, TaskResolved, make_event, task_subject
from shared.identifiers import is_valid_uscc
from tests.support import Api, Databases, NatsServer, dump, eventually, registration_body, running_stack

APPLICATIONS = 12


@pytest.fixture(scope="module")
def fault_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A broker of this module's own, so killing it leaves the other tests alone."""
    with NatsServer(tmp_path_factory.mktemp("fault-nats")) as server:
        yield server


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory, databases: Databases,
                fault_nats: NatsServer) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("fault-stack"), databases, fault_nats,
                       ONESTOP_SIMULATED_DEPARTMENTS="all") as stack:
        yield stack


@pytest.fixture
async def fault_api(fault_stack: Stack) -> AsyncIterator[Api]:
    client = Api(fault_stack.url_of("gateway"))
    yield client
    await client.close()


async def assert_completed_exactly_once(api: Api, sub: str, ids: list[str]) -> list[dict]:
    finals = [await api.wait_status(sub, f"/api/v1/registrations/{i}", {"completed", "rejected"}, timeout=60)
              for i in ids]
    assert all(f["status"] == "completed" for f in finals), [f["status"] for f in finals]
    usccs = [f["enterprise"]["uscc"] for f in finals]
    assert len(set(usccs)) == len(ids) and all(is_valid_uscc(u) for u in usccs)
    codes = {f["license"]["verification_code"] for f in finals}
    assert len(codes) == len(ids)
    for final in finals:
        assert sorted(t["department"] for t in final["tasks"]) == sorted({t["department"] for t in final["tasks"]})
        assert all(t["round"] == 1 and t["status"] == "approved" for t in final["tasks"])
        trail = await api.get("auditor", f"/api/v1/admin/task-decisions?application_id={final['id']}", "admin")
        decisions = trail.json()["items"]
        assert len(decisions) == len(final["tasks"]), dump(trail)
    return finals


async def test_service_killed_between_commit_and_publish(fault_stack: Stack, fault_api: Api) -> None:
    # The relay is off: applications are committed with their events in the outbox, nothing is published.
    fault_stack.kill("registration")
    fault_stack.start("registration", ONESTOP_RELAY_ENABLED="false")
    responses = await asyncio.gather(*(fault_api.submit("crash-user", registration_body())
                                       for _ in range(APPLICATIONS)))
    assert all(r.status_code == 202 for r in responses), [dump(r) for r in responses]
    ids = [r.json()["id"] for r in responses]
    first = (await fault_api.get("crash-user", f"/api/v1/registrations/{ids[0]}")).json()
    assert first["status"] == "in_progress"
    assert [t["status"] for t in first["tasks"] if t["department"] == "samr"] == ["requested"]

    fault_stack.kill("registration")  # SIGKILL: a crash, not a shutdown
    fault_stack.start("registration")
    await assert_completed_exactly_once(fault_api, "crash-user", ids)


async def test_broker_killed_mid_flow(fault_stack: Stack, fault_api: Api, fault_nats: NatsServer) -> None:
    responses = await asyncio.gather(*(fault_api.submit("broker-user", registration_body())
                                       for _ in range(APPLICATIONS)))
    assert all(r.status_code == 202 for r in responses)
    fault_nats.proc.kill()  # type: ignore[union-attr]
    fault_nats.proc.wait()  # type: ignore[union-attr]
    # Accepted while the broker is down: the outbox keeps it.
    late = await fault_api.submit("broker-user", registration_body())
    assert late.status_code == 202, dump(late)
    fault_nats.start()
    ids = [r.json()["id"] for r in responses] + [late.json()["id"]]
    await assert_completed_exactly_once(fault_api, "broker-user", ids)


async def test_two_replicas_share_the_work_and_apply_it_once(fault_stack: Stack, fault_api: Api) -> None:
    # Two processes of the registration service: one durable consumer, one outbox, one overdue sweep.
    fault_stack.kill("registration")
    fault_stack.start("registration", ONESTOP_WORKERS="2")
    try:
        responses = await asyncio.gather(*(fault_api.submit("replica-user", registration_body())
                                           for _ in range(APPLICATIONS)))
        assert all(r.status_code == 202 for r in responses), [dump(r) for r in responses]
        await assert_completed_exactly_once(fault_api, "replica-user", [r.json()["id"] for r in responses])
    finally:
        fault_stack.kill("registration")
        fault_stack.start("registration")


async def test_redelivered_department_answer_changes_nothing(fault_stack: Stack, fault_api: Api,
                                                             fault_nats: NatsServer) -> None:
    resp = await fault_api.submit("redelivery-user", registration_body())
    app_id = resp.json()["id"]
    done = await fault_api.wait_status("redelivery-user", f"/api/v1/registrations/{app_id}", {"completed"})
    samr = next(t for t in done["tasks"] if t["department"] == "samr")

    answer = TaskResolved(task_id=samr["id"], application_id=app_id, service="registration", department="samr",
                          outcome=TaskOutcome.approved, outputs={"licence_number": "DUPLICATE"}, round=1)
    nc = await nats.connect(fault_nats.url)
    js = nc.jetstream()
    subject = task_subject("registration", "samr", "resolved")
    # The same event again past JetStream's duplicate window (another Nats-Msg-Id), and a fresh answer.
    same = make_event("task.registration.samr.resolved", answer, source_service="department/samr")
    await js.publish(subject, same.model_dump_json().encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())})
    await js.publish(subject, same.model_dump_json().encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())})
    fresh = make_event("task.registration.samr.resolved", answer, source_service="department/samr")
    await js.publish(subject, fresh.model_dump_json().encode(), headers={"Nats-Msg-Id": fresh.id})

    # Once the consumer has acknowledged all three, nothing may have changed.
    async def consumer_caught_up() -> bool:
        info = await js.consumer_info("TASKS", "registration-task-answers")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(consumer_caught_up, what="the answers consumer to drain")
    await nc.close()
    after = (await fault_api.get("redelivery-user", f"/api/v1/registrations/{app_id}")).json()
    assert after["enterprise"] == done["enterprise"] and after["license"] == done["license"]
    assert next(t for t in after["tasks"] if t["department"] == "samr")["outputs"] == samr["outputs"]
    trail = (await fault_api.get("auditor", f"/api/v1/admin/task-decisions?application_id={app_id}",
                                 "admin")).json()["items"]
    assert [d["department"] for d in trail].count("samr") == 1


__all__ = ["Path"]


PREMISES = {"district_code": "440703", "town_code": "440703006", "road": "建设三路"}
CERTIFICATE = {"kind": "property_certificate", "number": "粤(2026)江门市不动产权第0000001号"}


def connection_body(number: int) -> dict:
    return {"premises": {**PREMISES, "number": f"{number}号"}, "proof": CERTIFICATE,
            "utilities": {"power": {"voltage": "low", "capacity_kw": 50}, "water": {"diameter_mm": 25}},
            "external_works": {"dig_city_road": True}}


async def assert_connected_exactly_once(api: Api, sub: str, ids: list[str]) -> None:
    finals = [await api.wait_status(sub, f"/api/v1/connections/{i}", {"completed", "rejected"}, timeout=60)
              for i in ids]
    assert all(f["status"] == "completed" for f in finals), [f["status"] for f in finals]
    accounts = (await api.get(sub, "/api/v1/utility-accounts?limit=100")).json()["items"]
    # One power and one water account per application, none twice.
    assert sorted((a["premises_address"], a["utility"]) for a in accounts) == sorted(
        (f["premises_address"], u) for f in finals for u in ("power", "water"))
    for final in finals:
        trail = await api.get("auditor", f"/api/v1/admin/task-decisions?application_id={final['id']}", "admin")
        assert len(trail.json()["items"]) == len(final["tasks"]) == 4, dump(trail)


async def test_utilities_killed_mid_flow_connects_each_once(fault_stack: Stack, fault_api: Api) -> None:
    sub = f"utility-crash-{uuid.uuid4().hex[:6]}"
    fault_stack.kill("utilities")
    fault_stack.start("utilities", ONESTOP_RELAY_ENABLED="false")
    responses = [await fault_api.submit(sub, connection_body(100 + i), path="/api/v1/connections")
                 for i in range(6)]
    assert all(r.status_code == 202 for r in responses), [dump(r) for r in responses]
    fault_stack.kill("utilities")  # SIGKILL with every event still in the outbox
    fault_stack.start("utilities")
    await assert_connected_exactly_once(fault_api, sub, [r.json()["id"] for r in responses])


async def test_redelivered_supplier_answer_opens_no_second_account(fault_stack: Stack, fault_api: Api,
                                                                   fault_nats: NatsServer) -> None:
    sub = f"utility-redelivery-{uuid.uuid4().hex[:6]}"
    resp = await fault_api.submit(sub, connection_body(300), path="/api/v1/connections")
    app_id = resp.json()["id"]
    done = await fault_api.wait_status(sub, f"/api/v1/connections/{app_id}", {"completed"})
    power = next(t for t in done["tasks"] if t["department"] == "power")
    answer = TaskResolved(task_id=power["id"], application_id=app_id, service="utilities", department="power",
                          outcome=TaskOutcome.approved, outputs={"account_number": "DL-SECOND"}, round=1)
    nc = await nats.connect(fault_nats.url)
    js = nc.jetstream()
    subject = task_subject("utilities", "power", "resolved")
    again = make_event("task.utilities.power.resolved", answer, source_service="department/power")
    for _ in range(2):
        await js.publish(subject, again.model_dump_json().encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())})

    async def consumer_caught_up() -> bool:
        info = await js.consumer_info("TASKS", "utilities-task-answers")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(consumer_caught_up, what="the answers consumer to drain")
    await nc.close()
    await assert_connected_exactly_once(fault_api, sub, [app_id])
    accounts = (await fault_api.get(sub, "/api/v1/utility-accounts")).json()["items"]
    assert "DL-SECOND" not in {a["account_number"] for a in accounts}
