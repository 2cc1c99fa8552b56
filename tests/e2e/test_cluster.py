"""Losing a machine: the bus is a three-node NATS cluster with three copies of every stream, every service runs
two processes on PostgreSQL (one on SQLite), and the node leading the registration stream is killed while 100
enterprise openings are in flight. Every application completes exactly once, and the node, restarted, catches
up with every stream."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.events import all_streams, stream_for_service
from tests.support import (
    Api,
    Databases,
    NatsCluster,
    assert_completed_exactly_once,
    dump,
    eventually,
    first_stored_after,
    registration_body,
    running_stack,
    stream_events,
)

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

APPLICATIONS = 100
IN_FLIGHT = 20
REGISTRATION = stream_for_service("registration")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path / "nats") as cluster:
        yield cluster


async def submit_all(api: Api, sub: str, count: int) -> list[str]:
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> str:
        async with limit:
            resp = await api.submit(sub, registration_body())
        assert resp.status_code == 202, dump(resp)
        return str(resp.json()["id"])

    return list(await asyncio.gather(*(one() for _ in range(count))))


@pytest.mark.timeout(240)
async def test_losing_the_stream_leader_loses_no_application_and_the_node_catches_up(
        tmp_path: Path, databases: Databases, cluster: NatsCluster) -> None:
    # Replicas share the service's database: PostgreSQL only (on SQLite each service runs one process).
    workers = "2" if databases.server_url else "1"
    with running_stack(tmp_path / "stack", databases, cluster, ONESTOP_WORKERS=workers,
                       ONESTOP_STREAM_REPLICAS="3", ONESTOP_SIMULATED_DEPARTMENTS="all") as stack:
        api = Api(stack.url_of("gateway"))
        try:
            leader = await cluster.stream_leader(REGISTRATION)
            victim = cluster.index_of(leader)
            first = await submit_all(api, "cluster-user", APPLICATIONS // 2)

            cluster.kill_node(victim)  # SIGKILL the machine holding the registration stream's leader
            killed = time.time()
            election = asyncio.create_task(cluster.new_leader(REGISTRATION, leader))
            second = await submit_all(api, "cluster-user", APPLICATIONS - len(first))
            ids = first + second
            new_leader, elected = await asyncio.wait_for(election, 30)

            finals = await assert_completed_exactly_once(api, "cluster-user", ids)
            assert len(finals) == APPLICATIONS
            # The applications submitted meanwhile waited in the outboxes: they are on the stream soon after
            # the new leader is, not a publish timeout or a long retry later.
            stored = await first_stored_after(cluster, REGISTRATION, "registration.>", elected)
            assert stored is not None
            print(f"\nleader {leader} killed -> {new_leader} elected after {elected - killed:.2f} s -> first "
                  f"registration event stored {stored - elected:.2f} s later ({workers} process(es) per service)")
            # Printed, not asserted: stream info names the new leader a few seconds before it takes publishes
            # (the relays meanwhile get "no responders" every half second, as their logs show), so the gap is
            # mostly the broker's. The relay's own part, publishing within 3 s of the broker's return, is
            # asserted against a single broker in test_faults.py.

            # Each application announced its completion once, however often a relay had to send it again.
            completed = await stream_events(cluster, REGISTRATION, "registration.application.completed")
            per_application = Counter(str(e.data["application_id"]) for e in completed)
            assert {i: per_application[i] for i in ids} == dict.fromkeys(ids, 1)

            # The killed node, back, holds every stream up to the same last message as the others.
            cluster.start_node(victim)
            back = time.time()
            nc = await cluster.connect()
            try:
                js = nc.jetstream()
                expected = {name: (await js.stream_info(name)).state.last_seq for name in all_streams()}
            finally:
                await nc.close()

            async def caught_up() -> dict[str, int] | None:
                held = await cluster.local_streams(victim)
                seen = {name: int(held.get(name, {}).get("last_seq", 0)) for name in expected}
                return seen if seen == expected else None

            await eventually(caught_up, timeout=30, interval=0.2, what=f"{leader} to catch up with {expected}")
            print(f"{leader} restarted -> caught up with {sum(expected.values())} messages in "
                  f"{time.time() - back:.2f} s")
        finally:
            await api.close()
