"""The department back office and live progress, with tax left to people (its simulation switched off):
a tax officer finds the waiting task over HTTP and decides it, the SSE stream of the application shows it
and ends with the final state, a second decision is 409, and the audit trail names who decided."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.stack import Stack
from shared.events import TASKS_STREAM
from tests.sse import SseEvent, read_events
from tests.support import (
    EXAMPLE_REGISTRATION,
    Api,
    Databases,
    connect_to_stack,
    dump,
    eventually,
    registration_body,
    running_stack,
)

SIMULATED_BUT_TAX = "samr,psb,hrss,medicare,hpf,bank,customs"
RESIDENT_ID = EXAMPLE_REGISTRATION["legal_representative"]["id_number"]
MOBILE = EXAMPLE_REGISTRATION["legal_representative"]["mobile"]


@pytest.fixture(scope="module")
def held(session_tmp: Path, databases: Databases) -> Iterator[Stack]:
    with running_stack(session_tmp / "tax-held", databases, ONESTOP_SIMULATED_DEPARTMENTS=SIMULATED_BUT_TAX) as stack:
        yield stack


@pytest.fixture
async def api(held: Stack) -> AsyncIterator[Api]:
    client = Api(held.url_of("gateway"))
    yield client
    await client.close()


def events_path(app_id: str) -> str:
    return f"/api/v1/applications/{app_id}/events"


async def waiting_task(api: Api, department: str, app_id: str) -> dict:
    officer = await api.as_(f"{department}-officer-1", f"dept:{department}")

    async def probe() -> dict | None:
        resp = await api.http.get(f"/api/v1/departments/{department}/tasks", headers=officer)
        assert resp.status_code == 200, dump(resp)
        return next((t for t in resp.json()["items"] if t["application_id"] == app_id), None)

    return await eventually(probe, what=f"the {department} task of {app_id}")


def assert_well_formed(events: list[SseEvent], app_id: str) -> None:
    """Ids are cursors that only move forward; every event is about this application; one final, last."""
    cursors = [tuple(int(p) for p in e.id.split("-")[:2]) for e in events if e.id]
    assert len(cursors) == len(events)
    assert all(a[0] <= b[0] and a[1] <= b[1] and a != b for a, b in itertools.pairwise(cursors))
    assert all(e.data["application_id"] == app_id and e.event == e.data["kind"] for e in events)
    finals = [e for e in events if e.data.get("final")]
    assert finals == [events[-1]] and events[-1].id.endswith("-final")
    assert events[0].retry == 3000


async def test_tax_officer_decides_over_http_and_the_stream_ends_with_completed(api: Api) -> None:
    resp = await api.submit("lin-applicant", registration_body())
    assert resp.status_code == 202, dump(resp)
    app_id = resp.json()["id"]
    owner = await api.as_("lin-applicant")
    listening = asyncio.create_task(read_events(api.http, events_path(app_id), owner))

    task = await waiting_task(api, "tax", app_id)
    assert task["status"] == "requested" and task["overdue"] is False and task["due_at"]
    # The tax office needs the legal representative, not the whole resident ID.
    legal = task["details"]["legal_representative"]
    assert legal["id_number"] == "110105********002X" and legal["name"] == "张三"
    samr_officer = await api.as_("samr-officer-1", "dept:samr")
    refused = await api.http.get("/api/v1/departments/tax/tasks", headers=samr_officer)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    assert (await api.http.post(f"/api/v1/departments/tax/tasks/{task['id']}/decision", headers=samr_officer,
                                json={"outcome": "approved"})).status_code == 403

    tax_officer = await api.as_("tax-officer-1", "dept:tax")
    decision = {"outcome": "approved", "comment": "税务信息确认", "outputs": {"tax_registration": "ok"}}
    decided = await api.http.post(f"/api/v1/departments/tax/tasks/{task['id']}/decision", headers=tax_officer,
                                  json=decision)
    assert decided.status_code == 200, dump(decided)
    assert decided.json()["status"] == "approved" and decided.json()["decided_by"] == "tax-officer-1"
    again = await api.http.post(f"/api/v1/departments/tax/tasks/{task['id']}/decision", headers=tax_officer,
                                json={"outcome": "rejected"})
    assert again.status_code == 409 and again.json()["code"] == "task_already_decided", dump(again)

    done = await api.wait_status("lin-applicant", f"/api/v1/registrations/{app_id}", {"completed"})
    assert next(t for t in done["tasks"] if t["department"] == "tax")["status"] == "approved"

    stream = await asyncio.wait_for(listening, 60)
    assert stream.status == 200 and stream.ended
    events = stream.events
    assert_well_formed(events, app_id)
    kinds = [(e.event, e.data.get("department"), e.data["status"]) for e in events]
    # The two streams interleave as they arrive: the submission and samr's request come first, in either order.
    assert set(kinds[:2]) == {("application", None, "in_progress"), ("task.requested", "samr", "requested")}
    assert ("task.requested", "samr", "requested") in kinds
    assert ("task.resolved", "samr", "approved") in kinds
    assert kinds.index(("task.requested", "tax", "requested")) < kinds.index(("task.resolved", "tax", "approved"))
    assert kinds[-1] == ("application", None, "completed")
    tax_resolved = next(e.data for e in events if e.event == "task.resolved" and e.data["department"] == "tax")
    assert tax_resolved["comment"] == "税务信息确认" and tax_resolved["department_name"] == "税务局"
    # Every department's decision came before the final state.
    assert {d for k, d, s in kinds if k == "task.resolved"} == {t["department"] for t in done["tasks"]}
    # Whitelisted fields only: no form, no details, nothing personal.
    text = str([e.data for e in events])
    assert RESIDENT_ID not in text and "details" not in text and "outputs" not in text

    admin = await api.as_("auditor", "admin")
    trail = await api.http.get("/api/v1/admin/task-decisions", params={"application_id": app_id}, headers=admin)
    assert trail.status_code == 200, dump(trail)
    tax = [d for d in trail.json()["items"] if d["department"] == "tax"]
    assert len(tax) == 1
    assert tax[0]["decided_by"] == "tax-officer-1" and tax[0]["channel"] == "http" and tax[0]["outcome"] == "approved"
    assert tax[0]["decided_at"] and tax[0]["recorded_at"]
    samr = next(d for d in trail.json()["items"] if d["department"] == "samr")
    assert samr["decided_by"] == "simulated-samr" and samr["channel"] == "nats"
    for who, roles in (("tax-officer-1", ("dept:tax",)), ("lin-applicant", ()), ("a-clerk", ("clerk",))):
        resp = await api.http.get("/api/v1/admin/task-decisions", headers=await api.as_(who, *roles))
        assert resp.status_code == 403, (who, resp.status_code)

    # The whole story again, from the start, for a listener who comes late.
    replay = await read_events(api.http, events_path(app_id), owner)
    assert [(e.id, e.event, e.data["event_id"]) for e in replay.events] == \
        [(e.id, e.event, e.data["event_id"]) for e in events]


async def test_resume_from_last_event_id_and_204_after_the_final_state(api: Api) -> None:
    resp = await api.submit("resuming-applicant", registration_body())
    app_id = resp.json()["id"]
    owner = await api.as_("resuming-applicant")
    # Read the first three events, then go away, as a dropped connection would.
    first = await read_events(api.http, events_path(app_id), owner, stop=lambda seen: len(seen) == 3)
    assert len(first.events) == 3 and not first.ended
    last_id = first.events[-1].id

    task = await waiting_task(api, "tax", app_id)
    tax_officer = await api.as_("tax-officer-1", "dept:tax")
    assert (await api.http.post(f"/api/v1/departments/tax/tasks/{task['id']}/decision", headers=tax_officer,
                                json={"outcome": "approved"})).status_code == 200

    rest = await read_events(api.http, events_path(app_id), {**owner, "Last-Event-ID": last_id})
    assert rest.ended and rest.events[-1].data["status"] == "completed"
    whole = await read_events(api.http, events_path(app_id), owner)
    assert [e.data["event_id"] for e in first.events + rest.events] == [e.data["event_id"] for e in whole.events]
    assert_well_formed(whole.events, app_id)

    finished = await read_events(api.http, events_path(app_id), {**owner, "Last-Event-ID": rest.events[-1].id})
    assert finished.status == 204
    # An id the gateway never issued starts from the beginning.
    again = await read_events(api.http, events_path(app_id), {**owner, "Last-Event-ID": "not-ours"})
    assert [e.id for e in again.events] == [e.id for e in whole.events]


async def test_a_rejection_ends_the_stream_with_rejected(api: Api) -> None:
    resp = await api.submit("rejected-applicant", registration_body())
    app_id = resp.json()["id"]
    listening = asyncio.create_task(read_events(api.http, events_path(app_id), await api.as_("rejected-applicant")))
    task = await waiting_task(api, "tax", app_id)
    tax_officer = await api.as_("tax-officer-2", "dept:tax")
    assert (await api.http.post(f"/api/v1/departments/tax/tasks/{task['id']}/decision", headers=tax_officer,
                                json={"outcome": "rejected", "comment": "存在欠税"})).status_code == 200
    stream = await asyncio.wait_for(listening, 60)
    assert_well_formed(stream.events, app_id)
    last = stream.events[-1].data
    assert last["status"] == "rejected" and last["final"] and "存在欠税" in last["reason"]
    assert ("task.resolved", "tax", "rejected") in [(e.event, e.data.get("department"), e.data["status"])
                                                    for e in stream.events]


async def test_only_the_owner_the_submitting_clerk_and_admins_may_listen(api: Api) -> None:
    body = registration_body()
    body["on_behalf_of"] = "walk-in-citizen"
    resp = await api.submit("window-7", body, roles=("clerk",))
    assert resp.status_code == 202, dump(resp)
    app_id = resp.json()["id"]
    assert resp.json()["applicant"] == "walk-in-citizen" and resp.json()["submitted_by"] == "window-7"

    def started(seen: list[SseEvent]) -> bool:
        return len(seen) >= 1

    for who, roles in (("walk-in-citizen", ()), ("window-7", ("clerk",)), ("auditor", ("admin",))):
        stream = await read_events(api.http, events_path(app_id), await api.as_(who, *roles), stop=started)
        assert stream.status == 200 and stream.events[0].data["application_id"] == app_id, who
    for who, roles in (("someone-else", ()), ("window-8", ("clerk",)), ("tax-officer-1", ("dept:tax",))):
        stream = await read_events(api.http, events_path(app_id), await api.as_(who, *roles))
        assert stream.status == 404 and stream.problem and stream.problem["status"] == 404, who
    assert (await read_events(api.http, events_path(app_id), {})).status == 401
    assert (await read_events(api.http, events_path("no-such-application"), await api.as_("walk-in-citizen"))
            ).status == 404
    assert (await read_events(api.http, events_path("bad$id"), await api.as_("walk-in-citizen"))).status == 422


async def test_listeners_leave_no_consumers_behind(held: Stack, api: Api) -> None:
    resp = await api.submit("tidy-applicant", registration_body())
    app_id = resp.json()["id"]
    owner = await api.as_("tidy-applicant")
    await asyncio.gather(*(read_events(api.http, events_path(app_id), owner, stop=lambda seen: len(seen) >= 1)
                           for _ in range(5)))
    nc = await connect_to_stack(held)
    try:
        js = nc.jetstream()

        async def none_left() -> bool:
            names = [c.name for c in await js.consumers_info(TASKS_STREAM)]
            return not [n for n in names if n.startswith("progress-")]

        await eventually(none_left, timeout=15, what="the progress consumers to be deleted")
    finally:
        await nc.close()


async def test_logs_are_json_with_request_ids_and_never_show_personal_numbers(held: Stack, api: Api) -> None:
    """Runs last in this module: by now the stack has handled forms with ID and mobile numbers, department
    details, decisions and streams; then a request carries them in its path and request id as well."""
    owner = await api.as_("lin-applicant")
    resp = await api.http.get(f"/api/v1/registrations/{MOBILE}", headers={**owner, "x-request-id": RESIDENT_ID})
    assert resp.status_code == 404
    assert held.log_dir is not None

    async def logged() -> list[dict] | None:
        import json

        lines = [json.loads(line) for f in sorted(held.log_dir.glob("*.log")) for line in f.read_text().splitlines()
                 if line.startswith("{")]
        mine = [entry for entry in lines if entry.get("path") == "/api/v1/registrations/138****8000"]
        return lines if {e["service"] for e in mine} >= {"gateway", "registration"} else None

    entries = await eventually(logged, what="the access lines of the request in both processes")
    text = "\n".join(f.read_text() for f in held.log_dir.glob("*.log"))
    assert RESIDENT_ID not in text and MOBILE not in text
    # Standing alone, as personal numbers are written; a digit run inside a hex id (request ids, uuid hex)
    # is no personal number, and hex ids do hold 18-digit runs now and then.
    assert not re.search(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])", text), "an unmasked resident ID in the logs"
    assert not re.search(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])", text), "an unmasked mobile number in the logs"
    access = [e for e in entries if e.get("logger") == "onestop.access"]
    fields = {"request_id", "caller", "route", "status", "duration_ms", "method"}
    assert access and all(fields <= set(e) for e in access)
    traced = [e for e in access if e["request_id"] == "110105********002X"]
    assert {e["service"] for e in traced} == {"gateway", "registration"}
    assert all(e["caller"] == "lin-applicant" and e["status"] == 404 for e in traced)
    # The gateway names the forwarded path's template, ids (here the personal number) as {id}.
    assert {e["route"] for e in traced} == {"/api/v1/registrations/{id}", "/api/v1/registrations/{application_id}"}
