"""The gateway's connections to the services: kept alive and reused, bounded, and never reused after a failure."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.proxy import UpstreamBusy, Upstreams

SERVICE = "http://registration"


def upstreams(opened: list[httpx.AsyncClient], **kwargs: float) -> Upstreams:
    """Upstreams to an in-process service that answers at once, recording every connection opened."""
    service = FastAPI()

    @service.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    def make_client() -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(service))
        opened.append(client)
        return client

    return Upstreams(make_client, **kwargs)  # type: ignore[arg-type]


async def request(pool: Upstreams, hold: asyncio.Event | None = None, lent: asyncio.Event | None = None) -> int:
    async with pool.lend(SERVICE) as client:
        if lent is not None:
            lent.set()
        if hold is not None:
            await hold.wait()
        return (await client.get(f"{SERVICE}/ping")).status_code


async def all_at_once(pool: Upstreams, n: int, hold: asyncio.Event) -> list[asyncio.Task[int]]:
    """``n`` requests, each holding its connection until ``hold`` is set; returned once every one has it."""
    lent = [asyncio.Event() for _ in range(n)]
    running = [asyncio.create_task(request(pool, hold, each)) for each in lent]
    await asyncio.gather(*(each.wait() for each in lent))
    return running


async def test_one_request_after_another_uses_one_connection() -> None:
    opened: list[httpx.AsyncClient] = []
    pool = upstreams(opened)
    assert [await request(pool) for _ in range(5)] == [200] * 5
    assert len(opened) == 1
    await pool.aclose()
    assert opened[0].is_closed


async def test_requests_at_once_each_get_a_connection_and_the_next_ones_reuse_them() -> None:
    opened: list[httpx.AsyncClient] = []
    pool = upstreams(opened)
    for _round in range(3):
        hold = asyncio.Event()
        running = await all_at_once(pool, 4, hold)
        hold.set()
        assert await asyncio.gather(*running) == [200] * 4
    assert len(opened) == 4
    await pool.aclose()


async def test_no_more_than_max_connections_are_lent_and_a_wait_past_the_timeout_is_busy() -> None:
    opened: list[httpx.AsyncClient] = []
    pool = upstreams(opened, max_connections=2, pool_timeout=0.05)
    hold = asyncio.Event()
    held = await all_at_once(pool, 2, hold)
    with pytest.raises(UpstreamBusy):
        await request(pool)
    # A request that waits gets the first connection given back.
    waiting = asyncio.create_task(request(pool))
    hold.set()
    assert await asyncio.gather(*held, waiting) == [200] * 3
    assert len(opened) == 2
    await pool.aclose()


async def test_a_connection_whose_request_failed_is_closed_not_reused() -> None:
    opened: list[httpx.AsyncClient] = []
    pool = upstreams(opened)
    with pytest.raises(RuntimeError):
        async with pool.lend(SERVICE):
            raise RuntimeError("the request broke midway")
    assert opened[0].is_closed
    assert await request(pool) == 200
    assert len(opened) == 2
    await pool.aclose()


async def test_idle_connections_beyond_max_idle_are_closed() -> None:
    opened: list[httpx.AsyncClient] = []
    pool = upstreams(opened, max_idle=1)
    hold = asyncio.Event()
    running = await all_at_once(pool, 3, hold)
    hold.set()
    await asyncio.gather(*running)
    assert sum(not c.is_closed for c in opened) == 1
    await pool.aclose()
    assert all(c.is_closed for c in opened)
