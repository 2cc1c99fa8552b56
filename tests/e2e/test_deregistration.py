"""套餐式注销 and 歇业备案 end to end through the gateway, with every process running on a real nats-server
and real databases. This module runs its own stack: short periods, days of a suspension shortened to two
seconds, and the tax bureau simulated for registration only — deregistration's tax tasks wait for an
officer over HTTP, so a test can hold tax's answer (or object with it)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from services.stack import Stack
from shared.events import EnterpriseRegistered, make_event
from shared.identifiers import generate_uscc
from shared.workdays import LOCAL_TZ
from tests.support import Api, Databases, NatsServer, dump, eventually, registration_body, running_stack, stream_events

PUBLIC_NOTICE_SECONDS = 6.0
INDIVIDUAL_WINDOW_SECONDS = 3.0
CREDITOR_NOTICE_SECONDS = 1.0
SUSPENSION_DAY_SECONDS = 2.0
ID = "11010519491231002X"


def general_body(uscc: str) -> dict[str, Any]:
    """A general deregistration: the liquidation group, and its report confirmed by the shareholders."""
    return {"uscc": uscc, "procedure": "general", "reason": "经营期满",
            "liquidation": {"members": [{"name": "张三", "id_number": ID}]},
            "liquidation_report": {"summary": "债权债务已清理完毕", "confirmed_by_shareholders": True}}


def simplified_body(uscc: str) -> dict[str, Any]:
    """The issue's example of a simplified deregistration, as it is."""
    return {"uscc": uscc, "procedure": "simplified", "reason": "停止经营",
            "undertaking": {"no_outstanding_debts": True, "signatories": [{"name": "张三", "id_number": ID}]}}


def today() -> date:
    return datetime.now(LOCAL_TZ).date()


def suspension_body(uscc: str, start: date, end: date) -> dict[str, Any]:
    return {"uscc": uscc, "cause": "natural_disaster", "reason": "受台风灾害影响暂停经营", "employees_consulted": True,
            "start_date": start.isoformat(), "end_date": end.isoformat(),
            "delivery_address": "江门市蓬江区建设三路88号1201室"}


@pytest.fixture(scope="module")
def dereg_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A broker of this module's own: its stack's durable consumers must not share another stack's."""
    with NatsServer(tmp_path_factory.mktemp("dereg-nats")) as server:
        yield server


@pytest.fixture(scope="module")
def dereg_stack(tmp_path_factory: pytest.TempPathFactory, databases: Databases,
                dereg_nats: NatsServer) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("dereg-stack"), databases, dereg_nats,
        ONESTOP_SIMULATED_DEPARTMENTS="samr,psb,registration.tax,hrss,medicare,hpf,bank,customs",
        ONESTOP_PUBLIC_NOTICE_DAYS=str(PUBLIC_NOTICE_SECONDS / 86400),
        ONESTOP_CREDITOR_NOTICE_DAYS=str(CREDITOR_NOTICE_SECONDS / 86400),
        ONESTOP_INDIVIDUAL_OBJECTION_DAYS=str(INDIVIDUAL_WINDOW_SECONDS / 86400),
        ONESTOP_SUSPENSION_DAY_SECONDS=str(SUSPENSION_DAY_SECONDS),
    ) as stack:
        yield stack


@pytest.fixture
async def api(dereg_stack: Stack) -> AsyncIterator[Api]:
    client = Api(dereg_stack.url_of("gateway"))
    yield client
    await client.close()


# --- Helpers ---------------------------------------------------------------------------------------------


async def open_enterprise(api: Api, owner: str, **package: Any) -> dict[str, Any]:
    """Open an enterprise through 企业开办 and wait until the deregistration service has heard of it."""
    resp = await api.submit(owner, registration_body(**package))
    assert resp.status_code == 202, dump(resp)
    done = await api.wait_status(owner, f"/api/v1/registrations/{resp.json()['id']}", {"completed"})
    uscc = done["enterprise"]["uscc"]
    known = await known_enterprise(api, owner, uscc)
    return {"uscc": uscc, "code": done["license"]["verification_code"], "registration_id": done["id"],
            "view": known}


async def known_enterprise(api: Api, owner: str, uscc: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        resp = await api.get(owner, f"/api/v1/deregistrations/enterprises/{uscc}")
        return resp.json() if resp.status_code == 200 else None

    return await eventually(probe, what=f"the deregistration service to learn of {uscc}")


async def licence_status(api: Api, code: str, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body = (await api.http.get(f"/api/v1/licenses/{code}")).json()
        return body if body.get("status") == status else None

    return await eventually(probe, what=f"the licence to verify as {status}")


# The signed documents a deregistration uploads (the catalogue holds them key; the form only describes them).
SIGNED = {"general": ("dissolution_resolution", "liquidation_report"), "simplified": ("investors_undertaking",),
          "individual": ("operator_undertaking",)}


async def deregister(api: Api, owner: str, body: dict[str, Any], expect: int = 202, *,
                     individual: bool = False) -> dict[str, Any]:
    """Submit a deregistration with the signed documents its procedure asks for (unless it names its own)."""
    if "materials" not in body:
        signed = SIGNED["individual" if individual else body["procedure"]]
        body = body | {"materials": await api.signed_documents(owner, *signed)}
    resp = await api.submit(owner, body, path="/api/v1/deregistrations")
    assert resp.status_code == expect, dump(resp)
    return resp.json()


async def task_in_queue(api: Api, department: str, application_id: str) -> dict[str, Any]:
    officer = await api.as_(f"{department}-officer", f"dept:{department}")

    async def probe() -> dict[str, Any] | None:
        queue = (await api.http.get(f"/api/v1/departments/{department}/tasks", headers=officer)).json()["items"]
        return next((t for t in queue if t["application_id"] == application_id), None)

    return await eventually(probe, what=f"the {department} task of {application_id} to be requested")


async def decide(api: Api, department: str, task_id: str, outcome: str = "approved", **extra: Any) -> dict:
    officer = await api.as_(f"{department}-officer", f"dept:{department}")
    resp = await api.http.post(f"/api/v1/departments/{department}/tasks/{task_id}/decision", headers=officer,
                               json={"outcome": outcome, **extra})
    assert resp.status_code == 200, dump(resp)
    return resp.json()


def at(moment: str) -> datetime:
    """A time as the API writes it, to compare."""
    return datetime.fromisoformat(moment)


def tasks_by_department(app: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["department"]: t for t in app["tasks"]}


async def consumers_drained(broker: NatsServer, *consumers: tuple[str, str]) -> None:
    """Wait until each (stream, durable) consumer has acknowledged everything it was given."""
    nc = await broker.connect()
    try:
        js = nc.jetstream()

        async def drained() -> bool:
            for stream, durable in consumers:
                info = await js.consumer_info(stream, durable)
                if info.num_pending or info.num_ack_pending:
                    return False
            return True

        await eventually(drained, what=f"{consumers} to drain")
    finally:
        await nc.close()


# --- Both procedures to completion ---------------------------------------------------------------------------


async def test_general_procedure_clears_tax_before_samr_closes_insurance_after_and_revokes_the_licence(
        api: Api) -> None:
    owner = "general-owner"
    ent = await open_enterprise(api, owner)
    assert ent["view"]["departments"]["general"] == ["samr", "tax", "hrss", "medicare"]

    submitted = await deregister(api, owner, general_body(ent["uscc"]))
    assert submitted["number"].startswith("QYZX-440703-")
    assert submitted["status"] == "creditor_notice" and submitted["notice"]["kind"] == "creditor_notice"
    assert set(tasks_by_department(submitted)) == {"samr", "tax", "hrss", "medicare"}
    assert all(t["status"] == "waiting" for t in submitted["tasks"])
    path = f"/api/v1/deregistrations/{submitted['id']}"

    # The announcement ends; tax is asked and holds its answer; samr waits for it, and social and medical
    # insurance wait for samr (they close after the licence is cancelled).
    tax_task = await task_in_queue(api, "tax", submitted["id"])
    assert tax_task["kind"] == "tax_clearance" and tax_task["details"]["certificate_required"] is True
    held = await api.wait_status(owner, path, {"in_progress"})
    assert held["liquidation_filed_at"] is not None and held["eligibility"] == []
    for dept in ("samr", "hrss", "medicare"):
        waiting = tasks_by_department(held)[dept]
        assert waiting["status"] == "waiting" and waiting["requested_at"] is None, waiting
    samr_queue = (await api.http.get("/api/v1/departments/samr/tasks?status=",
                                     headers=await api.as_("samr-officer", "dept:samr"))).json()["items"]
    assert not any(t["application_id"] == submitted["id"] and t["status"] != "waiting" for t in samr_queue)
    assert held["status"] == "in_progress"

    # Tax approves over HTTP as a tax officer: only now is samr asked, and the licence is cancelled.
    await decide(api, "tax", tax_task["id"], outputs={"tax_clearance_certificate": "QS-E2E-0001"})
    done = await api.wait_status(owner, path, {"completed"})
    tasks = tasks_by_department(done)
    assert all(t["status"] == "approved" for t in done["tasks"])
    assert tasks["samr"]["requested_at"] >= tasks["tax"]["resolved_at"]
    assert at(tasks["hrss"]["requested_at"]) >= at(tasks["samr"]["resolved_at"])
    assert at(tasks["medicare"]["requested_at"]) >= at(tasks["samr"]["resolved_at"])
    assert tasks["samr"]["outputs"]["cancellation_number"]
    assert tasks["tax"]["outputs"]["tax_clearance_certificate"] == "QS-E2E-0001"

    licence = await licence_status(api, ent["code"], "revoked")
    assert licence["uscc"] == ent["uscc"]
    registration = (await api.get(owner, f"/api/v1/registrations/{ent['registration_id']}")).json()
    assert registration["enterprise"]["status"] == "cancelled"

    # Every department's cancellation is on record; tax decided over HTTP before samr was asked.
    trail = (await api.get("auditor", f"/api/v1/admin/task-decisions?application_id={submitted['id']}",
                           "admin")).json()["items"]
    assert sorted(d["department"] for d in trail) == ["hrss", "medicare", "samr", "tax"]
    tax_decision = next(d for d in trail if d["department"] == "tax")
    assert tax_decision["channel"] == "http" and tax_decision["decided_by"] == "tax-officer"

    # The applicant's applications, gathered at the gateway, show the opening and the closing.
    mine = (await api.get(owner, "/api/v1/applications")).json()
    assert sorted(i["service"] for i in mine["items"]) == ["deregistration", "registration"]

    # Deregistered once: a second application is refused and says why.
    again = await deregister(api, owner, general_body(ent["uscc"]), expect=409)
    assert again["code"] == "enterprise_cancelled"


async def test_the_signed_undertaking_is_a_key_material_and_departments_read_it_through_their_link(
        api: Api) -> None:
    owner = "undertaking-owner"
    ent = await open_enterprise(api, owner)
    # Without the signed undertaking: one 422 naming it, with the form's own problem; the licence itself is
    # not asked for (the electronic licence is held: 一证通办).
    unsigned = simplified_body(ent["uscc"]) | {"reason": "", "materials": []}
    refused = await deregister(api, owner, unsigned, expect=422)
    assert sorted((e["code"], e["loc"][0]) for e in refused["errors"]) == [("material_missing", "materials"),
                                                                            ("required", "reason")]
    missing = next(e for e in refused["errors"] if e["code"] == "material_missing")
    assert "investors_undertaking" in missing["message_en"] and "承诺书" in missing["message_zh"]
    # A general procedure's documents do not stand for it.
    wrong = simplified_body(ent["uscc"]) | {"materials": await api.signed_documents(owner, "liquidation_report")}
    assert [e["code"] for e in (await deregister(api, owner, wrong, expect=422))["errors"]] == [
        "material_not_asked", "material_missing"]

    submitted = await deregister(api, owner, simplified_body(ent["uscc"]))
    assert submitted["pending_materials"] == [] and submitted["materials_deadline"] is None
    # Tax is asked when the notice starts (it waits for an officer here): its task links the undertaking.
    task = await task_in_queue(api, "tax", submitted["id"])
    [document] = task["details"]["materials"]
    assert document["code"] == "investors_undertaking" and "department=tax" in document["link"]
    read = await api.http.get(document["link"], headers=await api.as_("tax-officer", "dept:tax"))
    assert read.status_code == 200 and read.content.startswith(b"%PDF")
    # The link is tax's: another department's officer is not let in by it.
    other = await api.http.get(document["link"], headers=await api.as_("hrss-officer", "dept:hrss"))
    assert other.status_code == 404


async def test_simplified_procedure_without_tax_matters_skips_tax_and_completes(api: Api) -> None:
    owner = "simplified-owner"
    ent = await open_enterprise(api, owner, tax=False, invoices=None)
    assert "tax" not in ent["view"]["departments"]["simplified"]

    submitted = await deregister(api, owner, simplified_body(ent["uscc"]))
    assert submitted["status"] == "public_notice"
    assert set(tasks_by_department(submitted)) == {"samr", "hrss", "medicare"}
    # Every investor registration listed signed the undertaking (without a list, the skipped check is on record).
    assert submitted["eligibility"][0]["check"] == "investors_signed"
    assert submitted["eligibility"][0]["outcome"] == ("passed" if ent["view"]["investors"] else "skipped")
    # Social and medical insurance are asked when the notice starts (they may object); samr is not.
    asked = tasks_by_department(submitted)
    assert asked["hrss"]["status"] == asked["medicare"]["status"] == "requested"
    assert asked["samr"]["status"] == "waiting" and asked["samr"]["requested_at"] is None
    notice = submitted["notice"]
    assert notice["kind"] == "public_notice" and notice["ended_at"] is None
    ends = datetime.fromisoformat(notice["ends_at"]) - datetime.fromisoformat(notice["starts_at"])
    assert abs(ends.total_seconds() - PUBLIC_NOTICE_SECONDS) < 0.5

    # Anyone logged in sees it among the public notices while it runs (names only, no ID numbers).
    notices = (await api.get("a-passer-by", "/api/v1/deregistrations/notices")).json()
    mine = next(n for n in notices if n["application_id"] == submitted["id"])
    assert mine["signatories"] == ["张三"] and ID not in dump_json(notices)

    done = await api.wait_status(owner, f"/api/v1/deregistrations/{submitted['id']}", {"completed"})
    assert done["notice"]["ended_at"] is not None and done["notice"]["cancelled_at"] is None
    tasks = tasks_by_department(done)
    assert at(tasks["hrss"]["requested_at"]) < at(done["notice"]["ends_at"])
    assert at(tasks["samr"]["requested_at"]) >= at(done["notice"]["ends_at"])  # samr last: after the notice
    assert at(tasks["samr"]["requested_at"]) >= max(at(tasks[d]["resolved_at"]) for d in ("hrss", "medicare"))
    await licence_status(api, ent["code"], "revoked")


def dump_json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


# --- Objection ----------------------------------------------------------------------------------------------


async def test_an_objection_during_the_public_notice_stops_it(api: Api) -> None:
    owner = "objected-owner"
    ent = await open_enterprise(api, owner)
    submitted = await deregister(api, owner, simplified_body(ent["uscc"]))
    path = f"/api/v1/deregistrations/{submitted['id']}"

    objection = await api.submit("a-creditor", {"reason": "该企业尚欠货款人民币5万元未清偿"},
                                 path=f"{path}/objections")
    assert objection.status_code == 201, dump(objection)
    assert objection.json()["application_status"] == "objected"

    stopped = (await api.get(owner, path)).json()
    assert stopped["status"] == "objected" and "尚欠货款" in stopped["reason"]
    assert [o["reason"] for o in stopped["objections"]] == ["该企业尚欠货款人民币5万元未清偿"]
    # The period's timer is cancelled, so samr is never asked (the objecting departments were, at its start).
    assert stopped["notice"]["cancelled_at"] is not None and stopped["notice"]["ended_at"] is None
    assert tasks_by_department(stopped)["samr"]["status"] == "waiting"
    assert tasks_by_department(stopped)["tax"]["requested_at"] is not None

    late = await api.submit("another-creditor", {"reason": "也有异议"}, path=f"{path}/objections")
    assert late.status_code == 409 and late.json()["code"] == "not_in_public_notice"
    # The enterprise is not held any more: it may try again (e.g. with the general procedure).
    assert (await deregister(api, owner, general_body(ent["uscc"])))["status"] == "creditor_notice"


async def test_a_returned_deregistration_is_supplemented_and_asked_again(api: Api) -> None:
    owner = "returned-owner"
    ent = await open_enterprise(api, owner)
    submitted = await deregister(api, owner, general_body(ent["uscc"]))
    path = f"/api/v1/deregistrations/{submitted['id']}"
    task = await task_in_queue(api, "tax", submitted["id"])
    await decide(api, "tax", task["id"], "returned", comment="请指定清算组负责人",
                 outputs={"missing": ["liquidation.leader"]})
    returned = await api.wait_status(owner, path, {"returned"})
    assert returned["missing"] == ["liquidation.leader"]
    assert tasks_by_department(returned)["samr"]["status"] == "waiting"

    patched = await api.http.patch(path, headers=await api.as_(owner), json={"liquidation": {"leader": "张三"}})
    assert patched.status_code == 200, dump(patched)
    assert patched.json()["status"] == "in_progress"
    again = await task_in_queue(api, "tax", submitted["id"])
    assert again["round"] == 2 and again["details"]["uscc"] == ent["uscc"]
    await decide(api, "tax", again["id"])
    done = await api.wait_status(owner, path, {"completed"})
    assert tasks_by_department(done)["tax"]["round"] == 2
    await licence_status(api, ent["code"], "revoked")


# --- Refusals -----------------------------------------------------------------------------------------------


async def test_unknown_cancelled_and_in_flight_are_refused_saying_which(api: Api) -> None:
    unknown_uscc = generate_uscc("440703")
    unknown = await deregister(api, "refused-owner", general_body(unknown_uscc), expect=422)
    assert [e["code"] for e in unknown["errors"]] == ["enterprise_unknown"]
    assert unknown["errors"][0]["loc"] == ["uscc"]

    # Together with the form's own problems, in one reply.
    bad = general_body(unknown_uscc) | {"reason": "", "liquidation": {"members": []}}
    both = await deregister(api, "refused-owner", bad, expect=422)
    assert {e["code"] for e in both["errors"]} == {"enterprise_unknown", "required"}
    assert len(both["errors"]) == 3

    owner = "refused-owner"
    ent = await open_enterprise(api, owner, tax=False, invoices=None)
    assert (await deregister(api, "not-the-owner", general_body(ent["uscc"]), expect=403))["code"] == \
        "not_enterprise_owner"
    key = str(uuid.uuid4())
    body = general_body(ent["uscc"]) | {"materials": await api.signed_documents(owner, *SIGNED["general"])}
    first = await api.submit(owner, body, key=key, path="/api/v1/deregistrations")
    assert first.status_code == 202, dump(first)
    replay = await api.submit(owner, body, key=key, path="/api/v1/deregistrations")
    assert replay.status_code == 202 and replay.json()["id"] == first.json()["id"]
    in_flight = await deregister(api, owner, simplified_body(ent["uscc"]), expect=409)
    assert in_flight["code"] == "deregistration_in_flight"
    assert in_flight["application_number"] == first.json()["number"]

    # Without tax matters the general one needs no officer: it completes, and then the enterprise is cancelled.
    await api.wait_status(owner, f"/api/v1/deregistrations/{first.json()['id']}", {"completed"})
    cancelled = await deregister(api, owner, general_body(ent["uscc"]), expect=409)
    assert cancelled["code"] == "enterprise_cancelled"
    suspension = await api.submit(owner, suspension_body(ent["uscc"], today(), today()), path="/api/v1/suspensions")
    assert suspension.status_code == 409 and suspension.json()["code"] == "enterprise_cancelled"
    assert (await api.get(owner, "/api/v1/deregistrations")).json()["total"] == 1


async def announce_enterprise(broker: NatsServer, owner: str, *, entity_type: str = "limited_company",
                              registered_with: list[str] | None = None, category: str = "1",
                              **extra: Any) -> str:
    """An enterprise as registration would announce it, published on the stack's NATS (for what 企业开办
    here does not open: a customs registration, a 个体工商户, listed investors or restrictions)."""
    uscc = generate_uscc("440704", category)
    announced = EnterpriseRegistered(
        uscc=uscc, name=f"江门市江海区{uuid.uuid4().hex[:6].upper()}测试商行", entity_type=entity_type,
        district_code="440704", address="江门市江海区某路1号", owner=owner, legal_representative="张三",
        registered_at=datetime.now(LOCAL_TZ), licence_verification_code=uuid.uuid4().hex[:16].upper(),
        registered_with=registered_with or ["samr", "tax"], **extra)
    event = make_event("registration.enterprise.registered", announced, source_service="registration", subject=uscc)
    nc = await broker.connect()
    await nc.jetstream().publish("registration.enterprise.registered", event.model_dump_json().encode(),
                                 headers={"Nats-Msg-Id": event.id})
    await nc.close()
    return uscc


async def test_general_procedure_settles_customs_and_tax_before_samr(api: Api, dereg_nats: NatsServer) -> None:
    # An enterprise whose announcement says it holds a customs registration, published as registration would.
    uscc = await announce_enterprise(dereg_nats, "customs-owner", has_tax_matters=True, customs_registered=True)
    view = await known_enterprise(api, "customs-owner", uscc)
    assert view["departments"]["general"] == ["samr", "tax", "customs"]
    submitted = await deregister(api, "customs-owner", general_body(uscc))
    path = f"/api/v1/deregistrations/{submitted['id']}"
    assert set(tasks_by_department(submitted)) == {"samr", "tax", "customs"}
    task = await task_in_queue(api, "tax", submitted["id"])  # the announcement is over: tax and customs asked
    assert task["details"]["uscc"] == uscc

    async def customs_cancelled_samr_waiting() -> dict[str, Any] | None:
        app = (await api.get("customs-owner", path)).json()
        tasks = tasks_by_department(app)
        return app if tasks["customs"]["status"] == "approved" else None

    held = await eventually(customs_cancelled_samr_waiting, what="customs to cancel its registration")
    # Customs settled, tax has not: samr is not asked yet.
    assert tasks_by_department(held)["samr"]["status"] == "waiting"
    await decide(api, "tax", task["id"], outputs={"tax_clearance_certificate": "QS-E2E-0002"})
    done = await api.wait_status("customs-owner", path, {"completed"})
    tasks = tasks_by_department(done)
    assert at(tasks["samr"]["requested_at"]) >= max(at(tasks[d]["resolved_at"]) for d in ("customs", "tax"))


# --- Rule: in 简易注销 the departments object during the notice; samr is never asked then -------------------------


async def test_tax_objecting_during_the_public_notice_stops_it_without_samr_ever_being_asked(
        api: Api, dereg_nats: NatsServer) -> None:
    owner = "tax-objects-owner"
    ent = await open_enterprise(api, owner)  # with invoices: tax matters, so tax may object
    submitted = await deregister(api, owner, simplified_body(ent["uscc"]))
    path = f"/api/v1/deregistrations/{submitted['id']}"
    assert submitted["status"] == "public_notice"

    # Tax is asked as the notice starts (not after it), may object until its end, and objects.
    task = await task_in_queue(api, "tax", submitted["id"])
    assert task["details"]["objection"] is True and task["details"]["procedure"] == "simplified"
    assert at(task["due_at"]) >= at(submitted["notice"]["ends_at"])
    await decide(api, "tax", task["id"], "rejected", comment="尚有未缴清的税款及滞纳金")

    stopped = await api.wait_status(owner, path, {"objected"})
    assert "税务局" in stopped["reason"] and "未缴清的税款" in stopped["reason"]
    assert [(o["department"], o["reason"]) for o in stopped["objections"]] == [("tax", "尚有未缴清的税款及滞纳金")]
    assert stopped["notice"]["cancelled_at"] is not None and stopped["notice"]["ended_at"] is None
    samr = tasks_by_department(stopped)["samr"]
    assert samr["status"] == "waiting" and samr["requested_at"] is None

    # Past the notice's end, still: samr was never asked, the licence is untouched, the enterprise is free again.
    async def past_the_notice() -> bool:
        return datetime.now(LOCAL_TZ) > datetime.fromisoformat(submitted["notice"]["ends_at"]) + timedelta(seconds=1)

    await eventually(past_the_notice, timeout=PUBLIC_NOTICE_SECONDS + 5, what="the notice's end to pass")
    later = (await api.get(owner, path)).json()
    assert later["status"] == "objected" and tasks_by_department(later)["samr"]["requested_at"] is None
    requests = await stream_events(dereg_nats, "TASKS", "task.deregistration.*.requested")
    asked = {e.data["department"] for e in requests if e.data["application_id"] == submitted["id"]}
    assert "samr" not in asked and "tax" in asked
    assert (await api.http.get(f"/api/v1/licenses/{ent['code']}")).json()["status"] == "active"
    assert (await known_enterprise(api, owner, ent["uscc"]))["deregistration_id"] is None


# --- 个体工商户: no public notice, a 10-day objection window, samr last ------------------------------------------


async def test_an_individual_business_deregisters_in_its_objection_window_with_samr_last(
        api: Api, dereg_nats: NatsServer) -> None:
    owner = "individual-owner"
    investors = [{"name": "张三", "id_number_masked": "110105********002X"}]
    uscc = await announce_enterprise(dereg_nats, owner, entity_type="individual_business", category="2",
                                     registered_with=["samr", "tax", "hrss"], investors=investors)
    view = await known_enterprise(api, owner, uscc)
    assert view["entity_type"] == "individual_business" and view["investors"] == investors

    # An undertaking without the operator is refused, naming them.
    li_si = {"name": "李四", "id_number": "440704198503152340"}
    stranger = simplified_body(uscc) | {"undertaking": {"no_outstanding_debts": True, "signatories": [li_si]}}
    refused = await deregister(api, owner, stranger, expect=422, individual=True)
    assert [e["code"] for e in refused["errors"]] == ["investor_not_signed"]
    assert "110105********002X" in refused["errors"][0]["message_en"]

    submitted = await deregister(api, owner, simplified_body(uscc), individual=True)
    path = f"/api/v1/deregistrations/{submitted['id']}"
    assert submitted["status"] == "objection_window" and submitted["notice"]["kind"] == "objection_window"
    assert [(e["check"], e["outcome"]) for e in submitted["eligibility"]] == [("investors_signed", "passed"),
                                                                             ("restrictions", "passed")]
    window = datetime.fromisoformat(submitted["notice"]["ends_at"]) - datetime.fromisoformat(
        submitted["notice"]["starts_at"])
    assert abs(window.total_seconds() - INDIVIDUAL_WINDOW_SECONDS) < 0.5  # 10 days, shortened here
    # Not published: it is not among the public notices, and the public cannot object to it.
    notices = (await api.get("a-passer-by", "/api/v1/deregistrations/notices")).json()
    assert submitted["id"] not in {n["application_id"] for n in notices}
    objection = await api.submit("a-creditor", {"reason": "有异议"}, path=f"{path}/objections")
    assert objection.status_code == 409 and objection.json()["code"] == "not_in_public_notice"

    # The departments are asked at once and answer within the window; samr is not asked during it.
    tax = await task_in_queue(api, "tax", submitted["id"])
    assert tax["details"]["notice_kind"] == "objection_window"
    await decide(api, "tax", tax["id"])
    in_window = (await api.get(owner, path)).json()
    if in_window["notice"]["ended_at"] is None:
        assert in_window["status"] == "objection_window"
        assert tasks_by_department(in_window)["samr"]["requested_at"] is None

    done = await api.wait_status(owner, path, {"completed"})
    tasks = tasks_by_department(done)
    assert at(tasks["samr"]["requested_at"]) >= at(done["notice"]["ends_at"])
    assert at(tasks["samr"]["requested_at"]) >= max(at(tasks[d]["resolved_at"]) for d in ("tax", "hrss"))
    assert at(tasks["tax"]["requested_at"]) < at(done["notice"]["ends_at"])


async def test_restrictions_known_from_events_refuse_the_simplified_route(api: Api, dereg_nats: NatsServer) -> None:
    owner = "restricted-owner"
    uscc = await announce_enterprise(dereg_nats, owner, restrictions=["abnormal_operations", "equity_pledged"])
    view = await known_enterprise(api, owner, uscc)
    assert view["restrictions"] == ["abnormal_operations", "equity_pledged"]
    refused = await deregister(api, owner, simplified_body(uscc), expect=422)
    assert [e["code"] for e in refused["errors"]] == ["not_eligible_abnormal_operations",
                                                      "not_eligible_equity_pledged"]
    # The general procedure is open to it.
    assert (await deregister(api, owner, general_body(uscc)))["status"] == "creditor_notice"


# --- 歇业备案 -------------------------------------------------------------------------------------------------


async def test_a_suspension_ends_by_itself_at_its_end_date(api: Api) -> None:
    owner = "suspended-owner"
    ent = await open_enterprise(api, owner)
    # To tomorrow: a suspension ending today would last only what is left of today, scaled (late in the
    # evening a few tens of milliseconds), too short to be seen suspended.
    resp = await api.submit(owner, suspension_body(ent["uscc"], today(), today() + timedelta(days=1)),
                            path="/api/v1/suspensions")
    assert resp.status_code == 201, dump(resp)
    suspension = resp.json()
    assert suspension["number"].startswith("XYBA-440703-") and suspension["status"] == "active"

    # The registration service reflects it; the licence verifies as suspended, then active again by itself
    # once the end date is over (a day lasts two seconds here).
    await licence_status(api, ent["code"], "suspended")
    await licence_status(api, ent["code"], "active")
    ended = (await api.get(owner, f"/api/v1/suspensions/{suspension['id']}")).json()
    assert ended["status"] == "ended" and ended["resumed_on"] is None
    assert (await known_enterprise(api, owner, ent["uscc"]))["status"] == "active"


async def test_suspension_resumes_early_extends_in_its_window_and_keeps_the_three_year_cap(api: Api) -> None:
    owner = "resuming-owner"
    ent = await open_enterprise(api, owner)
    uscc = ent["uscc"]

    over_cap = await api.submit(owner, suspension_body(uscc, today(), today() + timedelta(days=3 * 366)),
                                path="/api/v1/suspensions")
    assert over_cap.status_code == 422 and over_cap.json()["errors"][0]["code"] == "suspension_cap_exceeded"

    first = await api.submit(owner, suspension_body(uscc, today(), today() + timedelta(days=29)),
                             path="/api/v1/suspensions")
    assert first.status_code == 201, dump(first)
    first_id = first.json()["id"]
    assert first.json()["cause"] == "natural_disaster"
    await licence_status(api, ent["code"], "suspended")
    twice = await api.submit(owner, suspension_body(uscc, today(), today()), path="/api/v1/suspensions")
    assert twice.status_code == 409 and twice.json()["code"] == "suspension_exists"

    # The end is 29 days away: today is the first of the 30 days of the window, so it may be extended.
    headers = await api.as_(owner)
    extended = await api.http.post(f"/api/v1/suspensions/{first_id}/extension", headers=headers,
                                   json={"end_date": (today() + timedelta(days=60)).isoformat()})
    assert extended.status_code == 200, dump(extended)
    assert extended.json()["end_date"] == (today() + timedelta(days=60)).isoformat()
    assert len(extended.json()["extensions"]) == 1
    # Now 60 days away: outside the 30 days before the end.
    early = await api.http.post(f"/api/v1/suspensions/{first_id}/extension", headers=headers,
                                json={"end_date": (today() + timedelta(days=90)).isoformat()})
    assert early.status_code == 422 and early.json()["errors"][0]["code"] == "extension_window"

    # An admin reads the suspension but changes nothing of the applicant's.
    admin = await api.as_("an-admin", "admin")
    assert (await api.http.get(f"/api/v1/suspensions/{first_id}", headers=admin)).status_code == 200
    for action, body in (("resume", None), ("extension", {"end_date": (today() + timedelta(days=90)).isoformat()})):
        refused = await api.http.post(f"/api/v1/suspensions/{first_id}/{action}", headers=admin, json=body)
        assert refused.status_code == 403 and refused.json()["code"] == "read_only", dump(refused)

    # An early end is published now (within 30 days of resuming, as the rule asks).
    # (It started today: a resumption dated before that is refused too.)
    before = await api.http.post(f"/api/v1/suspensions/{first_id}/resume", headers=headers,
                                 json={"resumed_on": (today() - timedelta(days=1)).isoformat()})
    assert before.status_code == 422 and before.json()["errors"][0]["code"] == "resumed_before_start"
    resumed = await api.http.post(f"/api/v1/suspensions/{first_id}/resume", headers=headers)
    assert resumed.status_code == 200, dump(resumed)
    assert resumed.json()["status"] == "resumed" and resumed.json()["resumed_on"] == today().isoformat()
    assert resumed.json()["published_at"] is not None
    await licence_status(api, ent["code"], "active")
    again = await api.http.post(f"/api/v1/suspensions/{first_id}/resume", headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "suspension_not_current"

    # A second filing counts the first toward the cap (it used no day: resumed the day it started).
    second = await api.submit(owner, suspension_body(uscc, today() + timedelta(days=1), today() + timedelta(days=400)),
                              path="/api/v1/suspensions")
    assert second.status_code == 201, dump(second)
    assert second.json()["status"] == "filed" and second.json()["days_used_before"] == 0
    listed = (await api.get(owner, "/api/v1/suspensions")).json()
    assert [s["id"] for s in listed["items"]] == [second.json()["id"], first_id]
    assert (await api.get("someone-else", f"/api/v1/suspensions/{first_id}")).status_code == 404


# --- Durability: a restart during the notice period; redelivered events --------------------------------------


async def test_restart_during_the_notice_period_and_the_timer_fires_once(api: Api, dereg_stack: Stack,
                                                                           dereg_nats: NatsServer) -> None:
    owner = "restart-owner"
    ent = await open_enterprise(api, owner, tax=False, invoices=None)
    submitted = await deregister(api, owner, simplified_body(ent["uscc"]))
    ends_at = datetime.fromisoformat(submitted["notice"]["ends_at"]).timestamp()

    dereg_stack.kill("deregistration")  # SIGKILL during the notice period: nothing in memory survives

    async def period_over() -> bool:
        return time.time() > ends_at + 0.5

    await eventually(period_over, timeout=PUBLIC_NOTICE_SECONDS + 5, what="the notice period to pass while down")
    dereg_stack.start("deregistration")

    done = await api.wait_status(owner, f"/api/v1/deregistrations/{submitted['id']}", {"completed"})
    assert done["notice"]["ended_at"] is not None
    assert all(t["round"] == 1 for t in done["tasks"])
    await licence_status(api, ent["code"], "revoked")

    # Exactly once: one end of the period announced, each department asked once.
    events = await stream_events(dereg_nats, "DEREGISTRATION", "deregistration.application.>")
    mine = [e.name for e in events if e.data["application_id"] == submitted["id"]]
    assert mine == ["deregistration.application.public_notice", "deregistration.application.in_progress",
                    "deregistration.application.completed"]
    requests = await stream_events(dereg_nats, "TASKS", "task.deregistration.*.requested")
    asked = sorted(e.data["department"] for e in requests if e.data["application_id"] == submitted["id"])
    assert asked == ["hrss", "medicare", "samr"]
    announced = await stream_events(dereg_nats, "DEREGISTRATION", "deregistration.enterprise.deregistered")
    cancelled = [e for e in announced if e.data["uscc"] == ent["uscc"]]
    assert len(cancelled) == 1
    assert sorted(cancelled[0].data["departments"]) == ["hrss", "medicare", "samr"]
    assert cancelled[0].data["procedure"] == "simplified" and cancelled[0].data["number"] == submitted["number"]


async def test_redelivered_events_change_nothing_twice(api: Api, dereg_nats: NatsServer) -> None:
    owner = "redelivery-owner"
    ent = await open_enterprise(api, owner)
    uscc = ent["uscc"]
    headers = await api.as_(owner)
    # suspended → resumed → suspended again
    first = await api.submit(owner, suspension_body(uscc, today(), today() + timedelta(days=20)),
                             path="/api/v1/suspensions")
    assert first.status_code == 201, dump(first)
    await licence_status(api, ent["code"], "suspended")
    assert (await api.http.post(f"/api/v1/suspensions/{first.json()['id']}/resume", headers=headers)).status_code == 200
    await licence_status(api, ent["code"], "active")
    second = await api.submit(owner, suspension_body(uscc, today(), today() + timedelta(days=20)),
                              path="/api/v1/suspensions")
    assert second.status_code == 201, dump(second)
    await licence_status(api, ent["code"], "suspended")

    # The "resumed" and "registered" announcements arrive again, as after a relay's resend past JetStream's
    # duplicate window: the same event id under another Nats-Msg-Id.
    resumed = [e for e in await stream_events(dereg_nats, "DEREGISTRATION", "deregistration.enterprise.resumed")
               if e.data["uscc"] == uscc]
    registered = [e for e in await stream_events(dereg_nats, "REGISTRATION", "registration.enterprise.registered")
                  if e.data["uscc"] == uscc]
    assert len(resumed) == 1 and len(registered) == 1
    nc = await dereg_nats.connect()
    js = nc.jetstream()
    for subject, event in (("deregistration.enterprise.resumed", resumed[0]),
                           ("registration.enterprise.registered", registered[0])):
        await js.publish(subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())})
    await nc.close()
    await consumers_drained(dereg_nats, ("DEREGISTRATION", "registration-enterprise-changes"),
                            ("REGISTRATION", "deregistration-enterprise-registry"))

    assert (await api.http.get(f"/api/v1/licenses/{ent['code']}")).json()["status"] == "suspended"
    view = await known_enterprise(api, owner, uscc)
    assert view["status"] == "suspended" and view["suspension_id"] == second.json()["id"]
    assert (await api.get(owner, f"/api/v1/suspensions/{second.json()['id']}")).json()["status"] == "active"
