"""The dev stack: every process of the Procfile, supervised together (``make run``; the e2e tests).

``python -m services.stack`` migrates every database, starts ``nats-server`` from the wheel with
JetStream, each service, the gateway and the simulated departments, waits until each answers, and stops
them all on Ctrl-C. Ports and databases come from the environment, so a test can run a second stack
beside the first.

``ONESTOP_NATS_CLUSTER=3`` starts three ``nats-server`` nodes routed into one JetStream cluster instead
(``nats-1``… on ``ONESTOP_NATS_PORT`` and the ports after it, routes from ``ONESTOP_NATS_ROUTE_PORT``), every
process given all of them, and the streams three copies each."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from shared import natsauth, registry
from shared.settings import DEFAULT_NATS_PORT

DEFAULT_ROUTE_PORT = 16222

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_procfile(path: Path = PROCFILE) -> dict[str, str]:
    """Process name → command line."""
    entries = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line.strip())
        if match:
            entries[match.group(1)] = match.group(2)
    return entries


def with_declared_services(commands: dict[str, str]) -> dict[str, str]:
    """The Procfile's processes, plus any declared service it does not name (served by ``shared.serve``),
    started before the gateway and the simulated departments."""
    missing = {s.name: registry.serve_command(s.name) for s in registry.services().values() if s.name not in commands}
    if not missing:
        return commands
    ordered: dict[str, str] = {}
    for name, command in commands.items():
        if name == registry.GATEWAY:
            ordered.update(missing)
        ordered[name] = command
    for name, command in missing.items():
        ordered.setdefault(name, command)
    return ordered


def cluster_nodes(env: dict[str, str]) -> list[natsauth.ClusterNode]:
    """The nodes ``ONESTOP_NATS_CLUSTER`` asks for (none for a single broker), their routes on loopback."""
    size = int(env.get("ONESTOP_NATS_CLUSTER") or 1)
    if size == 1:
        return []
    if size < 3:
        raise SystemExit(f"ONESTOP_NATS_CLUSTER={size}: a cluster needs 3 nodes or more to outlive losing one")
    route = int(env.get("ONESTOP_NATS_ROUTE_PORT") or DEFAULT_ROUTE_PORT)
    return [natsauth.ClusterNode(f"nats-{i + 1}", "127.0.0.1", route + i) for i in range(size)]


def with_cluster(commands: dict[str, str], env: dict[str, str]) -> dict[str, str]:
    """The Procfile's single broker replaced by the cluster's nodes, when there is a cluster."""
    nodes = cluster_nodes(env)
    if not nodes or "nats" not in commands:
        return commands
    first = int(env["ONESTOP_NATS_PORT"])
    store, auth = Path(env["ONESTOP_DATA_DIR"]) / "nats-cluster", Path(env["ONESTOP_NATS_CREDENTIALS_DIR"])
    ordered: dict[str, str] = {}
    for name, command in commands.items():
        if name != "nats":
            ordered[name] = command
            continue
        for i, node in enumerate(nodes):
            ordered[node.name] = (f"nats-server -js -a 127.0.0.1 -p {first + i} -sd {store / node.name} "
                                  f"-c {natsauth.cluster_config_path(auth, node.name)}")
    return ordered


@dataclass
class Stack:
    """A set of processes sharing one environment; ``env`` overrides the caller's."""

    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    only: tuple[str, ...] | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # The broker's nodes when ONESTOP_NATS_CLUSTER asks for a cluster (empty: the Procfile's one broker).
    cluster: list[natsauth.ClusterNode] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        base = dict(os.environ)
        base.setdefault("ONESTOP_NATS_PORT", str(DEFAULT_NATS_PORT))
        base.setdefault("ONESTOP_DATA_DIR", str(ROOT / ".data"))
        base.update(self.env)
        self.cluster = cluster_nodes(base)
        first = int(base["ONESTOP_NATS_PORT"])
        # Every process gets every node: it connects to any and fails over to the others.
        base.setdefault("ONESTOP_NATS_URL", ",".join(f"nats://127.0.0.1:{first + i}"
                                                     for i in range(max(1, len(self.cluster)))))
        if self.cluster:
            base.setdefault("ONESTOP_STREAM_REPLICAS", "3")
        # Every process connects to the bus as its own identity (shared.natsauth); the seeds live here.
        base.setdefault("ONESTOP_NATS_CREDENTIALS_DIR", str(Path(base["ONESTOP_DATA_DIR"]) / "nats-auth"))
        base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
        base["PYTHONPATH"] = f"{ROOT}{os.pathsep}{base.get('PYTHONPATH', '')}".rstrip(os.pathsep)
        self.env = base
        self.commands = with_cluster(with_declared_services(read_procfile()), self.env)
        if self.only is not None:
            self.commands = {k: v for k, v in self.commands.items() if k in self.only}

    def port_of(self, name: str) -> int | None:
        if name == "nats":
            return int(self.env["ONESTOP_NATS_PORT"])
        for i, node in enumerate(self.cluster):
            if name == node.name:
                return int(self.env["ONESTOP_NATS_PORT"]) + i
        default = registry.default_port(name)
        if default is None:
            return None
        return int(self.env.get(f"ONESTOP_{name.upper()}_PORT", default))

    def url_of(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port_of(name)}"

    def process_env(self, name: str) -> dict[str, str]:
        env = dict(self.env)
        if registry.default_port(name) is not None:
            env["ONESTOP_SERVICE"] = name
            env["ONESTOP_PORT"] = str(self.port_of(name))
            own_db = env.get(f"ONESTOP_{name.upper()}_DATABASE_URL")
            if own_db:
                env["DATABASE_URL"] = own_db
        for spec in registry.services().values():  # the gateway finds the services where this stack put them
            env.setdefault(f"{spec.env_prefix}_URL", self.url_of(spec.name))
        return env

    def migrate(self) -> None:
        # shared.migrate with no arguments migrates every service that owns a database.
        subprocess.run([sys.executable, "-m", "shared.migrate"], env=self.env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL if self.log_dir else None)

    def start(self, name: str, **overrides: str) -> None:
        """Start one process (again), with extra environment if given, and wait until it answers."""
        self.launch(name, **overrides)
        self.wait_ready(name)

    def launch(self, name: str, **overrides: str) -> None:
        """Start one process (again), with extra environment if given, without waiting for it."""
        command = os.path.expandvars(self.commands[name])
        if name == "nats":
            Path(self.env["ONESTOP_DATA_DIR"], "nats").mkdir(parents=True, exist_ok=True)
            natsauth.prepare(Path(self.env["ONESTOP_NATS_CREDENTIALS_DIR"]))
        node = next((n for n in self.cluster if n.name == name), None)
        if node is not None:
            auth = Path(self.env["ONESTOP_NATS_CREDENTIALS_DIR"])
            natsauth.prepare(auth)
            natsauth.cluster_config(auth, node, self.cluster, listen_host="127.0.0.1")
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")
        else:
            out = None
        self.procs[name] = subprocess.Popen(command, shell=True, cwd=ROOT, env={**self.process_env(name), **overrides},
                                            stdout=out, stderr=subprocess.STDOUT if out else None,
                                            start_new_session=True)

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        port = self.port_of(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}")
            if port is None:
                return
            try:
                if self.is_broker(name):
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        return
                else:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                        if resp.status == 200:
                            return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{name} did not answer within {timeout}s")

    def start_all(self) -> None:
        self.migrate()
        # The brokers first (services connect at startup), then every other process at once: started one by
        # one, a stack of a dozen Python processes takes a minute on a busy two-core machine.
        brokers = [name for name in self.commands if self.is_broker(name)]
        for name in brokers:
            self.launch(name)
        for name in brokers:
            self.wait_ready(name)
        others = [name for name in self.commands if name not in brokers]
        for name in others:
            self.launch(name)
        for name in others:
            self.wait_ready(name)

    def is_broker(self, name: str) -> bool:
        return name == "nats" or any(n.name == name for n in self.cluster)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a process (and its children) the hard way by default, as a crash would."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.kill(name, signal.SIGTERM)


def main() -> None:
    stack = Stack()
    print(f"starting {', '.join(stack.commands)} — gateway on {stack.url_of('gateway')}, Ctrl-C stops everything",
          flush=True)
    try:
        stack.start_all()
        print(f"ready: {stack.url_of('gateway')}/docs", flush=True)
        while all(p.poll() is None for p in stack.procs.values()):
            time.sleep(0.5)
        dead = [n for n, p in stack.procs.items() if p.poll() is not None]
        print(f"stopping: {', '.join(dead)} exited", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop_all()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        main()
