"""The service catalogue (办事指南) is public at the gateway: every service item, in either language or both."""

from __future__ import annotations

from datetime import datetime

import pytest

from shared import catalogue, registry
from shared.workdays import LOCAL_TZ
from tests.support import Api, dump

pytestmark = pytest.mark.e2e


async def test_the_catalogue_lists_every_service_item_without_login(api: Api) -> None:
    today = datetime.now(LOCAL_TZ).date()
    listed = await api.http.get("/api/v1/catalogue")
    assert listed.status_code == 200, dump(listed)
    items = listed.json()["items"]
    assert {i["code"] for i in items} == {e.code for e in catalogue.entries(today)}
    # Every service that takes applications has its items; the materials service keeps documents, it is no item.
    assert {i["service"] for i in items} == {s.name for s in registry.with_applications()}
    english = (await api.http.get("/api/v1/catalogue/enterprise_opening", params={"lang": "en"})).json()
    chinese = (await api.http.get("/api/v1/catalogue/enterprise_opening")).json()
    assert english["code"] == chinese["code"] == "enterprise_opening" and english["name"] != chinese["name"]
    assert english["time_limit_working_days"] == catalogue.time_limit("enterprise_opening", today) == 1
    unknown = await api.http.get("/api/v1/catalogue/no-such-item")
    assert unknown.status_code == 404 and unknown.json()["code"] == "catalogue_item_unknown"
    assert (await api.http.get("/api/v1/catalogue", params={"lang": "fr"})).status_code == 422
