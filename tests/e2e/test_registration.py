"""企业开办 end to end through the gateway, with every process running and real NATS and database."""

from __future__ import annotations

import asyncio
import uuid

from services.stack import Stack
from shared.identifiers import is_valid_uscc
from tests.support import Api, dump, eventually, registration_body


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
