"""A new service is its rules, its table and one registry entry: a throwaway service declared in the test
suite (``tests.kit_service``) is migrated, routed, completes through NATS and streams its progress, with no
other edit anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import registry
from tests.sse import read_events
from tests.support import Api, Databases, dump, running_stack

pytestmark = pytest.mark.e2e


async def test_a_service_declared_in_one_registry_entry_runs_end_to_end(
        tmp_path: Path, databases: Databases, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(registry.SERVICE_MODULES_VARIABLE, "tests.kit_service")
    assert "kitdemo" in registry.services()
    with running_stack(tmp_path, databases) as stack:
        assert "kitdemo" in stack.procs  # started by the stack from the registry, not from the Procfile
        api = Api(stack.url_of("gateway"))
        try:
            submitted = await api.submit("kit-owner", {"title": "演示申请"}, path="/api/v1/kit-demos")
            assert submitted.status_code == 202, dump(submitted)
            app = submitted.json()
            assert [t["department"] for t in app["tasks"]] == ["samr", "tax"]
            assert app["number"].startswith("KIT-440703-")
            done = await api.wait_status("kit-owner", f"/api/v1/kit-demos/{app['id']}", {"completed"})
            assert {t["status"] for t in done["tasks"]} == {"approved"} and done["completed_at"]

            # Gathered across services by the gateway, and streamed until its final state.
            mine = (await api.get("kit-owner", "/api/v1/applications")).json()
            assert [a["id"] for a in mine["items"]] == [app["id"]] and mine["unavailable_services"] == []
            stream = await read_events(api.http, f"/api/v1/applications/{app['id']}/events",
                                       await api.as_("kit-owner"), timeout=30)
            assert stream.status == 200 and stream.ended
            assert stream.events[-1].data["status"] == "completed" and stream.events[-1].data["final"]
            assert stream.events[-1].data["service"] == "kitdemo"

            # Another applicant does not see it; the merged API document shows its paths.
            assert (await api.get("someone-else", f"/api/v1/kit-demos/{app['id']}")).status_code == 404
            document = (await api.http.get("/openapi.json")).json()
            assert "/api/v1/kit-demos" in document["paths"]
        finally:
            await api.close()
    monkeypatch.delenv(registry.SERVICE_MODULES_VARIABLE)
    assert "kitdemo" not in registry.services()
