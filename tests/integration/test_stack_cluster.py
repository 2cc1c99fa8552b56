"""``ONESTOP_NATS_CLUSTER=3 make run``: the dev stack's broker as three routed nats-server nodes, every party
authenticated as on one broker, streams with three copies."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import nats
import pytest
from nats.errors import Error as NatsError
from nats.js.api import StreamConfig

from services.stack import Stack, free_port
from shared import natsauth
from shared.settings import nats_servers
from tests.support import eventually


def free_run(length: int) -> int:
    """The first of ``length`` consecutive TCP ports nothing listens on right now."""
    while True:
        first = free_port()
        with contextlib.ExitStack() as bound:
            try:
                for port in range(first, first + length):
                    bound.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
        return first


@pytest.mark.timeout(60)
async def test_the_dev_stack_starts_a_three_node_cluster(tmp_path: Path) -> None:
    env = {"ONESTOP_NATS_CLUSTER": "3", "ONESTOP_DATA_DIR": str(tmp_path)}
    # Three clients' ports and three routes' in a row, as the stack takes them.
    first, route = free_run(3), free_run(3)
    env.update(ONESTOP_NATS_PORT=str(first), ONESTOP_NATS_ROUTE_PORT=str(route))
    nodes = ("nats-1", "nats-2", "nats-3")
    stack = Stack(env=env, log_dir=tmp_path / "logs", only=nodes)
    assert list(stack.commands) == list(nodes)
    assert nats_servers(stack.env["ONESTOP_NATS_URL"]) == [f"nats://127.0.0.1:{first + i}" for i in range(3)]
    assert stack.env["ONESTOP_STREAM_REPLICAS"] == "3"
    try:
        for name in nodes:
            stack.start(name)
        seed = natsauth.seed_path(Path(stack.env["ONESTOP_NATS_CREDENTIALS_DIR"]), natsauth.OPERATOR)
        nc = await nats.connect(servers=nats_servers(stack.env["ONESTOP_NATS_URL"]), nkeys_seed=str(seed))
        try:
            js = nc.jetstream(timeout=2)

            async def three_copies() -> object:
                try:
                    info = await js.add_stream(StreamConfig(name="PROBE", subjects=["probe.>"], num_replicas=3))
                except Exception:  # JetStream elects its meta leader once the routes are up
                    return None
                return info

            info = await eventually(three_copies, timeout=30, interval=0.2, what="an R3 stream to be created")
            assert info.cluster is not None and info.cluster.name == natsauth.CLUSTER_NAME
            assert len(info.cluster.replicas or []) == 2  # and the leader: three copies
        finally:
            await nc.close()
        # Nobody connects without an identity, on any node.
        with pytest.raises(NatsError, match="Authorization Violation"):
            await nats.connect(f"nats://127.0.0.1:{first + 2}", allow_reconnect=False, max_reconnect_attempts=0)
    finally:
        stack.stop_all()
