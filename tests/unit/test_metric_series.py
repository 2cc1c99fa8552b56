"""``/metrics`` of one app: requests by route template (never the raw path), replays counted where answers are
stored, a registry per app, probes run at scrape time; and readiness with figures beside its checks."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared.idempotency import REPLAYED_HEADER
from shared.metrics import UNMATCHED, Metrics
from shared.web import CheckReading, health_router, install_common
from tests.support import metric_value as value


def app_with(metrics: Metrics) -> FastAPI:
    app = FastAPI()
    install_common(app, metrics)

    @app.get("/api/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @app.post("/api/v1/things")
    async def create() -> JSONResponse:
        # As shared.idempotency answers a retry with the stored first answer.
        return JSONResponse({"id": "1"}, status_code=202, headers={REPLAYED_HEADER: "true"})

    return app


async def scrape(client: httpx.AsyncClient) -> str:
    resp = await client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return resp.text


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://unit")


async def test_requests_are_counted_by_route_template_and_status() -> None:
    app = app_with(Metrics("unit"))
    async with client_of(app) as client:
        for thing in ("a", "b", "c"):
            assert (await client.get(f"/api/v1/things/{thing}")).status_code == 200
        assert (await client.get("/api/v1/no-such/123")).status_code == 404
        assert (await client.get("/api/v1/no-such/456")).status_code == 404
        text = await scrape(client)
    assert value(text, "onestop_http_requests_total", service="unit", method="GET",
                 route="/api/v1/things/{thing_id}", status="200") == 3
    # Every unmatched path is one series, whatever was asked.
    assert value(text, "onestop_http_requests_total", service="unit", method="GET", route=UNMATCHED,
                 status="404") == 2
    assert "/api/v1/things/a" not in text and "no-such" not in text
    assert value(text, "onestop_http_request_duration_seconds_count", service="unit", method="GET",
                 route="/api/v1/things/{thing_id}") == 3


async def test_replays_are_counted_where_the_answers_are_stored_only() -> None:
    service, gateway = app_with(Metrics("svc")), app_with(Metrics("gw", owns_idempotency=False))
    for app in (service, gateway):
        async with client_of(app) as client:
            await client.post("/api/v1/things")
            await client.post("/api/v1/things")
            text = await scrape(client)
        replays = value(text, "onestop_idempotency_replays_total", service=app.state.metrics.service,
                        route="/api/v1/things")
        assert replays == (2 if app is service else None)


async def test_each_app_has_its_own_registry() -> None:
    one, two = app_with(Metrics("one")), app_with(Metrics("two"))
    async with client_of(one) as first, client_of(two) as second:
        await first.get("/api/v1/things/x")
        text = await scrape(second)
    assert 'service="one"' not in text
    assert value(text, "onestop_http_requests_total", service="two", method="GET", route="/api/v1/things/{thing_id}",
                 status="200") is None


async def test_probes_run_at_scrape_time_and_a_failing_one_does_not_fail_the_scrape() -> None:
    metrics = Metrics("probed")
    backlog = metrics.gauge("onestop_outbox_unsent_events", "unsent")
    seen = {"unsent": 4}

    async def fine() -> None:
        metrics.set(backlog, seen["unsent"])

    async def broken() -> None:
        raise ConnectionError("no database")

    metrics.probe("outbox", fine)
    metrics.probe("tasks", broken)
    metrics.count_from("onestop_rate_limit_refusals", "refused", ["kind"], lambda: {("writes",): 2.0})
    app = app_with(metrics)
    async with client_of(app) as client:
        assert value(await scrape(client), "onestop_outbox_unsent_events", service="probed") == 4
        seen["unsent"] = 0
        text = await scrape(client)
    assert value(text, "onestop_outbox_unsent_events", service="probed") == 0
    assert value(text, "onestop_metrics_probe_up", service="probed", probe="outbox") == 1
    assert value(text, "onestop_metrics_probe_up", service="probed", probe="tasks") == 0
    assert value(text, "onestop_rate_limit_refusals_total", service="probed", kind="writes") == 2


async def test_metrics_are_not_in_the_openapi_document() -> None:
    app = app_with(Metrics("doc"))
    assert "/metrics" not in app.openapi()["paths"]


async def test_readiness_figures_sit_beside_the_checks() -> None:
    async def outbox_stuck() -> CheckReading:
        return CheckReading(ready=False, note="3 event(s) unsent for 40 s: the bus is disconnected",
                            detail={"unsent": 3, "oldest_unsent_age_seconds": 40.0})

    async def consumers() -> CheckReading:
        return CheckReading(detail={"registration-task-answers": {"exists": True, "pending": 0}})

    app = FastAPI()
    app.include_router(health_router({"outbox": outbox_stuck, "consumers": consumers}))
    async with client_of(app) as client:
        resp = await client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json() == {
        "status": "unavailable",
        "checks": {"outbox": "unavailable: 3 event(s) unsent for 40 s: the bus is disconnected", "consumers": "ok"},
        "details": {"outbox": {"unsent": 3, "oldest_unsent_age_seconds": 40.0},
                    "consumers": {"registration-task-answers": {"exists": True, "pending": 0}}},
    }


def test_the_outbox_stalls_only_when_old_events_cannot_leave() -> None:
    from datetime import timedelta

    from shared.outbox import Backlog
    from shared.records import utcnow
    from shared.service import OutboxHealth

    def health(age: float | None, *, error: str | None = None, connected: bool = True) -> OutboxHealth:
        oldest = None if age is None else utcnow() - timedelta(seconds=age)
        return OutboxHealth(backlog=Backlog(unsent=0 if age is None else 2, oldest_created_at=oldest),
                            oldest_age_seconds=age, relay_error=error, bus_connected=connected, stall_seconds=30)

    assert health(None, connected=False).reading().ready  # nothing waits: nothing is stuck
    assert health(5, error="TimeoutError()").reading().ready  # young events: the relay retries
    slow = health(45).reading()  # old events, but the relay publishes: slow, not stuck
    assert slow.ready and slow.note == "2 event(s) unsent, the oldest for 45 s"
    for stuck in (health(45, error="TimeoutError()"), health(45, connected=False)):
        reading = stuck.reading()
        assert not reading.ready and reading.note is not None and reading.note.startswith("2 event(s) unsent for 45 s")
        assert reading.detail is not None and reading.detail["unsent"] == 2
