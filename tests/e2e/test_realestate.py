"""不动产登记+交易+缴税 end to end through the gateway: an imported home is sold (the buyer confirms, the
registry, housing and tax are asked together, one payment is split to the fen, the buyer holds the new
certificate, the seller's is cancelled, the title shows each viewer what the law allows, and the utility
accounts follow with linked_utilities); 带押过户 with both mortgages entered with the transfer; and a
buyer's lender refusing, with nothing entered and the payment refunded. The bank is left to the tests."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from typing import Any

import pytest

from shared.identifiers import generate_uscc
from tests.support import Api, dump, eventually

pytestmark = pytest.mark.e2e
SELLER_ID = "11010519491231002X"
BUYER_ID = "440704198503152340"
BANK_OLD = generate_uscc("440700")
BANK_NEW = generate_uscc("440700")


def unit_number() -> str:
    return f"440703006001GB{random.randint(0, 99999):05d}F{random.randint(0, 99999999):08d}"


async def import_home(api: Api, seller: str, house: int, **extra: Any) -> dict[str, Any]:
    body = {"unit_number": unit_number(),
            "premises": {"district_code": "440703", "town_code": "440703006", "road": "建设三路",
                         "number": f"{house}号", "room": "801室"},
            "use": "residential", "area_m2": "89.50",
            "owners": [{"sub": seller, "name": "张三", "id_number": SELLER_ID, "share_percent": "100"}],
            "certificate_number": f"粤(2019)江门市不动产权第{random.randint(1, 9999999):07d}号", **extra}
    resp = await api.submit("registry-clerk", body, roles=("dept:nr",), path="/api/v1/admin/properties")
    assert resp.status_code == 201, dump(resp)
    return resp.json()


def transfer_body(unit: str, buyer: str, **extra: Any) -> dict[str, Any]:
    return {"unit_number": unit, "price_yuan": "1000000.00", "buyer_family_has_other_home": False,
            "acquired_on": "2015-01-01", "seller_family_only_home": True,
            "buyer": {"sub": buyer, "name": "李四", "id_number": BUYER_ID}, **extra}


async def start_transfer(api: Api, seller: str, buyer: str, unit: str, **extra: Any) -> dict[str, Any]:
    resp = await api.submit(seller, transfer_body(unit, buyer, **extra), path="/api/v1/transfers")
    assert resp.status_code == 202, dump(resp)
    app = resp.json()
    assert app["status"] == "awaiting_buyer" and {t["status"] for t in app["tasks"]} == {"waiting"}
    confirmed = await api.http.post(f"/api/v1/transfers/{app['id']}/confirmation", headers=await api.as_(buyer))
    assert confirmed.status_code == 200, dump(confirmed)
    tasks = {t["department"]: t for t in confirmed.json()["tasks"]}
    together = [tasks[d] for d in ("nr", "housing", "tax")]
    assert {t["status"] for t in together} == {"requested"} and len({t["requested_at"] for t in together}) == 1
    assert tasks["bank"]["status"] == "waiting"
    return await api.wait_status(seller, f"/api/v1/transfers/{app['id']}", {"awaiting_payment"})


async def bank_decides(api: Api, app: dict[str, Any], outcome: str, outputs: dict[str, Any],
                       comment: str | None = None) -> Any:
    bank = next(t for t in app["tasks"] if t["department"] == "bank")
    return await api.http.post(f"/api/v1/departments/bank/tasks/{bank['id']}/decision",
                               json={"outcome": outcome, "comment": comment, "outputs": outputs},
                               headers=await api.as_("payment-channel", "dept:bank"))


async def test_a_home_is_sold_paid_once_split_exactly_and_entered(api: Api) -> None:
    seller, buyer = f"seller-{uuid.uuid4().hex[:6]}", f"buyer-{uuid.uuid4().hex[:6]}"
    house = random.randint(200, 900)
    imported = await import_home(api, seller, house)
    unit = imported["unit_number"]

    # The seller's water account at the home, to move with it (联动过户).
    proof = {"kind": "property_certificate", "number": imported["certificate_number"]}
    water = await api.submit(seller, {"premises": {"district_code": "440703", "town_code": "440703006",
                                                   "road": "建设三路", "number": f"{house}号", "room": "801室"},
                                      "proof": proof, "utilities": {"water": {"diameter_mm": 20}}},
                             path="/api/v1/connections")
    assert water.status_code == 202, dump(water)
    await api.wait_status(seller, f"/api/v1/connections/{water.json()['id']}", {"completed"})

    app = await start_transfer(api, seller, buyer, unit, linked_utilities=True)
    assert (await api.get("someone-else", f"/api/v1/transfers/{app['id']}")).status_code == 404
    assert (await api.get(buyer, f"/api/v1/transfers/{app['id']}")).status_code == 200
    due = Decimal(app["amount_due"])
    assert due == sum(Decimal(c["amount"]) for c in app["charges"]) and due > 0

    wrong = await bank_decides(api, app, "approved", {"paid_yuan": str(due - Decimal("0.01")), "reference": "X1"})
    assert wrong.status_code == 409 and wrong.json()["code"] == "payment_amount_wrong", dump(wrong)
    unchanged = (await api.get(seller, f"/api/v1/transfers/{app['id']}")).json()
    assert unchanged["status"] == "awaiting_payment" and unchanged["payment"] is None

    paid = await bank_decides(api, app, "approved", {"paid_yuan": str(due), "reference": "JF0001"})
    assert paid.status_code == 200, dump(paid)
    done = await api.wait_status(buyer, f"/api/v1/transfers/{app['id']}", {"completed"})
    split = done["payment"]["allocations"]
    assert sum(Decimal(a["amount"]) for a in split) == due == Decimal(done["payment"]["paid"])
    assert {a["account"] for a in split} <= {"treasury", "registry"}
    assert all(a["account"] == ("registry" if a["charge"] == "registration_fee" else "treasury") for a in split)
    assert done["entered_at"] and len(done["certificates"]) == 1

    new = (await api.http.get(f"/api/v1/property-certificates/{done['certificates'][0]['verification_code']}")).json()
    assert new["status"] == "active" and new["holders"] == ["李*"]
    old = (await api.http.get(f"/api/v1/property-certificates/{imported['certificate_verification_code']}")).json()
    assert old["status"] == "cancelled"

    mine = (await api.get(buyer, f"/api/v1/titles/{unit}")).json()
    assert mine["full_view"] and [(o["name"], o["id_number"], o["share_percent"]) for o in mine["owners"]] == [
        ("李四", BUYER_ID, "100")]
    theirs = (await api.get("curious-neighbour", f"/api/v1/titles/{unit}")).json()
    assert not theirs["full_view"] and theirs["owners"][0]["name"] == "李*"
    assert theirs["owners"][0]["id_number"] == "440704********2340" and theirs["certificate_number"] is None
    assert (await api.http.get(f"/api/v1/titles/{unit}")).status_code == 401

    async def buyers_water() -> list[dict[str, Any]] | None:
        accounts = (await api.get(buyer, "/api/v1/utility-accounts")).json()["items"]
        return [a for a in accounts if a["utility"] == "water"] or None

    assert len(await eventually(buyers_water, timeout=30, what="the water account to move to the buyer")) == 1


async def test_transfer_with_mortgage_releases_the_old_and_enters_the_new_together(api: Api) -> None:
    seller, buyer = f"seller-{uuid.uuid4().hex[:6]}", f"buyer-{uuid.uuid4().hex[:6]}"
    imported = await import_home(api, seller, random.randint(200, 900), mortgages=[
        {"mortgagee_uscc": BANK_OLD, "mortgagee_name": "江门农商银行", "amount_yuan": "300000.00",
         "certificate_number": f"粤(2019)江门市不动产证明第{random.randint(1, 9999999):07d}号"}])
    mortgage = {"existing": "repay", "new_loan": {"lender_uscc": BANK_NEW, "lender_name": "江门工商银行",
                                                  "amount_yuan": "600000.00"}}
    app = await start_transfer(api, seller, buyer, imported["unit_number"], mortgage=mortgage)
    bank = next(t for t in app["tasks"] if t["department"] == "bank")
    assert bank["kind"] == "mortgage_and_payment"
    paid = await bank_decides(api, app, "approved", {"paid_yuan": app["amount_due"], "reference": "JF0002",
                                                     "seller_lender": "repaid", "buyer_lender": "lent"})
    assert paid.status_code == 200, dump(paid)
    done = await api.wait_status(buyer, f"/api/v1/transfers/{app['id']}", {"completed"})
    assert len(done["certificates"]) == 2  # the buyer's title, and the new mortgage's registration proof
    title = (await api.get(buyer, f"/api/v1/titles/{imported['unit_number']}")).json()
    assert [m["mortgagee_uscc"] for m in title["mortgages"]] == [BANK_NEW]
    assert title["owners"][0]["name"] == "李四"


async def test_the_buyers_lender_refuses_nothing_is_entered_and_the_payment_is_refunded(api: Api) -> None:
    seller, buyer = f"seller-{uuid.uuid4().hex[:6]}", f"buyer-{uuid.uuid4().hex[:6]}"
    imported = await import_home(api, seller, random.randint(200, 900), mortgages=[
        {"mortgagee_uscc": BANK_OLD, "mortgagee_name": "江门农商银行", "amount_yuan": "300000.00"}])
    mortgage = {"existing": "repay", "new_loan": {"lender_uscc": BANK_NEW, "lender_name": "江门工商银行",
                                                  "amount_yuan": "600000.00"}}
    app = await start_transfer(api, seller, buyer, imported["unit_number"], mortgage=mortgage)
    refused = await bank_decides(api, app, "rejected", {"paid_yuan": app["amount_due"], "reference": "JF0003",
                                                        "buyer_lender": "refused"}, comment="买方贷款银行拒贷")
    assert refused.status_code == 200, dump(refused)
    ended = await api.wait_status(seller, f"/api/v1/transfers/{app['id']}", {"rejected"})
    assert ended["entered_at"] is None and ended["certificates"] == []
    assert "拒贷" in ended["reason"]
    assert ended["payment"]["refunded"] and ended["payment"]["paid"] == app["amount_due"]
    assert {u["department"] for u in ended["payment"]["undone"]} >= {"nr", "housing", "tax", "bank"}
    title = (await api.get(seller, f"/api/v1/titles/{imported['unit_number']}")).json()
    assert title["owners"][0]["name"] == "张三" and [m["mortgagee_uscc"] for m in title["mortgages"]] == [BANK_OLD]
    old = (await api.http.get(f"/api/v1/property-certificates/{imported['certificate_verification_code']}")).json()
    assert old["status"] == "active"


async def test_only_the_owner_transfers_and_every_problem_is_named(api: Api) -> None:
    seller = f"seller-{uuid.uuid4().hex[:6]}"
    imported = await import_home(api, seller, random.randint(200, 900))
    stranger = await api.submit("not-the-owner", transfer_body(imported["unit_number"], "anyone"),
                                path="/api/v1/transfers")
    assert stranger.status_code == 403 and stranger.json()["code"] == "not_property_owner"
    bad = await api.submit(seller, transfer_body("not-a-unit", "anyone", price_yuan="1e6", acquired_on="2999-01-01"),
                           path="/api/v1/transfers")
    assert bad.status_code == 422
    assert {e["loc"][0] for e in bad.json()["errors"]} >= {"unit_number", "price_yuan", "acquired_on"}
    assert (await api.submit("a-citizen", {"unit_number": imported["unit_number"]},
                             path="/api/v1/admin/properties")).status_code in (403, 422)


async def test_a_lender_registers_and_releases_a_mortgage_online(api: Api) -> None:
    seller = f"owner-{uuid.uuid4().hex[:6]}"
    imported = await import_home(api, seller, random.randint(200, 900))
    unit = imported["unit_number"]
    officer = ("loan-officer", "dept:bank")
    filed = await api.submit(officer[0], {"unit_number": unit, "mortgagor": {"name": "张三", "id_number": SELLER_ID},
                                          "mortgagee_uscc": BANK_NEW, "mortgagee_name": "江门工商银行",
                                          "amount_yuan": "400000.00", "term_start": "2026-12-01",
                                          "term_end": "2046-11-30"}, roles=officer[1:], path="/api/v1/mortgages")
    assert filed.status_code == 202, dump(filed)
    assert [t["department"] for t in filed.json()["tasks"]] == ["nr"]
    assert (await api.submit(seller, {"unit_number": unit}, path="/api/v1/mortgages")).status_code in (403, 422)
    done = await api.wait_status(officer[0], f"/api/v1/mortgages/{filed.json()['id']}", {"completed"})
    proof = done["certificates"][0]["number"]
    assert "不动产证明" in proof
    title = (await api.get(seller, f"/api/v1/titles/{unit}")).json()
    assert [(m["mortgagee_uscc"], m["amount_yuan"]) for m in title["mortgages"]] == [(BANK_NEW, "400000.00")]

    release = await api.submit(officer[0], {"unit_number": unit, "certificate_number": proof,
                                            "mortgagee_uscc": BANK_NEW}, roles=officer[1:],
                               path="/api/v1/mortgages/releases")
    assert release.status_code == 202, dump(release)
    await api.wait_status(officer[0], f"/api/v1/mortgages/{release.json()['id']}", {"completed"})
    assert (await api.get(seller, f"/api/v1/titles/{unit}")).json()["mortgages"] == []


async def test_the_mortgage_may_stay_on_the_property(api: Api) -> None:
    seller, buyer = f"seller-{uuid.uuid4().hex[:6]}", f"buyer-{uuid.uuid4().hex[:6]}"
    imported = await import_home(api, seller, random.randint(200, 900), mortgages=[
        {"mortgagee_uscc": BANK_OLD, "mortgagee_name": "江门农商银行", "amount_yuan": "300000.00"}])
    app = await start_transfer(api, seller, buyer, imported["unit_number"], mortgage={"existing": "keep"})
    assert (await bank_decides(api, app, "approved", {"paid_yuan": app["amount_due"]})).status_code == 200
    await api.wait_status(buyer, f"/api/v1/transfers/{app['id']}", {"completed"})
    title = (await api.get(buyer, f"/api/v1/titles/{imported['unit_number']}")).json()
    assert title["owners"][0]["name"] == "李四" and [m["mortgagee_uscc"] for m in title["mortgages"]] == [BANK_OLD]


async def test_a_seizure_before_entry_stops_the_transfer_and_refunds(api: Api) -> None:
    seller, buyer = f"seller-{uuid.uuid4().hex[:6]}", f"buyer-{uuid.uuid4().hex[:6]}"
    imported = await import_home(api, seller, random.randint(200, 900))
    app = await start_transfer(api, seller, buyer, imported["unit_number"])
    seized = await api.submit("registry-clerk", {"authority": "江门市蓬江区人民法院", "reference": "(2026)粤0703执1号"},
                              roles=("dept:nr",), path=f"/api/v1/admin/properties/{imported['unit_number']}/seizures")
    assert seized.status_code == 201, dump(seized)
    assert (await bank_decides(api, app, "approved", {"paid_yuan": app["amount_due"]})).status_code == 200
    ended = await api.wait_status(seller, f"/api/v1/transfers/{app['id']}", {"rejected"})
    assert ended["entered_at"] is None and ended["payment"]["refunded"] and "查封" in ended["reason"]
    title = (await api.get(seller, f"/api/v1/titles/{imported['unit_number']}")).json()
    assert title["owners"][0]["name"] == "张三" and title["seizures"][0]["authority"] == "江门市蓬江区人民法院"
    again = await api.submit(seller, transfer_body(imported["unit_number"], buyer), path="/api/v1/transfers")
    assert again.status_code == 422 and again.json()["errors"][0]["code"] == "title_seized"
