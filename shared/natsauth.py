"""Who may do what on the event bus: one nkey identity per service, per department and for the gateway, each
with the subjects it may publish and receive, and the nats-server configuration that enforces them.

- A service publishes only its own events (``<service>.>``) and its own task conversation
  (``task.<service>.>``: requests, and the back office's HTTP decisions it announces); it manages the
  streams and its consumers through the JetStream API.
- A department publishes only its own answers (``task.*.<department>.resolved``) and may only create, read
  and acknowledge its own durable consumers: those of its own requests (``task.*.<department>.requested``)
  and, beside each, one of the escalations of its own tasks (``task.*.<department>.escalated``). A consumer
  has one filter: with several, its create request's subject names none of them and the broker could not check
  them.
- The gateway reads streams for live progress and publishes nothing.
- ``operator`` is for people and tests operating the bus; it may do anything.

Nobody connects anonymously. ``python -m shared.natsauth <dir>`` creates the seeds (once) and the server's
``nats.conf`` in ``<dir>``; processes find their seed as ``<dir>/<identity>.nk``.

A cluster (``--cluster <node> <node> <node>``, or ``cluster_config``) adds one ``cluster-<node>.conf`` per
node: the same users and permissions (it includes ``nats.conf``), the node's name, and its routes to the
other nodes. Routes authenticate with a password of their own (``route.secret``, made once): clients'
nkeys never open a route, and a route's credentials open no client connection.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shared import registry
from shared.departments import Department
from shared.events import TASKS_STREAM, department_escalations_filter, department_requests_filter

CONFIG_FILE = "nats.conf"
ROUTE_SECRET_FILE = "route.secret"
ROUTE_USER = "route"
CLUSTER_NAME = "onestop"
# The port nodes reach each other's routes on, where each node has a host of its own (compose).
ROUTE_PORT = 6222
OPERATOR = "operator"
GATEWAY_IDENTITY = "gateway"
INBOX = "_INBOX.>"


@dataclass(frozen=True)
class BusIdentity:
    """A party on the bus and the subjects it may publish to and subscribe to."""

    name: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...] = (INBOX,)


def service_identity(service: str) -> BusIdentity:
    """A back-end service: its own events and task conversation, and the JetStream API."""
    return BusIdentity(f"service.{service}", (f"{service}.>", f"task.{service}.>", "$JS.API.>", "$JS.ACK.>"))


def department_consumers(department: Department | str) -> list[str]:
    """The durable consumers a department may own: for every service, or for one service only."""
    return [f"dept-{department}", *(f"dept-{s}-{department}" for s in registry.services())]


def escalations_consumer(durable: str) -> str:
    """The consumer of escalation notices beside a department's consumer of its requests (``dept-tax`` →
    ``dept-tax-escalations``): notices never wait behind work, nor pass for it."""
    return f"{durable}-escalations"


def department_consumer_filters(department: Department | str) -> list[tuple[str, str]]:
    """Every durable consumer a department may own, each with the one filter it may have: its requests, or
    (the notice consumers) the escalations of its tasks; never another department's."""
    consumers = department_consumers(department)
    return [*((c, department_requests_filter(department)) for c in consumers),
            *((escalations_consumer(c), department_escalations_filter(department)) for c in consumers)]


def department_identity(department: Department | str) -> BusIdentity:
    """A department's back office: its answers, and only its own consumers of its own requests and notices."""
    publish = [f"task.*.{department}.resolved", "$JS.API.INFO"]
    for consumer, filter_subject in department_consumer_filters(department):
        publish += [
            # The filter is part of the create request's subject (a named consumer with one filter), so the
            # broker checks it: a wildcard here only ever matches the service token.
            f"$JS.API.CONSUMER.CREATE.{TASKS_STREAM}.{consumer}.{filter_subject}",
            f"$JS.API.CONSUMER.INFO.{TASKS_STREAM}.{consumer}",
            f"$JS.API.CONSUMER.MSG.NEXT.{TASKS_STREAM}.{consumer}",
            f"$JS.ACK.{TASKS_STREAM}.{consumer}.>",
        ]
    return BusIdentity(f"department.{department}", tuple(publish))


def identities() -> list[BusIdentity]:
    """Every party of this deployment."""
    return [
        *(service_identity(s) for s in registry.services()),
        BusIdentity(GATEWAY_IDENTITY, ("$JS.API.>",)),
        *(department_identity(d) for d in Department),
        BusIdentity(OPERATOR, (">",), (">",)),
    ]


def seed_path(directory: Path, identity: str) -> Path:
    """Where an identity's seed is kept."""
    return directory / f"{identity}.nk"


def _public_key(seed: bytes) -> str:
    import nkeys

    return str(nkeys.from_seed(seed).public_key.decode())


def ensure_credentials(directory: Path) -> dict[str, str]:
    """Create the seed of every identity that has none yet (mode 0600) and return name → public key."""
    import nkeys

    directory.mkdir(parents=True, exist_ok=True)
    keys = {}
    for identity in identities():
        path = seed_path(directory, identity.name)
        if not path.exists():
            seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(seed)
        keys[identity.name] = _public_key(path.read_bytes().strip())
    return keys


def server_config(keys: dict[str, str]) -> str:
    """The ``authorization`` block of nats-server's configuration: one nkey user per identity, with its
    permissions; no anonymous user."""
    users = []
    for identity in identities():
        publish, subscribe = json.dumps(list(identity.publish)), json.dumps(list(identity.subscribe))
        users.append(f"    {{nkey: {keys[identity.name]}, "
                     f"permissions: {{publish: {{allow: {publish}}}, subscribe: {{allow: {subscribe}}}}}}}")
    return "authorization {\n  users: [\n" + ",\n".join(users) + "\n  ]\n}\n"


def prepare(directory: Path, *, tls_hosts: list[str] | None = None) -> Path:
    """Seeds (kept) and a fresh ``nats.conf`` in ``directory``; the configuration's path. With ``tls_hosts``
    the broker also gets a certificate for those hosts from a CA made beside the seeds (``shared.bustls``),
    and every connection is encrypted."""
    config = directory / CONFIG_FILE
    text = server_config(ensure_credentials(directory))
    if tls_hosts:
        from shared import bustls

        bustls.ensure_certificates(directory, tls_hosts)
        text += bustls.server_block(directory)
    config.write_text(text)
    return config


@dataclass(frozen=True)
class ClusterNode:
    """One nats-server of a cluster: its name, and where the other nodes reach its route port."""

    name: str
    host: str
    route_port: int = ROUTE_PORT


def route_secret(directory: Path) -> str:
    """The password nodes open routes to each other with, made once (mode 0600) in ``directory``."""
    path = directory / ROUTE_SECRET_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def cluster_config_path(directory: Path, node: str) -> Path:
    """Where a node's configuration is kept."""
    return directory / f"cluster-{node}.conf"


def cluster_config(directory: Path, node: ClusterNode, nodes: Sequence[ClusterNode], *,
                   listen_host: str = "0.0.0.0") -> Path:
    """A node's configuration in ``directory`` (beside ``nats.conf``, made by ``prepare`` first): the common
    users and permissions, the node's name (JetStream's peers know each other by it) and its routes to every
    other node; with the broker's TLS certificate there, routes are encrypted with it too. Its path."""
    password = route_secret(directory)
    peers = [f"nats-route://{ROUTE_USER}:{password}@{peer.host}:{peer.route_port}"
             for peer in nodes if peer.name != node.name]
    lines = [
        f"include ./{CONFIG_FILE}",
        f"server_name: {json.dumps(node.name)}",
        "cluster {",
        f"  name: {CLUSTER_NAME}",
        f"  listen: {json.dumps(f'{listen_host}:{node.route_port}')}",
        f"  authorization {{ user: {ROUTE_USER}, password: {json.dumps(password)}, timeout: 2 }}",
        f"  routes: {json.dumps(peers)}",
        # A node that is away (killed, rebooting) is asked for again every second, forever.
        "  connect_retries: -1",
    ]
    from shared import bustls

    if (directory / bustls.CERT_FILE).exists():
        lines += ["  " + line for line in bustls.server_block(directory).splitlines()]
    lines.append("}")
    path = cluster_config_path(directory, node.name)
    path.write_text("\n".join(lines) + "\n")
    return path


def identity_for_process(service: str) -> str:
    """The identity a process of ``ONESTOP_SERVICE=<service>`` connects as."""
    return GATEWAY_IDENTITY if service == registry.GATEWAY else f"service.{service}"


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m shared.natsauth <dir> [<tls host> ...] [--cluster <node> ...]``: with hosts the broker
    speaks TLS for them; with nodes (host names, routes on ``ROUTE_PORT``) each also gets its cluster file."""
    parser = argparse.ArgumentParser(prog="python -m shared.natsauth")
    parser.add_argument("directory", type=Path)
    parser.add_argument("tls_hosts", nargs="*")
    parser.add_argument("--cluster", nargs="+", default=[], metavar="NODE")
    args = parser.parse_args(argv)
    print(prepare(args.directory, tls_hosts=args.tls_hosts or None))
    nodes = [ClusterNode(name, name) for name in args.cluster]
    for node in nodes:
        print(cluster_config(args.directory, node, nodes))


if __name__ == "__main__":
    main()
