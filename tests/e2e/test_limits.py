"""Limits at the gateway on a stack of their own (low rate limits, a small body limit, a short upstream
timeout): 429 with Retry-After per caller, 413 by length or while streaming, 504 for a stopped service and
503 for a dead one while every other route keeps working, and recovery once the service is back."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from services.stack import Stack
from shared.auth import issue_token
from shared.settings import Settings
from tests.support import Databases, dump, eventually, metric_value, registration_body, running_stack

WRITES, READS, MAX_BODY, TIMEOUT = 3, 10, 64 * 1024, 1.5


@pytest.fixture(scope="module")
def limited(session_tmp: Path, databases: Databases) -> Iterator[Stack]:
    with running_stack(session_tmp / "limits", databases, ONESTOP_RATE_LIMIT_WRITES_PER_MINUTE=str(WRITES),
                       ONESTOP_RATE_LIMIT_READS_PER_MINUTE=str(READS), ONESTOP_MAX_BODY_BYTES=str(MAX_BODY),
                       ONESTOP_UPSTREAM_TIMEOUT_SECONDS=str(TIMEOUT)) as stack:
        yield stack


@pytest.fixture
async def http(limited: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited.url_of("gateway"), timeout=30) as client:
        yield client


def auth(sub: str, *roles: str) -> dict[str, str]:
    """Tokens are made here rather than at the dev-token endpoint, which is a write like any other."""
    return {"authorization": f"Bearer {issue_token(Settings(), sub, list(roles or ('applicant',)))}"}


def assert_problem(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, dump(resp)
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["code"] == code and body["request_id"]
    return body


async def submit(http: httpx.AsyncClient, sub: str) -> httpx.Response:
    return await http.post("/api/v1/registrations", json=registration_body(),
                           headers={**auth(sub), "Idempotency-Key": str(uuid.uuid4())})


async def test_writes_over_the_limit_are_429_with_retry_after_per_caller(http: httpx.AsyncClient) -> None:
    for _ in range(WRITES):
        assert (await submit(http, "busy-writer")).status_code == 202
    refused = await submit(http, "busy-writer")
    assert_problem(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60 // WRITES
    assert (await submit(http, "calm-writer")).status_code == 202  # another caller is not affected
    # Writes and reads are counted apart.
    assert (await http.get("/api/v1/registrations", headers=auth("busy-writer"))).status_code == 200
    # Operators see the refusals (/metrics is not under /api, so no limit keeps the scraper out).
    metrics = await http.get("/metrics")
    assert metrics.status_code == 200
    assert (metric_value(metrics.text, "onestop_rate_limit_refusals_total", service="gateway", kind="writes") or 0) >= 1


async def test_reads_over_the_limit_are_429_and_anonymous_callers_count_by_address(
        http: httpx.AsyncClient) -> None:
    for _ in range(READS):
        assert (await http.get("/api/v1/applications", headers=auth("busy-reader"))).status_code == 200
    refused = await http.get("/api/v1/registrations", headers=auth("busy-reader"))
    assert_problem(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60 // READS
    assert (await http.get("/api/v1/applications", headers=auth("calm-reader"))).status_code == 200

    # Without a valid token the client's address is the caller: guessing tokens is limited too.
    statuses = [(await http.get("/api/v1/registrations", headers={"authorization": f"Bearer guess-{i}"})).status_code
                for i in range(READS + 1)]
    assert statuses == [401] * READS + [429]
    assert (await http.get("/api/v1/applications", headers=auth("calm-reader"))).status_code == 200


async def test_bodies_over_the_limit_are_413(http: httpx.AsyncClient) -> None:
    big = registration_body()
    big["enterprise"]["business_scope"] = ["软件开发" * 10] * (MAX_BODY // 30)
    headers = {**auth("big-sender"), "Idempotency-Key": str(uuid.uuid4())}
    assert_problem(await http.post("/api/v1/registrations", json=big, headers=headers), 413, "body_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while it streams
        for _ in range(MAX_BODY // 1024 + 2):
            yield b" " * 1024

    resp = await http.post("/api/v1/registrations", content=chunks(),
                           headers={**headers, "content-type": "application/json"})
    assert_problem(resp, 413, "body_too_large")
    # The gateway's own routes are bounded too.
    resp = await http.post("/api/v1/departments/tax/tasks/x/decision", json={"comment": "x" * MAX_BODY},
                           headers=auth("tax-officer", "dept:tax"))
    assert_problem(resp, 413, "body_too_large")
    # A body under the limit goes through.
    assert (await http.post("/api/v1/registrations", json=registration_body(),
                            headers={**headers, "Idempotency-Key": str(uuid.uuid4())})).status_code == 202


async def test_a_stopped_service_is_504_in_time_and_the_others_keep_working(
        limited: Stack, http: httpx.AsyncClient) -> None:
    process = limited.procs["registration"]
    os.killpg(process.pid, signal.SIGSTOP)
    try:
        resp = await http.get("/api/v1/registrations", headers=auth("patient-1"))
        body = assert_problem(resp, 504, "upstream_timeout")
        assert body["service"] == "registration"
        assert resp.elapsed.total_seconds() < TIMEOUT + 3
        gathered = await http.get("/api/v1/applications", headers=auth("patient-2"))
        assert gathered.status_code == 200 and gathered.json()["unavailable_services"] == ["registration"]
        if "deregistration" in limited.procs:
            assert (await http.get("/api/v1/deregistrations", headers=auth("patient-3"))).status_code == 200
        assert (await http.get("/api/v1/asyncapi.json", headers=auth("patient-4"))).status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGCONT)

    async def answers() -> bool:
        return (await http.get("/api/v1/registrations", headers=auth(f"patient-{uuid.uuid4()}"))).status_code == 200

    await eventually(answers, what="registration to answer again")


async def test_a_dead_service_is_503_and_comes_back(limited: Stack, http: httpx.AsyncClient) -> None:
    limited.kill("registration")
    try:
        resp = await http.get("/api/v1/registrations", headers=auth("hopeful-1"))
        body = assert_problem(resp, 503, "service_unavailable")
        assert body["service"] == "registration" and resp.headers["retry-after"]
        assert_problem(await submit(http, "hopeful-2"), 503, "service_unavailable")
        gathered = await http.get("/api/v1/applications", headers=auth("hopeful-3"))
        assert gathered.status_code == 200 and "registration" in gathered.json()["unavailable_services"]
        queue = await http.get("/api/v1/departments/tax/tasks", headers=auth("tax-officer-9", "dept:tax"))
        assert queue.status_code == 200 and "registration" in queue.json()["unavailable_services"]
        if "deregistration" in limited.procs:
            assert (await http.get("/api/v1/deregistrations", headers=auth("hopeful-4"))).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200  # the gateway itself is fine
    finally:
        limited.start("registration")
    resp = await submit(http, "hopeful-5")
    assert resp.status_code == 202, dump(resp)
