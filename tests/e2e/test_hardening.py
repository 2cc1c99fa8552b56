"""The gateway's and the services' hardening, on a stack of their own: paths with dot segments or encoded
slashes are 400 (they reached a service's own /openapi.json without a token), two Authorization headers are
400, X-Forwarded-For counts only from a trusted proxy, progress streams are capped per caller and in all
(429 with Retry-After), a Last-Event-ID from far away is clamped, a stream ends when its token expires, and
every service refuses a body over the gateway's limit when called directly."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from services.gateway.guard import client_address, path_problem, trusted_networks
from services.gateway.progress import Cursor, ProgressFeed
from services.stack import Stack
from shared import registry
from shared.auth import issue_token
from shared.events import TASKS_STREAM
from shared.settings import Settings
from tests.conftest import SIMULATED_BUT_BANK
from tests.sse import SseEvent, read_events
from tests.support import Databases, connect_to_stack, dump, eventually, registration_body, running_stack

MAX_BODY, READS, PER_CALLER, TOTAL = 64 * 1024, 8, 2, 3
PROXY = "127.0.0.2"  # the stack's one trusted proxy: a client connecting from this loopback address


@pytest.fixture(scope="module")
def hardened(session_tmp: Path, databases: Databases) -> Iterator[Stack]:
    # The bank is left to people, so an application with a bank account stays open for its streams.
    with running_stack(session_tmp / "hardened", databases, ONESTOP_SIMULATED_DEPARTMENTS=SIMULATED_BUT_BANK,
                       ONESTOP_MAX_BODY_BYTES=str(MAX_BODY), ONESTOP_RATE_LIMIT_READS_PER_MINUTE=str(READS),
                       ONESTOP_TRUSTED_PROXIES=PROXY, ONESTOP_PROGRESS_STREAMS_PER_CALLER=str(PER_CALLER),
                       ONESTOP_PROGRESS_STREAMS_TOTAL=str(TOTAL)) as stack:
        yield stack


@pytest.fixture
async def http(hardened: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hardened.url_of("gateway"), timeout=30) as client:
        yield client


def auth(sub: str, *roles: str, ttl: int = 3600) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(Settings(), sub, list(roles or ('applicant',)), ttl_seconds=ttl)}"}


def assert_problem(status: int, content_type: str | None, body: bytes, expected: int, code: str) -> dict[str, Any]:
    assert status == expected, (status, body[:300])
    assert (content_type or "").startswith("application/problem+json"), content_type
    problem = json.loads(body)
    assert problem["status"] == expected and problem["code"] == code and problem["request_id"], problem
    return problem


def _raw(base_url: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None) -> Any:
    url = urlsplit(base_url)
    conn = HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.getheader("content-type"), resp.read()
    finally:
        conn.close()


async def raw(base_url: str, path: str, headers: list[tuple[str, str]] | None = None, *,
              method: str = "GET", body: bytes | None = None) -> tuple[int, str | None, bytes]:
    """A request sent as written: httpx would resolve the dot segments and merge repeated headers first."""
    return await asyncio.to_thread(_raw, base_url, method, path, headers or [], body)


# --- 1. Paths and headers the gateway refuses ----------------------------------------------------------------

# Each of these went through the anonymous licence prefix; the first reached the registration service's own
# OpenAPI document (and /docs) without a token.
MALFORMED = [
    "/api/v1/licenses/../../../openapi.json",
    "/api/v1/licenses/../../../docs",
    "/api/v1/licenses/..%2F..%2F..%2Fopenapi.json",
    "/api/v1/licenses/..%2f..%2f..%2fdocs",
    "/api/v1/licenses/%2e%2e/%2e%2e/%2E%2E/openapi.json",
    "/api/v1/licenses/%252e%252e/%252e%252e/%252e%252e/openapi.json",
    "/api/v1/licenses/..\\..\\..\\openapi.json",
    "/api/v1/licenses/x%5C..%5C..%5Copenapi.json",
    "/api/v1/licenses/./ABC",
    "/api/v1/licenses//ABC",
    "/api/v1/registrations/..",
    "/api/v1/registrations//x",
    "/api/v1/registrations/a%2Fb",
    "/api/v1/licenses/a%00b",
]


async def test_dot_segments_encoded_slashes_and_empty_segments_are_400(hardened: Stack) -> None:
    gateway = hardened.url_of("gateway")
    token = auth("path-prober")["authorization"]
    for path in MALFORMED:
        for headers in ([], [("Authorization", token)]):
            status, content_type, body = await raw(gateway, path, headers)
            problem = assert_problem(status, content_type, body, 400, "malformed_path")
            assert "paths" not in problem and b"swagger" not in body.lower(), path
    # The same routes with a plain path still answer as before.
    status, _, body = await raw(gateway, "/api/v1/licenses/NO-SUCH-CODE")
    assert status == 404 and json.loads(body)["code"] != "malformed_path"
    status, _, _ = await raw(gateway, "/api/v1/registrations", [("Authorization", token)])
    assert status == 200


def test_what_a_path_is_refused_for() -> None:
    refused = {
        b"/a/../b": "/a/../b", b"/a/./b": "/a/./b", b"/a/%2e%2E/b": "/a/../b", b"/a%2Fb": "/a/b",
        b"/a%5cb": "/a\\b", b"/a\\b": "/a\\b", b"/a//b": "/a//b", b"/a/%252e%252e/b": "/a/%2e%2e/b",
        b"/a/%252Fb": "/a/%2Fb", b"/a/%0a": "/a/\n",
    }
    for raw_path, path in refused.items():
        assert path_problem(raw_path, path) is not None, raw_path
    for raw_path, path in {b"/api/v1/licenses/ABC": "/api/v1/licenses/ABC", b"/a/b/": "/a/b/", b"/": "/",
                           b"/a/..b/c.d": "/a/..b/c.d", b"/a/%E6%B1%9F": "/a/江", b"/a/100%25": "/a/100%"}.items():
        assert path_problem(raw_path, path) is None, raw_path


async def test_two_authorization_headers_are_400_at_the_gateway_and_at_a_service(hardened: Stack) -> None:
    alice, admin = auth("twice-alice")["authorization"], auth("twice-root", "admin")["authorization"]
    for base in (hardened.url_of("gateway"), hardened.url_of("registration")):
        for path in ("/api/v1/registrations", "/api/v1/admin/task-decisions"):
            status, content_type, body = await raw(base, path, [("Authorization", alice), ("Authorization", admin)])
            assert_problem(status, content_type, body, 400, "duplicate_authorization")
        status, _, _ = await raw(base, "/api/v1/registrations", [("Authorization", alice)])
        assert status == 200, base
    # Refused before anything else, on anonymous routes too.
    status, content_type, body = await raw(hardened.url_of("gateway"), "/api/v1/licenses/ABC",
                                           [("Authorization", alice), ("Authorization", alice)])
    assert_problem(status, content_type, body, 400, "duplicate_authorization")


# --- X-Forwarded-For ---------------------------------------------------------------------------------------


def test_the_client_behind_trusted_proxies_is_the_nearest_untrusted_address() -> None:
    proxies = trusted_networks("10.0.0.0/8, 127.0.0.2")
    assert client_address("127.0.0.1", ["203.0.113.9"], proxies) == "127.0.0.1"  # an untrusted peer
    assert client_address("127.0.0.2", ["203.0.113.9"], proxies) == "203.0.113.9"
    # A client's own X-Forwarded-For is read past: the proxy appended the address it saw.
    assert client_address("10.1.1.1", ["1.2.3.4, 203.0.113.9"], proxies) == "203.0.113.9"
    assert client_address("10.1.1.1", ["1.2.3.4", "203.0.113.9, 10.2.2.2"], proxies) == "203.0.113.9"
    assert client_address("10.1.1.1", ["10.3.3.3, 10.2.2.2"], proxies) == "10.3.3.3"  # only proxies
    assert client_address("10.1.1.1", ["not-an-address"], proxies) == "10.1.1.1"
    assert client_address("10.1.1.1", ["[2001:db8::1]:443"], proxies) == "2001:db8::1"
    assert client_address("10.1.1.1", [], proxies) == "10.1.1.1"
    assert client_address("127.0.0.1", ["203.0.113.9"], trusted_networks("")) == "127.0.0.1"  # the default
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        trusted_networks("10.0.0.0/8,not-a-network")


async def test_forwarded_for_buys_no_fresh_bucket_unless_a_trusted_proxy_sends_it(hardened: Stack) -> None:
    """Anonymous callers count by address. A loopback client naming another address in X-Forwarded-For
    used to get a fresh bucket; now only the configured proxy (127.0.0.2 here) is believed."""
    gateway = hardened.url_of("gateway")
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as direct:
        statuses = [(await direct.get("/api/v1/registrations")).status_code for _ in range(READS + 1)]
        assert statuses[-1] == 429 and set(statuses[:-1]) <= {401, 429}, statuses
        for forwarded in ("127.0.0.1", "203.0.113.7", "203.0.113.8, 198.51.100.1"):
            again = await direct.get("/api/v1/registrations", headers={"X-Forwarded-For": forwarded})
            assert again.status_code == 429, (forwarded, again.status_code)
    transport = httpx.AsyncHTTPTransport(local_address=PROXY)
    async with httpx.AsyncClient(base_url=gateway, timeout=30, transport=transport) as proxy:
        # The proxy's own address is a caller like any other...
        assert (await proxy.get("/api/v1/registrations")).status_code == 401
        # ...and the client it names is counted on its own.
        for i in range(READS):
            resp = await proxy.get("/api/v1/registrations", headers={"X-Forwarded-For": "203.0.113.50"})
            assert resp.status_code == 401, (i, resp.status_code)
        resp = await proxy.get("/api/v1/registrations", headers={"X-Forwarded-For": "203.0.113.50"})
        assert resp.status_code == 429
        resp = await proxy.get("/api/v1/registrations", headers={"X-Forwarded-For": "203.0.113.51"})
        assert resp.status_code == 401


# --- Progress streams: caps, Last-Event-ID, token expiry ----------------------------------------------------


async def open_application(http: httpx.AsyncClient, sub: str) -> str:
    """An application that stays open: its bank task waits for a person."""
    body = registration_body(bank_account=True, bank_name="中国银行江门分行")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    resp = await http.post("/api/v1/registrations", json=body, headers={**auth(sub), **key})
    assert resp.status_code == 202, dump(resp)
    return str(resp.json()["id"])


def events_path(app_id: str) -> str:
    return f"/api/v1/applications/{app_id}/events"


class Listener:
    """A progress stream held open until closed."""

    def __init__(self, http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
        self.http, self.path, self.headers = http, path, headers
        self.stack = AsyncExitStack()
        self.response: httpx.Response | None = None
        self.lines: AsyncIterator[str] | None = None

    async def open(self) -> httpx.Response:
        self.response = await self.stack.enter_async_context(
            self.http.stream("GET", self.path, headers={"accept": "text/event-stream", **self.headers}))
        if self.response.status_code == 200:
            # Kept: an iterator dropped half-way is closed when collected, and the connection with it.
            self.lines = self.response.aiter_lines()
            while not (await anext(self.lines)).startswith("data:"):  # the first event: the slot is held
                pass
        else:
            await self.response.aread()
        return self.response

    async def close(self) -> None:
        await self.stack.aclose()


async def test_progress_streams_are_capped_per_caller_and_in_all(hardened: Stack, http: httpx.AsyncClient) -> None:
    app_id = await open_application(http, "streaming-owner")
    owner, root, other_root = auth("streaming-owner"), auth("streaming-root", "admin"), auth("other-root", "admin")
    listeners: list[Listener] = []
    try:
        for _ in range(PER_CALLER):
            listeners.append(Listener(http, events_path(app_id), owner))
            assert (await listeners[-1].open()).status_code == 200
        third = Listener(http, events_path(app_id), owner)
        refused = await third.open()
        await third.close()
        assert_problem(refused.status_code, refused.headers.get("content-type"), refused.content, 429,
                       "too_many_streams")
        assert int(refused.headers["retry-after"]) >= 1
        # Another caller may still listen, up to the gateway's total.
        listeners.append(Listener(http, events_path(app_id), root))
        assert (await listeners[-1].open()).status_code == 200
        over_total = Listener(http, events_path(app_id), other_root)
        refused = await over_total.open()
        await over_total.close()
        assert_problem(refused.status_code, refused.headers.get("content-type"), refused.content, 429,
                       "too_many_streams")
        assert "gateway" in json.loads(refused.content)["detail"]
        # A stream that closes gives its slot back.
        await listeners.pop(0).close()

        async def reopened() -> Listener | None:
            listener = Listener(http, events_path(app_id), owner)
            if (await listener.open()).status_code == 200:
                return listener
            await listener.close()
            return None

        listeners.append(await eventually(reopened, timeout=20, interval=1.0, what="a slot to be given back"))
    finally:
        for listener in listeners:
            await listener.close()


async def test_a_last_event_id_from_far_away_is_clamped(hardened: Stack, http: httpx.AsyncClient) -> None:
    """A cursor beyond the end of the streams (never issued: it used to wait there in silence, and one past
    2^64 was a 500) starts from the beginning; one older than the application starts at its creation."""
    app_id = await open_application(http, "resuming-owner")
    owner = auth("resuming-owner")

    def two(seen: list[SseEvent]) -> bool:
        return len(seen) >= 2

    fresh = await read_events(http, events_path(app_id), owner, stop=two, timeout=30)
    assert fresh.status == 200 and len(fresh.events) == 2
    for far in ("999999999-999999999", "99999999999999999999-99999999999999999999"):
        resumed = await read_events(http, events_path(app_id), {**owner, "Last-Event-ID": far}, stop=two, timeout=30)
        assert resumed.status == 200, (far, resumed.status, resumed.problem)
        assert [e.data["event_id"] for e in resumed.events] == [e.data["event_id"] for e in fresh.events], far

    # At the broker: a cursor at a message older than the application is read from the application's creation
    # (and what it had seen is still skipped); a recent one is resumed after; one past the end is not followed.
    nc = await connect_to_stack(hardened)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(TASKS_STREAM)).state.last_seq
        assert last >= 2
        spec = registry.service("registration")
        old_application = ProgressFeed(js, spec, app_id, datetime.now(UTC) + timedelta(hours=1), Cursor())
        assert await old_application._resume(TASKS_STREAM, 1) == (0, 1)
        young_application = ProgressFeed(js, spec, app_id, datetime.now(UTC) - timedelta(hours=1), Cursor())
        assert await young_application._resume(TASKS_STREAM, last) == (last, last)
        assert await young_application._resume(TASKS_STREAM, last + 10**6) == (0, 0)
    finally:
        await nc.close()


async def test_a_stream_ends_when_its_token_expires(http: httpx.AsyncClient) -> None:
    app_id = await open_application(http, "expiring-owner")
    ttl = 4
    short = auth("expiring-owner", ttl=ttl)
    started = time.monotonic()
    stream = await read_events(http, events_path(app_id), short, timeout=60)
    took = time.monotonic() - started
    assert stream.status == 200 and stream.ended and stream.events, stream
    assert not any(e.data.get("final") for e in stream.events)  # the application is still open
    assert took < ttl + 10, took
    # Reconnecting with it is refused (within the verifier's leeway too); a fresh token listens again.
    again = await read_events(http, events_path(app_id), short, timeout=30)
    assert again.status == 401 and again.problem and again.problem["code"] == "unauthenticated"
    fresh = await read_events(http, events_path(app_id), auth("expiring-owner"), stop=lambda seen: len(seen) >= 1)
    assert fresh.status == 200 and fresh.events


# --- 2. Every service applies the body limit ----------------------------------------------------------------


async def test_every_service_refuses_a_body_over_the_limit_when_called_directly(hardened: Stack) -> None:
    big = registration_body()
    big["enterprise"]["business_scope"] = ["软件开发" * 10] * (MAX_BODY // 30)
    payload = json.dumps(big, ensure_ascii=False).encode()
    assert len(payload) > MAX_BODY
    headers = {**auth("big-sender"), "content-type": "application/json"}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while it streams
        for _ in range(MAX_BODY // 1024 + 2):
            yield b" " * 1024

    async with httpx.AsyncClient(timeout=30) as client:
        for spec in registry.services().values():
            path = next(p for p in spec.public_prefixes if not p.endswith("/"))
            if path in registry.upload_paths():
                # An upload route takes up to the upload limit (its own test); any other path of the service
                # keeps the common limit, refused before routing.
                path += "/not-an-upload"
            url = hardened.url_of(spec.name) + path
            for content in (payload, chunks()):
                key = {"Idempotency-Key": str(uuid.uuid4())}
                resp = await client.post(url, content=content, headers={**headers, **key})
                assert_problem(resp.status_code, resp.headers.get("content-type"), resp.content, 413, "body_too_large")
                assert resp.headers["x-request-id"] == resp.json()["request_id"], spec.name
        # Under the limit, the service reads the body as before.
        resp = await client.post(hardened.url_of("registration") + "/api/v1/registrations", json=registration_body(),
                                 headers={**auth("small-sender"), "Idempotency-Key": str(uuid.uuid4())})
        assert resp.status_code == 202, dump(resp)
