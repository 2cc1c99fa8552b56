"""A request that finds the database unreachable is a 503 with Retry-After, not a 500: nothing was committed,
and the same request later is safe."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from shared.db import create_engine
from shared.problems import install_problem_handlers


async def test_a_database_that_refuses_connections_is_a_503_naming_it() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/onestop")
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/count")
    async def count() -> int:
        async with engine.connect() as conn:
            return int(await conn.scalar(sa.text("SELECT 1")) or 0)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.get("/count")
    await engine.dispose()
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "1"
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "database_unavailable"
