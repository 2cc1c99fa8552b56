"""水电气网联合报装 end to end through the gateway: a new enterprise is offered connections (主动办), accepts
with four utilities and road and green-space works, the permits are asked together, low-voltage power needs
no permit and costs nothing, four accounts open; 信用+报装 for power only; and a completed property
transfer moves the accounts to the buyer (联动过户)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from services.stack import Stack
from shared.events import TransferCompleted, TransferParty, make_event
from shared.records import utcnow
from shared.workdays import add_working_days
from tests.support import Api, connect_to_stack, dump, eventually, registration_body

pytestmark = pytest.mark.e2e
CERTIFICATE = {"kind": "property_certificate", "number": "粤(2026)江门市不动产权第0000001号"}
FOUR = {"power": {"voltage": "low", "capacity_kw": 100}, "water": {"diameter_mm": 25}, "gas": {"monthly_m3": 300},
        "telecom": {"bandwidth_mbps": 1000}}
ROAD_AND_GREEN = {"dig_city_road": True, "occupy_green_space": True, "highway": False}


async def open_enterprise(api: Api, owner: str) -> dict[str, Any]:
    """A new enterprise of ``owner``'s, once the utilities service has learnt of it (its offer is there)."""
    resp = await api.submit(owner, registration_body())
    assert resp.status_code == 202, dump(resp)
    done = await api.wait_status(owner, f"/api/v1/registrations/{resp.json()['id']}", {"completed"})
    await offer_for(api, owner, done["enterprise"]["uscc"])
    return done


async def offer_for(api: Api, owner: str, uscc: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        offers = (await api.get(owner, "/api/v1/connections/offers")).json()
        return next((o for o in offers if o["uscc"] == uscc), None)

    return await eventually(probe, what=f"an offer for {uscc}")


def by_department(app: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["department"]: t for t in app["tasks"]}


async def accounts_of(api: Api, who: str) -> list[dict[str, Any]]:
    return (await api.get(who, "/api/v1/utility-accounts")).json()["items"]


async def test_proactive_offer_accepted_permits_together_four_accounts_and_transfer(api: Api, stack: Stack) -> None:
    owner = f"utility-owner-{uuid.uuid4().hex[:6]}"
    enterprise = (await open_enterprise(api, owner))["enterprise"]
    offer = await offer_for(api, owner, enterprise["uscc"])
    assert offer["status"] == "open" and offer["premises_address"].endswith("建设三路88号1201室")

    accepted = await api.submit(owner, {"proof": CERTIFICATE, "utilities": FOUR, "external_works": ROAD_AND_GREEN},
                                path=f"/api/v1/connections/offers/{offer['id']}/accept")
    assert accepted.status_code == 202, dump(accepted)
    app = accepted.json()
    tasks = by_department(app)
    assert set(tasks) == {"urban", "traffic", "greening", "power", "water", "gas", "telecom"}
    permits = [tasks[d] for d in ("urban", "traffic", "greening")]
    # The permits are asked together, at submission, and all due within 5 working days of it.
    assert {t["status"] for t in permits} == {"requested"} and len({t["requested_at"] for t in permits}) == 1
    limit = add_working_days(datetime.fromisoformat(app["created_at"]), 5).at
    assert all(datetime.fromisoformat(t["due_at"]) <= limit for t in permits)
    # Low-voltage power (零审批): no permit of the applicant's to wait for, and no fee.
    assert tasks["power"]["status"] == "requested"
    assert {tasks[u]["status"] for u in ("water", "gas", "telecom")} == {"waiting"}
    fees = {f["utility"]: f["amount"] for f in app["fees"]}
    assert fees["power"] == "0.00" and fees["water"] != "0.00" and fees["gas"] != "0.00"
    assert app["uscc"] == enterprise["uscc"] and app["offer_id"] == offer["id"]

    done = await api.wait_status(owner, f"/api/v1/connections/{app['id']}", {"completed"})
    assert {t["status"] for t in done["tasks"]} == {"approved"}
    accounts = [a for a in await accounts_of(api, owner) if a["premises_address"] == app["premises_address"]]
    assert sorted(a["utility"] for a in accounts) == ["gas", "power", "telecom", "water"]
    assert (await api.get("another-applicant", f"/api/v1/connections/{app['id']}")).status_code == 404
    assert not any(o["id"] == offer["id"] for o in (await api.get(owner, "/api/v1/connections/offers")).json())

    # 联动过户: real estate announces the transfer of this property, the parties having opted in.
    buyer = f"utility-buyer-{uuid.uuid4().hex[:6]}"
    transfer = TransferCompleted(
        transfer_id=str(uuid.uuid4()), number="BDCDJ-440703-20261129-000001",
        unit_number="440703006001GB00001F00010001",
        district_code="440703", address=app["premises_address"], sellers=[TransferParty(sub=owner, name="张三")],
        buyers=[TransferParty(sub=buyer, name="李四")], linked_utilities=True, completed_at=utcnow())
    event = make_event("realestate.transfer.completed", transfer, source_service="realestate",
                       subject=transfer.transfer_id)
    nc = await connect_to_stack(stack)
    await nc.jetstream().publish("realestate.transfer.completed", event.model_dump_json().encode(),
                                 headers={"Nats-Msg-Id": event.id})
    await nc.close()

    async def buyers_transfer() -> dict[str, Any] | None:
        mine = (await api.get(buyer, "/api/v1/applications")).json()["items"]
        return next((a for a in mine if a["service"] == "utilities" and a["kind"] == "transfer"), None)

    moving = await eventually(buyers_transfer, what="the buyer's transfer application")
    assert sorted(t["department"] for t in moving["tasks"]) == ["gas", "power", "telecom", "water"]
    await api.wait_status(buyer, f"/api/v1/connections/{moving['id']}", {"completed"})
    assert sorted(a["account_number"] for a in await accounts_of(api, buyer)) == sorted(
        a["account_number"] for a in accounts)
    assert not [a for a in await accounts_of(api, owner) if a["premises_address"] == app["premises_address"]]


async def test_credit_report_for_power_only(api: Api) -> None:
    owner = f"credit-owner-{uuid.uuid4().hex[:6]}"
    uscc = (await open_enterprise(api, owner))["enterprise"]["uscc"]
    premises = {"district_code": "440703", "town_code": "440703006", "road": "建设三路", "number": "99号"}
    credit = {"kind": "credit_report", "number": "XY2026112900001"}
    power = await api.submit(owner, {"premises": premises, "uscc": uscc, "proof": credit,
                                     "utilities": {"power": {"voltage": "low", "capacity_kw": 50}}},
                             path="/api/v1/connections")
    assert power.status_code == 202, dump(power)
    await api.wait_status(owner, f"/api/v1/connections/{power.json()['id']}", {"completed"})

    water = await api.submit(owner, {"premises": premises, "uscc": uscc, "proof": credit,
                                     "utilities": {"power": {"voltage": "low", "capacity_kw": 50},
                                                   "water": {"diameter_mm": 25}}},
                             path="/api/v1/connections")
    assert water.status_code == 422, dump(water)
    errors = water.json()["errors"]
    assert [(e["loc"], e["code"]) for e in errors] == [(["utilities", "water"], "credit_report_power_only")]
    assert "信用" in errors[0]["message_zh"] and "property certificate" in errors[0]["message_en"]


async def test_every_problem_at_once_and_someone_elses_enterprise(api: Api) -> None:
    owner = f"strict-owner-{uuid.uuid4().hex[:6]}"
    uscc = (await open_enterprise(api, owner))["enterprise"]["uscc"]
    bad = await api.submit(owner, {"premises": {"district_code": "440703", "town_code": "440703999",
                                                "road": "建设三路", "number": "88号"},
                                    "proof": {"kind": "property_certificate", "number": "不是证号"},
                                    "utilities": {"power": {"voltage": "medium", "capacity_kw": 0}}},
                           path="/api/v1/connections")
    assert bad.status_code == 422
    assert {e["code"] for e in bad.json()["errors"]} >= {"unknown_town", "property_certificate_invalid",
                                                         "voltage_unknown", "capacity_invalid"}
    theirs = await api.submit("not-the-owner", {"premises": {"district_code": "440703", "town_code": "440703006",
                                                             "road": "建设三路", "number": "88号"},
                                                "uscc": uscc, "proof": CERTIFICATE,
                                                "utilities": {"water": {"diameter_mm": 25}}},
                              path="/api/v1/connections")
    assert theirs.status_code == 403 and theirs.json()["code"] == "not_enterprise_owner"
    none = await api.submit(owner, {"premises": {"district_code": "440703", "town_code": "440703006",
                                                 "road": "建设三路", "number": "88号"},
                                    "proof": CERTIFICATE, "utilities": {}}, path="/api/v1/connections")
    assert none.status_code == 422 and [e["code"] for e in none.json()["errors"]] == ["utilities_required"]
