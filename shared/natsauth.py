"""Who may do what on the event bus: one nkey identity per service, per department and for the gateway, each
with the subjects it may publish and receive, and the nats-server configuration that enforces them.

- A service publishes only its own events (``<service>.>``) and its own task conversation
  (``task.<service>.>``: requests, and the back office's HTTP decisions it announces); it manages the
  streams and its consumers through the JetStream API.
- A department publishes only its own answers (``task.*.<department>.resolved``) and may only create, read
  and acknowledge its own durable consumers, whose filter is its own requests.
- The gateway reads streams for live progress and publishes nothing.
- ``operator`` is for people and tests operating the bus; it may do anything.

Nobody connects anonymously. ``python -m shared.natsauth <dir>`` creates the seeds (once) and the server's
``nats.conf`` in ``<dir>``; processes find their seed as ``<dir>/<identity>.nk``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from shared import registry
from shared.departments import Department

CONFIG_FILE = "nats.conf"
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


def department_identity(department: Department | str) -> BusIdentity:
    """A department's back office: its answers, and only its own consumers of its own requests."""
    publish = [f"task.*.{department}.resolved", "$JS.API.INFO"]
    for consumer in department_consumers(department):
        publish += [
            f"$JS.API.CONSUMER.CREATE.TASKS.{consumer}.task.*.{department}.requested",
            f"$JS.API.CONSUMER.INFO.TASKS.{consumer}",
            f"$JS.API.CONSUMER.MSG.NEXT.TASKS.{consumer}",
            f"$JS.ACK.TASKS.{consumer}.>",
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


def identity_for_process(service: str) -> str:
    """The identity a process of ``ONESTOP_SERVICE=<service>`` connects as."""
    return GATEWAY_IDENTITY if service == registry.GATEWAY else f"service.{service}"


if __name__ == "__main__":
    # python -m shared.natsauth <dir> [<tls host> ...]: with hosts, the broker speaks TLS for them.
    print(prepare(Path(sys.argv[1]), tls_hosts=sys.argv[2:] or None))
