"""The dev stack: every process of the Procfile, supervised together (``make run``; the e2e tests).

``python -m services.stack`` migrates every database, starts ``nats-server`` from the wheel with
JetStream, each service, the gateway and the simulated departments, waits until each answers, and stops
them all on Ctrl-C. Ports and databases come from the environment, so a test can run a second stack
beside the first."""

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


@dataclass
class Stack:
    """A set of processes sharing one environment; ``env`` overrides the caller's."""

    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    only: tuple[str, ...] | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        base = dict(os.environ)
        base.setdefault("ONESTOP_NATS_PORT", str(DEFAULT_NATS_PORT))
        base.setdefault("ONESTOP_DATA_DIR", str(ROOT / ".data"))
        base.update(self.env)
        base.setdefault("ONESTOP_NATS_URL", f"nats://127.0.0.1:{base['ONESTOP_NATS_PORT']}")
        # Every process connects to the bus as its own identity (shared.natsauth); the seeds live here.
        base.setdefault("ONESTOP_NATS_CREDENTIALS_DIR", str(Path(base["ONESTOP_DATA_DIR"]) / "nats-auth"))
        base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
        base["PYTHONPATH"] = f"{ROOT}{os.pathsep}{base.get('PYTHONPATH', '')}".rstrip(os.pathsep)
        self.env = base
        self.commands = with_declared_services(read_procfile())
        if self.only is not None:
            self.commands = {k: v for k, v in self.commands.items() if k in self.only}

    def port_of(self, name: str) -> int | None:
        if name == "nats":
            return int(self.env["ONESTOP_NATS_PORT"])
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
        command = os.path.expandvars(self.commands[name])
        if name == "nats":
            Path(self.env["ONESTOP_DATA_DIR"], "nats").mkdir(parents=True, exist_ok=True)
            natsauth.prepare(Path(self.env["ONESTOP_NATS_CREDENTIALS_DIR"]))
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")
        else:
            out = None
        self.procs[name] = subprocess.Popen(command, shell=True, cwd=ROOT, env={**self.process_env(name), **overrides},
                                            stdout=out, stderr=subprocess.STDOUT if out else None,
                                            start_new_session=True)
        self.wait_ready(name)

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
                if name == "nats":
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
        for name in self.commands:
            self.start(name)

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
