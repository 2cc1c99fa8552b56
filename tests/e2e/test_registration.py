"""企业开办 end to end through the gateway, with every process running and real NATS and database."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from services.stack import Stack
from shared import catalogue
from shared.departments import Department
from shared.events import TaskOutcome, TaskResolved, make_event, task_subject
from shared.identifiers import generate_uscc, is_valid_uscc
from shared.natsauth import department_identity
from shared.workdays import add_working_days
from tests.support import (
    Api,
    Databases,
    connect_to_stack,
    dump,
    eventually,
    registration_body,
    running_stack,
    stream_events,
)


async def test_example_reaches_completed_with_valid_uscc_and_verifiable_licence(api: Api) -> None:
    resp = await api.submit("zhang-e2e", registration_body())
    assert resp.status_code == 202, dump(resp)
    submitted = resp.json()
    assert submitted["number"].startswith("QYKB-440703-")
    assert {t["department"] for t in submitted["tasks"]} == {"samr", "psb", "tax", "hrss", "medicare"}
    assert [t["status"] for t in submitted["tasks"] if t["department"] == "samr"] == ["requested"]
    assert all(t["status"] == "waiting" for t in submitted["tasks"] if t["department"] != "samr")

    done = await api.wait_status("zhang-e2e", f"/api/v1/registrations/{submitted['id']}", {"completed"})
    uscc = done["enterprise"]["uscc"]
    assert is_valid_uscc(uscc) and uscc.startswith("9144070")
    assert done["enterprise"]["status"] == "active"
    samr = next(t for t in done["tasks"] if t["department"] == "samr")
    others = [t for t in done["tasks"] if t["department"] != "samr"]
    assert all(t["status"] == "approved" for t in done["tasks"])
    # samr first, the others only after its approval.
    assert all(t["requested_at"] >= samr["resolved_at"] for t in others)
    assert next(t for t in done["tasks"] if t["department"] == "psb")["outputs"]["seal_filing_number"]

    code = done["license"]["verification_code"]
    public = await api.http.get(f"/api/v1/licenses/{code}")  # no token
    assert public.status_code == 200, dump(public)
    licence = public.json()
    assert licence["status"] == "active"
    assert licence["uscc"] == uscc
    assert licence["name"] == done["enterprise_name"]
    assert "id_number" not in public.text and "11010519491231002X" not in public.text


async def test_three_problems_reported_in_one_422(api: Api) -> None:
    body = registration_body()
    body["legal_representative"]["id_number"] = "110105194912310021"  # wrong check digit
    body["investors"][0]["share_percent"] = "90"
    body["enterprise"]["address"]["town_code"] = "440703999"
    resp = await api.submit("zhang-bad", body)
    assert resp.status_code == 422, dump(resp)
    assert resp.headers["content-type"].startswith("application/problem+json")
    errors = resp.json()["errors"]
    codes = {e["code"]: e["loc"] for e in errors}
    assert codes["resident_id_check_digit"] == ["legal_representative", "id_number"]
    assert codes["shares_not_100"] == ["investors"]
    assert codes["unknown_town"] == ["enterprise", "address", "town_code"]
    assert all(e["message_zh"] and e["message_en"] for e in errors)
    # Nothing was created.
    listed = (await api.get("zhang-bad", "/api/v1/registrations")).json()
    assert listed["total"] == 0


async def test_another_applicant_gets_404_and_lists_only_own(api: Api) -> None:
    resp = await api.submit("owner-a", registration_body())
    app_id = resp.json()["id"]
    assert (await api.get("owner-b", f"/api/v1/registrations/{app_id}")).status_code == 404
    assert (await api.get("owner-a", f"/api/v1/registrations/{app_id}")).status_code == 200
    assert (await api.get("an-admin", f"/api/v1/registrations/{app_id}", "admin")).status_code == 200
    own = (await api.get("owner-b", "/api/v1/registrations")).json()
    assert all(item["applicant"] == "owner-b" for item in own["items"])


async def test_missing_or_bad_token_is_401_problem(api: Api) -> None:
    resp = await api.http.get("/api/v1/registrations")
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    resp = await api.http.get("/api/v1/registrations", headers={"authorization": "Bearer not.a.token"})
    assert resp.status_code == 401


async def test_same_name_concurrently_only_one_accepted(api: Api) -> None:
    name = f"江门市蓬江区{uuid.uuid4().hex[:6].upper()}同名测试有限公司"
    results = await asyncio.gather(*(api.submit(f"rival-{i}", registration_body(name)) for i in range(8)))
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(202) == 1, [dump(r) for r in results]
    assert statuses.count(422) == 7
    refused = next(r for r in results if r.status_code == 422).json()
    assert refused["errors"][0]["code"] == "name_taken"


async def test_idempotency_key_replays_and_refuses_other_body(api: Api) -> None:
    key = str(uuid.uuid4())
    body = registration_body()
    first = await api.submit("idem-user", body, key=key)
    again = await api.submit("idem-user", body, key=key)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = await api.submit("idem-user", registration_body(), key=key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    missing = await api.http.post("/api/v1/registrations", json=body, headers=await api.as_("idem-user"))
    assert missing.status_code == 400
    assert (await api.get("idem-user", "/api/v1/registrations")).json()["total"] == 1


async def test_bank_rejection_ends_application_and_frees_name(api: Api) -> None:
    body = registration_body(bank_account=True)
    resp = await api.submit("rejected-user", body)
    app_id = resp.json()["id"]
    officer = await api.as_("bank-officer", "dept:bank")

    async def bank_task() -> dict | None:
        queue = (await api.http.get("/api/v1/departments/bank/tasks", headers=officer)).json()["items"]
        return next((t for t in queue if t["application_id"] == app_id), None)

    task = await eventually(bank_task, what="the bank task to be requested")
    decided = await api.http.post(f"/api/v1/departments/bank/tasks/{task['id']}/decision", headers=officer,
                                  json={"outcome": "rejected", "comment": "开户资料不全"})
    assert decided.status_code == 200, dump(decided)
    final = await api.wait_status("rejected-user", f"/api/v1/registrations/{app_id}", {"rejected"})
    assert "开户资料不全" in final["reason"]
    assert final.get("enterprise") is None
    # The name is free again.
    assert (await api.submit("rejected-user", body)).status_code == 202


async def test_returned_then_supplemented_completes(api: Api) -> None:
    resp = await api.submit("returned-user", registration_body(bank_account=True))
    app_id = resp.json()["id"]
    officer = await api.as_("bank-officer", "dept:bank")

    async def bank_task() -> dict | None:
        queue = (await api.http.get("/api/v1/departments/bank/tasks", headers=officer)).json()["items"]
        return next((t for t in queue if t["application_id"] == app_id), None)

    task = await eventually(bank_task, what="the bank task")
    await api.http.post(f"/api/v1/departments/bank/tasks/{task['id']}/decision", headers=officer,
                        json={"outcome": "returned", "comment": "请补充开户银行",
                              "outputs": {"missing": ["package.bank_name"]}})
    returned = await api.wait_status("returned-user", f"/api/v1/registrations/{app_id}", {"returned"})
    assert returned["missing"] == ["package.bank_name"]

    patched = await api.http.patch(f"/api/v1/registrations/{app_id}", headers=await api.as_("returned-user"),
                                   json={"package": {"bank_name": "中国工商银行江门分行"}})
    assert patched.status_code == 200, dump(patched)
    task = await eventually(bank_task, what="the bank task asked again")
    assert task["round"] == 2 and task["details"]["bank_name"] == "中国工商银行江门分行"
    again = await api.http.post(f"/api/v1/departments/bank/tasks/{task['id']}/decision", headers=officer,
                                json={"outcome": "approved"})
    assert again.status_code == 200
    done = await api.wait_status("returned-user", f"/api/v1/registrations/{app_id}", {"completed"})
    assert done["enterprise"]["uscc"]


async def test_services_report_ready(stack: Stack, api: Api) -> None:
    for name in ("registration", "gateway"):
        resp = await api.http.get(f"{stack.url_of(name)}/readyz")
        assert resp.status_code == 200, resp.text


async def test_whole_public_api_is_documented_at_the_gateway(api: Api) -> None:
    doc = (await api.http.get("/openapi.json")).json()
    paths = doc["paths"]
    assert "post" in paths["/api/v1/registrations"] and "patch" in paths["/api/v1/registrations/{application_id}"]
    assert "/api/v1/licenses/{verification_code}" in paths
    assert "post" in paths["/api/v1/deregistrations"] and "post" in paths["/api/v1/suspensions"]
    assert "/api/v1/applications/{application_id}/events" in paths or any(p.endswith("/events") for p in paths)
    assert "RegistrationCreate" in doc["components"]["schemas"]
    assert "Not shown now" not in doc["info"]["description"]
    ui = await api.http.get("/docs")
    assert ui.status_code == 200 and "swagger" in ui.text.lower()


async def test_lists_are_bounded_and_answer_422_beyond(api: Api) -> None:
    for path in ("/api/v1/registrations", "/api/v1/deregistrations", "/api/v1/suspensions", "/api/v1/applications"):
        assert (await api.get("pager", f"{path}?offset=100000")).status_code == 200, path
        for query in ("offset=100001", "offset=99999999999999999999999", "limit=101", "limit=0", "offset=-1"):
            resp = await api.get("pager", f"{path}?{query}")
            assert resp.status_code == 422, (path, query, dump(resp))
            assert resp.headers["content-type"].startswith("application/problem+json")


# --- Company-law checks at opening, in one reply -------------------------------------------------------------------


async def test_a_sole_proprietorship_named_limited_company_with_investors_sharing_an_id_is_one_422(api: Api) -> None:
    body = registration_body()
    body["enterprise"]["entity_type"] = "sole_proprietorship"  # its name ends 有限公司
    twin = {**body["investors"][0], "name": "张叁", "share_percent": "50"}
    body["investors"] = [{**body["investors"][0], "share_percent": "50"}, twin]
    resp = await api.submit("sole-user", body)
    assert resp.status_code == 422, dump(resp)
    assert resp.headers["content-type"].startswith("application/problem+json")
    codes = {e["code"]: e["loc"] for e in resp.json()["errors"]}
    assert codes == {"name_words_not_allowed": ["enterprise", "name"], "investors_count": ["investors"],
                     "investor_duplicate": ["investors", 1, "document_number"]}
    assert all(e["message_zh"] and e["message_en"] for e in resp.json()["errors"])
    assert (await api.get("sole-user", "/api/v1/registrations")).json()["total"] == 0


# --- Changes (变更登记) and intra-province moves (省内迁移) -------------------------------------------------------


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


async def open_enterprise(api: Api, owner: str, name: str | None = None) -> dict[str, Any]:
    resp = await api.submit(owner, registration_body(name))
    assert resp.status_code == 202, dump(resp)
    return await api.wait_status(owner, f"/api/v1/registrations/{resp.json()['id']}", {"completed"})


async def file_change(api: Api, owner: str, body: dict[str, Any], expect: int = 202) -> dict[str, Any]:
    resp = await api.submit(owner, body, path="/api/v1/changes")
    assert resp.status_code == expect, dump(resp)
    return resp.json()


async def test_a_change_of_address_and_scope_goes_through_samr_and_tax_and_the_licence_shows_it(
        stack: Stack, api: Api) -> None:
    opened = await open_enterprise(api, "change-owner")
    uscc, code = opened["enterprise"]["uscc"], opened["license"]["verification_code"]
    new_address = {"town_code": "440703002", "road": "白沙大道", "number": "18号", "room": "301室"}
    scope = ["软件开发", "数据处理和存储支持服务"]
    # The USCC as people type it: lower case, in groups.
    typed = " ".join(uscc[i:i + 4] for i in range(0, 18, 4)).lower()
    filed = await file_change(api, "change-owner", {"uscc": typed, "address": new_address, "business_scope": scope})
    assert filed["number"].startswith("QYBG-440703-") and filed["kind"] == "change" and filed["uscc"] == uscc
    assert [t["department"] for t in filed["tasks"]] == ["samr", "tax"]
    assert filed["changes"]["address"].endswith("白沙大道18号301室") and filed["changes"]["business_scope"] == scope

    done = await api.wait_status("change-owner", f"/api/v1/changes/{filed['id']}", {"completed"})
    samr, tax = (next(t for t in done["tasks"] if t["department"] == d) for d in ("samr", "tax"))
    assert samr["status"] == tax["status"] == "approved" and tax["requested_at"] >= samr["resolved_at"]
    assert done["enterprise"] == {"uscc": uscc, "name": opened["enterprise_name"], "status": "active"}

    licence = (await api.http.get(f"/api/v1/licenses/{code}")).json()
    assert licence["address"] == done["changes"]["address"] and licence["business_scope"] == scope
    assert licence["uscc"] == uscc and licence["status"] == "active"

    # The other services hear of it.
    async def announced() -> dict[str, Any] | None:
        events = await stream_events(stack, "REGISTRATION", "registration.enterprise.changed")
        return next((e.data for e in events if e.data["uscc"] == uscc), None)

    data = await eventually(announced, what="registration.enterprise.changed")
    assert data["kind"] == "change" and data["changed"] == ["address", "business_scope"]
    assert data["address"] == licence["address"] and data["previous"]["address"] != licence["address"]

    # Changes are listed apart from openings, and each path answers only for its own kind.
    assert [c["id"] for c in (await api.get("change-owner", "/api/v1/changes")).json()["items"]] == [done["id"]]
    assert all(r["id"] != done["id"] for r in (await api.get("change-owner", "/api/v1/registrations")).json()["items"])
    assert (await api.get("change-owner", f"/api/v1/registrations/{done['id']}")).status_code == 404
    assert (await api.get("change-owner", f"/api/v1/changes/{opened['id']}")).status_code == 404
    assert (await api.get("someone-else", f"/api/v1/changes/{done['id']}")).status_code == 404
    assert not {"id_number", "mobile", "form", "details"} & keys_of(done)  # nothing personal shown


async def test_only_the_owner_files_a_change_and_a_new_name_is_unique_by_its_look(api: Api) -> None:
    opened = await open_enterprise(api, "rename-owner")
    uscc = opened["enterprise"]["uscc"]
    resp = await api.submit("not-the-owner", {"uscc": uscc, "business_scope": ["软件开发"]}, path="/api/v1/changes")
    assert resp.status_code == 403, dump(resp)
    assert (await api.submit("rename-owner", {"uscc": uscc.replace("0", "O"), "business_scope": ["软件开发"]},
                             path="/api/v1/changes")).json()["errors"][0]["code"] == "uscc_lookalike"

    tag = uuid.uuid4().hex[:6].upper().replace("0", "2").replace("1", "3")
    new_name = f"江门市蓬江区ACE{tag}科技有限公司"
    filed = await file_change(api, "rename-owner", {"uscc": uscc, "name": new_name})
    assert [t["department"] for t in filed["tasks"]] == ["samr", "tax"]
    done = await api.wait_status("rename-owner", f"/api/v1/changes/{filed['id']}", {"completed"})
    assert done["enterprise"]["name"] == new_name
    licence = (await api.http.get(f"/api/v1/licenses/{opened['license']['verification_code']}")).json()
    assert licence["name"] == new_name

    # The new name is held: written with a Cyrillic А and Е, it is the same name.
    spoof = new_name.replace("A", "\u0410").replace("E", "\u0415")
    refused = await api.submit("another-user", registration_body(spoof))
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "name_taken", dump(refused)
    # The old name is free again.
    assert (await api.submit("another-user", registration_body(opened["enterprise_name"]))).status_code == 202


async def test_an_intra_province_move_completes_as_one_application(api: Api) -> None:
    opened = await open_enterprise(api, "move-owner")
    uscc = opened["enterprise"]["uscc"]
    move = {"uscc": uscc, "kind": "move", "district_code": "440705", "to_province_city": "广东省江门市",
            "address": {"town_code": "440705001", "road": "中心路", "number": "8号"}}
    filed = await file_change(api, "move-owner", move)
    assert filed["kind"] == "move" and [t["kind"] for t in filed["tasks"]] == ["move_registration", "tax_move"]
    done = await api.wait_status("move-owner", f"/api/v1/changes/{filed['id']}", {"completed"})
    assert all(t["status"] == "approved" for t in done["tasks"])
    licence = (await api.http.get(f"/api/v1/licenses/{opened['license']['verification_code']}")).json()
    assert "新会区" in licence["address"] and licence["address"].endswith("中心路8号")
    assert licence["uscc"] == uscc  # the code stays for life

    # The other services learn of the move from registration's announcement (their enterprise views).
    async def deregistration_knows() -> bool:
        view = await api.get("move-owner", f"/api/v1/deregistrations/enterprises/{uscc}")
        return view.status_code == 200 and view.json()["district_code"] == "440705"

    await eventually(deregistration_knows, what="the deregistration service's view to follow the move")
    # One application, one completion.
    assert [c["id"] for c in (await api.get("move-owner", "/api/v1/changes")).json()["items"]] == [done["id"]]
    # Outside Guangdong is not an intra-province move.
    far = await file_change(api, "move-owner", {**move, "district_code": "440703", "to_province_city": "湖南省长沙市",
                                                "address": {"town_code": "440703002", "road": "白沙大道",
                                                            "number": "1号"}}, expect=422)
    assert {e["code"] for e in far["errors"]} == {"move_outside_province"}


async def test_a_cancelled_enterprise_changes_no_more(api: Api) -> None:
    opened = await open_enterprise(api, "closing-owner")
    uscc, code = opened["enterprise"]["uscc"], opened["license"]["verification_code"]

    async def known() -> bool:
        return (await api.get("closing-owner", f"/api/v1/deregistrations/enterprises/{uscc}")).status_code == 200

    await eventually(known, what="the deregistration service to learn of the enterprise")
    # The README's general deregistration (the stack has no creditor-notice wait).
    dereg = {"uscc": uscc, "procedure": "general", "reason": "经营期满",
             "liquidation": {"members": [{"name": "张三", "id_number": "11010519491231002X"}]},
             "liquidation_report": {"summary": "债权债务已清理完毕", "confirmed_by_shareholders": True},
             "materials": await api.signed_documents("closing-owner", "dissolution_resolution", "liquidation_report")}
    resp = await api.submit("closing-owner", dereg, path="/api/v1/deregistrations")
    assert resp.status_code == 202, dump(resp)

    async def revoked() -> bool:
        return (await api.http.get(f"/api/v1/licenses/{code}")).json()["status"] == "revoked"

    await eventually(revoked, timeout=60, what="the licence to be revoked")
    refused = await file_change(api, "closing-owner", {"uscc": uscc, "business_scope": ["软件开发"]}, expect=409)
    assert refused["code"] == "enterprise_cancelled"


# --- The USCC comes from samr, checked -------------------------------------------------------------------------------


# The catalogue of the samr stack: the opening's samr step takes two working days and the whole three (the shipped
# catalogue says one and one). No code knows these figures: the services read them from the file.
SAMR_WORKING_DAYS, OPENING_WORKING_DAYS = 2, 3


@pytest.fixture(scope="module")
def samr_stack(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[Stack]:
    """A stack of its own whose samr is people (an officer over the back-office API), every other department
    simulated, started on a copy of the catalogue with other time limits for the opening (ONESTOP_CATALOGUE_PATH)."""
    tmp = tmp_path_factory.mktemp("samr-stack")
    data = json.loads((Path(catalogue.__file__).parent / "data" / catalogue.CATALOGUE_FILE).read_text(encoding="utf-8"))
    for entry in data["entries"]:
        if entry["code"] == "enterprise_opening":
            entry["time_limit_working_days"] = OPENING_WORKING_DAYS
            next(s for s in entry["steps"] if s["department"] == "samr")["working_days"] = SAMR_WORKING_DAYS
    path = tmp / "catalogue-slower-opening.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    others = ",".join(d.value for d in Department if d != Department.samr)
    with running_stack(tmp, databases, ONESTOP_SIMULATED_DEPARTMENTS=others, ONESTOP_CATALOGUE_PATH=str(path)) as s:
        yield s


@pytest.fixture
async def samr_api(samr_stack: Stack) -> AsyncIterator[Api]:
    client = Api(samr_stack.url_of("gateway"))
    yield client
    await client.close()


async def samr_task(api: Api, application_id: str) -> dict[str, Any]:
    officer = await api.as_("samr-officer", "dept:samr")

    async def probe() -> dict[str, Any] | None:
        queue = (await api.http.get("/api/v1/departments/samr/tasks", headers=officer)).json()["items"]
        return next((t for t in queue if t["application_id"] == application_id), None)

    return await eventually(probe, what="the samr task")


async def samr_decides(api: Api, task_id: str, **outputs: str) -> Any:
    officer = await api.as_("samr-officer", "dept:samr")
    return await api.http.post(f"/api/v1/departments/samr/tasks/{task_id}/decision", headers=officer,
                               json={"outcome": "approved", "outputs": {"licence_number": "JM1", **outputs}})


async def test_the_time_limits_are_the_catalogues(samr_stack: Stack, samr_api: Api) -> None:
    """限时办结 from the catalogue in use: samr's task is due after the catalogue's two working days, the
    application after its three, and the guide the gateway shows says so too."""
    resp = await samr_api.submit("slow-owner", registration_body())
    assert resp.status_code == 202, dump(resp)
    app = resp.json()
    samr = next(t for t in app["tasks"] if t["department"] == "samr")
    assert samr["status"] == "requested"
    assert datetime.fromisoformat(samr["due_at"]) == add_working_days(datetime.fromisoformat(samr["requested_at"]),
                                                                      SAMR_WORKING_DAYS).at
    assert datetime.fromisoformat(app["due_at"]) == add_working_days(datetime.fromisoformat(app["created_at"]),
                                                                     OPENING_WORKING_DAYS).at
    # The department reads the same due time in its queue.
    assert (await samr_task(samr_api, app["id"]))["due_at"] == samr["due_at"]
    guide = (await samr_api.http.get("/api/v1/catalogue/enterprise_opening")).json()
    assert guide["time_limit_working_days"] == OPENING_WORKING_DAYS
    assert next(s for s in guide["steps"] if s["department"]["code"] == "samr")["working_days"] == SAMR_WORKING_DAYS


async def test_samr_assigns_the_uscc_and_an_approval_without_a_valid_one_is_refused(
        samr_stack: Stack, samr_api: Api) -> None:
    api = samr_api
    first = (await api.submit("uscc-owner", registration_body())).json()
    task = await samr_task(api, first["id"])
    assert task["details"]["registration_division"] == "440703" and task["details"]["uscc_category"] == "1"

    for outputs, code in (({}, "uscc_missing"),
                          ({"uscc": generate_uscc("440704", "1")}, "uscc_wrong_division"),
                          ({"uscc": generate_uscc("440703", "2")}, "uscc_wrong_category"),
                          ({"uscc": "91440703MA00000000"}, "uscc_invalid")):
        refused = await samr_decides(api, task["id"], **outputs)
        assert refused.status_code == 422 and [e["code"] for e in refused.json()["errors"]] == [code], dump(refused)
    uscc = generate_uscc("440703", "1")
    typo = uscc.replace("0", "O")
    refused = await samr_decides(api, task["id"], uscc=typo)
    assert refused.json()["errors"][0]["code"] == "uscc_lookalike" and uscc in refused.json()["errors"][0]["message_en"]

    assert (await samr_decides(api, task["id"], uscc=uscc.lower())).status_code == 200
    done = await api.wait_status("uscc-owner", f"/api/v1/registrations/{first['id']}", {"completed"})
    assert done["enterprise"]["uscc"] == uscc

    # A code already assigned is refused; over NATS an approval without one is logged and dropped.
    second = (await api.submit("uscc-owner", registration_body())).json()
    task = await samr_task(api, second["id"])
    taken = await samr_decides(api, task["id"], uscc=uscc)
    assert taken.status_code == 409 and taken.json()["code"] == "uscc_in_use", dump(taken)
    nc = await connect_to_stack(samr_stack, department_identity("samr").name)
    js = nc.jetstream()
    answer = TaskResolved(task_id=task["id"], application_id=second["id"], service="registration",
                          department=Department.samr, outcome=TaskOutcome.approved, round=task["round"])
    event = make_event("task.registration.samr.resolved", answer, source_service="department/samr")
    await js.publish(task_subject("registration", "samr", "resolved"), event.model_dump_json().encode(),
                     headers={"Nats-Msg-Id": event.id})
    await nc.close()

    async def drained() -> bool:
        operator = await connect_to_stack(samr_stack)
        try:
            info = await operator.jetstream().consumer_info("TASKS", "registration-task-answers")
            return info.num_pending == 0 and info.num_ack_pending == 0
        finally:
            await operator.close()

    await eventually(drained, what="the answers consumer to drain")
    still = (await api.get("uscc-owner", f"/api/v1/registrations/{second['id']}")).json()
    assert next(t for t in still["tasks"] if t["department"] == "samr")["status"] == "requested"
    assert (await samr_decides(api, task["id"], uscc=generate_uscc("440703", "1"))).status_code == 200
    await api.wait_status("uscc-owner", f"/api/v1/registrations/{second['id']}", {"completed"})


async def test_an_admin_reads_an_application_but_does_not_supplement_it(api: Api) -> None:
    submitted = await api.submit("supplement-owner", registration_body())
    path = f"/api/v1/registrations/{submitted.json()['id']}"
    assert (await api.get("an-admin", path, "admin")).status_code == 200
    by_admin = await api.http.patch(path, json={"note": "改一下"}, headers=await api.as_("an-admin", "admin"))
    assert by_admin.status_code == 403 and by_admin.json()["code"] == "read_only", dump(by_admin)
    by_owner = await api.http.patch(path, json={"note": "补正"}, headers=await api.as_("supplement-owner"))
    assert by_owner.status_code == 409 and by_owner.json()["code"] == "not_returned", dump(by_owner)
