"""Fixtures over real infrastructure: a nats-server started from the wheel, SQLite or PostgreSQL
(``TEST_DATABASE_URL``), or containers (``ONESTOP_TEST_CONTAINERS=1`` with Docker answering)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.stack import Stack
from shared.departments import Department
from tests.support import Api, Databases, NatsServer, containers_requested, docker_answers, running_stack


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onestop")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str | None]:
    """The PostgreSQL server to create test databases on, or None for SQLite."""
    if containers_requested() and docker_answers():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver="asyncpg") as pg:
            yield pg.get_connection_url()
        return
    url = os.environ.get("TEST_DATABASE_URL")
    if url and url.startswith("postgres"):
        from shared.settings import async_database_url

        yield async_database_url(url)
    else:
        yield None


@pytest.fixture(scope="session")
def databases(session_tmp: Path, postgres_server_url: str | None) -> Iterator[Databases]:
    dbs = Databases(session_tmp / "db", postgres_server_url)
    (session_tmp / "db").mkdir(exist_ok=True)
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def nats_server(session_tmp: Path) -> Iterator[NatsServer]:
    """A real nats-server (containers are used for it too when asked for and Docker answers)."""
    if containers_requested() and docker_answers():
        from testcontainers.community.nats import NatsContainer

        with NatsContainer("nats:2.11", jetstream=True) as container:
            server = NatsServer(session_tmp / "nats-unused")
            server.port = int(container.get_exposed_port(4222))
            yield server
        return
    with NatsServer(session_tmp / "nats") as server:
        yield server


# Every department answers at once in the shared stack but the bank, left to people so tests can hold, reject
# or return a task over the back-office API.
SIMULATED_BUT_BANK = ",".join(d.value for d in Department if d != Department.bank)


@pytest.fixture(scope="session")
def stack(session_tmp: Path, databases: Databases, nats_server: NatsServer) -> Iterator[Stack]:
    """The whole stack, with every department simulated except the bank (left to people, so tests can
    hold, reject or return a task over the back-office API), and no creditor-notice wait."""
    with running_stack(session_tmp / "stack", databases, nats_server, ONESTOP_CREDITOR_NOTICE_DAYS="0",
                       ONESTOP_SIMULATED_DEPARTMENTS=SIMULATED_BUT_BANK) as stack:
        yield stack


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[Api]:
    client = Api(stack.url_of("gateway"))
    yield client
    await client.close()
