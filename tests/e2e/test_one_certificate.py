"""一证通办 and 限时办结 in utilities, end to end through the gateway: a buyer who has just been entered in the
register applies for water with the verification code of the electronic certificate real estate issued, not the
paper (the number and unit are taken from it); an unknown code, the seller's cancelled one and someone else's are
refused naming the code. And with a modified catalogue (ONESTOP_CATALOGUE_PATH), the water supplier's task is due
after the catalogue's days, not the shipped ones."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.stack import Stack
from shared.workdays import add_working_days
from tests.e2e.test_realestate import bank_decides, import_home, start_transfer
from tests.support import Api, Databases, dump, eventually, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
WATER = {"water": {"diameter_mm": 20}}


def premises(house: int) -> dict[str, Any]:
    return {"district_code": "440703", "town_code": "440703006", "road": "建设三路", "number": f"{house}号",
            "room": "801室"}


def with_code(house: int, code: str) -> dict[str, Any]:
    return {"premises": premises(house), "proof": {"kind": "property_certificate", "verification_code": code},
            "utilities": WATER}


def code_problems(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 422, dump(resp)
    return [e["code"] for e in resp.json()["errors"] if e["loc"][-1] == "verification_code"]


async def test_the_buyer_applies_with_the_electronic_certificates_code(api: Api) -> None:
    seller, buyer = f"seller-{uuid.uuid4().hex[:6]}", f"buyer-{uuid.uuid4().hex[:6]}"
    house = random.randint(200, 900)
    imported = await import_home(api, seller, house)
    app = await start_transfer(api, seller, buyer, imported["unit_number"])
    paid = await bank_decides(api, app, "approved", {"paid_yuan": str(Decimal(app["amount_due"])), "reference": "J1"})
    assert paid.status_code == 200, dump(paid)
    done = await api.wait_status(buyer, f"/api/v1/transfers/{app['id']}", {"completed"})
    code = done["certificates"][0]["verification_code"]

    async def accepted() -> httpx.Response | None:
        # Utilities learns of the certificate from real estate's announcement: until then the code is unknown.
        resp = await api.submit(buyer, with_code(house, code.lower()), path="/api/v1/connections")
        return resp if resp.status_code == 202 else None

    connection = (await eventually(accepted, what="the certificate to be known to utilities")).json()
    assert connection["proof_kind"] == "property_certificate"
    assert connection["proof_number"] == done["certificates"][0]["number"]
    assert connection["proof_unit_number"] == imported["unit_number"]

    cancelled = await api.submit(seller, with_code(house, imported["certificate_verification_code"]),
                                 path="/api/v1/connections")
    assert code_problems(cancelled) == ["certificate_cancelled"]
    unknown = await api.submit(buyer, with_code(house, "NOSUCHCODE0000"), path="/api/v1/connections")
    assert code_problems(unknown) == ["certificate_unknown"]
    assert "NOSUCHCODE0000" in unknown.json()["errors"][0]["message_en"]
    not_theirs = await api.submit("someone-else", with_code(house, code), path="/api/v1/connections")
    assert code_problems(not_theirs) == ["certificate_not_holder"]
    # The code stands for a certificate only, and every problem comes in one reply.
    both = await api.submit(buyer, {**with_code(house, code), "proof": {"kind": "credit_report", "number": "X",
                                                                        "verification_code": code}},
                            path="/api/v1/connections")
    assert "verification_code_certificate_only" in code_problems(both)


# --- 限时办结 from the catalogue ------------------------------------------------------------------------------------

WATER_DAYS = 7  # the shipped catalogue says 5


@pytest.fixture(scope="module")
def slower_water(session_tmp: Path, databases: Databases) -> Iterator[Stack]:
    shipped = json.loads((Path(__file__).resolve().parents[2] / "shared" / "data" / "catalogue.json").read_text())
    for entry in shipped["entries"]:
        if entry["code"] == "water_connection":
            next(s for s in entry["steps"] if s["department"] == "water")["working_days"] = WATER_DAYS
    path = session_tmp / "catalogue-slower-water.json"
    path.write_text(json.dumps(shipped, ensure_ascii=False), encoding="utf-8")
    # Water left to people, so its task stays requested for the test to read.
    with running_stack(session_tmp / "slower-water", databases, ONESTOP_CATALOGUE_PATH=str(path),
                       ONESTOP_SIMULATED_DEPARTMENTS="none") as stack:
        yield stack


@pytest.fixture
async def slower_api(slower_water: Stack) -> AsyncIterator[Api]:
    client = Api(slower_water.url_of("gateway"))
    yield client
    await client.close()


async def test_the_water_task_is_due_after_the_catalogues_days(slower_api: Api) -> None:
    proof = {"kind": "property_certificate", "number": "粤(2024)江门市不动产权第0000001号"}
    body = {"premises": premises(random.randint(200, 900)), "proof": proof, "utilities": WATER}
    resp = await slower_api.submit("water-applicant", body, path="/api/v1/connections")
    assert resp.status_code == 202, dump(resp)
    app = resp.json()
    water = next(t for t in app["tasks"] if t["department"] == "water")
    requested = datetime.fromisoformat(water["requested_at"])
    assert datetime.fromisoformat(water["due_at"]) == add_working_days(requested, WATER_DAYS).at
    assert datetime.fromisoformat(app["due_at"]) == add_working_days(datetime.fromisoformat(app["created_at"]),
                                                                     WATER_DAYS).at
    guide = (await slower_api.http.get("/api/v1/catalogue/water_connection")).json()
    assert next(s for s in guide["steps"] if s["department"]["code"] == "water")["working_days"] == WATER_DAYS
