"""End-to-end latency and throughput of 企业开办 through the whole stack on this machine.

    make bench                      # SQLite
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres make bench

Starts its own nats-server and stack on free ports (simulated departments answer at once), then
measures: one application alone, from POST to the ``registration.application.completed`` event; then N
concurrent applications (default 200, ``--concurrent``). Times are taken when the completion event
arrives on NATS, not by polling.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import nats

from shared.events import CloudEvent
from tests.support import Databases, NatsServer, make_stack, registration_body


async def run(concurrent: int, workers: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="onestop-bench-"))
    server_url = os.environ.get("TEST_DATABASE_URL")
    if server_url:
        from shared.settings import async_database_url

        server_url = async_database_url(server_url)
    databases = Databases(tmp, server_url)
    broker = NatsServer(tmp / "nats")
    broker.start()
    stack = make_stack(tmp, databases, broker, ONESTOP_SIMULATED_DEPARTMENTS="all",
                       ONESTOP_LOG_LEVEL="WARNING", ONESTOP_RATE_LIMIT_WRITES_PER_MINUTE="100000",
                       ONESTOP_RATE_LIMIT_READS_PER_MINUTE="100000", ONESTOP_WORKERS=str(workers))
    stack.start_all()
    completed: dict[str, float] = {}
    nc = await broker.connect()

    async def on_completed(msg: nats.aio.msg.Msg) -> None:
        completed[CloudEvent.model_validate_json(msg.data).data["application_id"]] = time.perf_counter()

    await nc.subscribe("registration.application.completed", cb=on_completed)
    try:
        async with httpx.AsyncClient(base_url=stack.url_of("gateway"), timeout=60,
                                     limits=httpx.Limits(max_connections=concurrent)) as http:
            token = (await http.post("/api/v1/auth/dev-token", json={"sub": "bench", "roles": ["applicant"]})
                     ).json()["access_token"]
            headers = {"authorization": f"Bearer {token}"}

            async def submit() -> tuple[str, float, float]:
                started = time.perf_counter()
                resp = await http.post("/api/v1/registrations", json=registration_body(),
                                       headers={**headers, "Idempotency-Key": os.urandom(8).hex()})
                assert resp.status_code == 202, resp.text
                return resp.json()["id"], started, time.perf_counter()

            async def wait_all(ids: list[str], deadline: float = 300) -> None:
                end = time.monotonic() + deadline
                while not all(i in completed for i in ids):
                    if time.monotonic() > end:
                        raise TimeoutError(f"{sum(i in completed for i in ids)}/{len(ids)} completed")
                    await asyncio.sleep(0.005)

            # Warm up connections and code paths, then one alone.
            warm = [await submit() for _ in range(3)]
            await wait_all([w[0] for w in warm])
            singles = []
            for _ in range(5):
                app_id, started, _ = await submit()
                await wait_all([app_id])
                singles.append(completed[app_id] - started)
            print(f"one application, POST to completed: median {statistics.median(singles) * 1000:.0f} ms "
                  f"(min {min(singles) * 1000:.0f}, max {max(singles) * 1000:.0f}; 5 runs)")

            t0 = time.perf_counter()
            results = await asyncio.gather(*(submit() for _ in range(concurrent)))
            accepted = time.perf_counter() - t0
            await wait_all([r[0] for r in results])
            total = max(completed[r[0]] for r in results) - t0
            latencies = sorted(completed[r[0]] - r[1] for r in results)
            accept_latencies = sorted(r[2] - r[1] for r in results)
            def p(xs: list[float], q: float) -> str:
                return f"{xs[min(len(xs) - 1, int(q * len(xs)))] * 1000:.0f} ms"

            print(f"{concurrent} concurrent: all accepted (202) in {accepted:.2f} s, all completed in {total:.2f} s "
                  f"({concurrent / total:.0f} applications/s)")
            print(f"  POST latency p50 {p(accept_latencies, .5)}, p95 {p(accept_latencies, .95)};"
                  f" POST to completed p50 {p(latencies, .5)}, p95 {p(latencies, .95)}")
            print(f"  database: {'PostgreSQL' if server_url else 'SQLite'}; {workers} process(es) per service;"
                  " five departments per application")
    finally:
        await nc.close()
        stack.stop_all()
        broker.stop()
        databases.drop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="processes per service (PostgreSQL)")
    args = parser.parse_args()
    asyncio.run(run(args.concurrent, args.workers))


if __name__ == "__main__":
    main()
