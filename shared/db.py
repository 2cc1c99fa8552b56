"""Database adapter: the async engine, sessions, and running a service's Alembic migrations."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
import pydantic_core
from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection
    from sqlalchemy.pool import ConnectionPoolEntry


# How long a statement waits for another connection's write lock before it fails as busy.
SQLITE_BUSY_SECONDS = 60.0
# A pooled PostgreSQL connection idle longer than this is pinged before it is used again, so a server restart
# or a link dropped meanwhile is found then and the pool opens a new one. One in steady use is not pinged:
# pinging on every checkout (``pool_pre_ping``) was a round trip per transaction, 3% of a busy service's CPU.
PING_AFTER_IDLE_SECONDS = 5.0


class _RunAtOnce:
    """Stands in for aiosqlite's queue to its worker thread: runs what is put on it there and then."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the caller, as the worker thread would
            if future is not None and not future.done():
                future.set_exception(exc)
        else:
            if future is not None and not future.done():
                future.set_result(result)


class InlineSQLiteConnection(aiosqlite.Connection):
    """aiosqlite's connection with every call made on the event loop's own thread, not a worker thread.

    The service keeps one SQLite connection and runs one transaction at a time on it, and a statement on
    a local WAL database takes microseconds, so handing each one to a thread and waking the loop when it
    is done (two thread switches and a GIL handover per statement) cost more than the statement itself.

    SQLite's own busy handler would sleep on the loop's thread while another connection holds the write
    lock, stopping everything else the process does, the holder too when it is in the same process. So
    the connection has no busy timeout: a statement refused as busy is tried again after an asynchronous
    pause (1 ms, doubling to 50 ms), for up to ``busy_seconds``. Only statements that take the write lock
    (``BEGIN IMMEDIATE``) are ever refused, and they have done nothing when they are.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection], busy_seconds: float) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self.busy_seconds = busy_seconds
        # SQLAlchemy's adapter puts some calls (setting the isolation level) on the worker's queue itself.
        self._tx = _RunAtOnce()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, InlineSQLiteConnection]:
        return self._open().__await__()

    async def _open(self) -> InlineSQLiteConnection:
        self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self.busy_seconds, 0.001
        while True:
            await asyncio.sleep(pause)
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or loop.time() >= deadline:
                    raise
            pause = min(pause * 2, 0.05)

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _inline_sqlite(database: str, **kwargs: Any) -> InlineSQLiteConnection:
    # check_same_thread off (SQLAlchemy asks for it too): the pool may close a connection from another thread.
    kwargs["check_same_thread"] = False
    # The wait for a busy database is the connection's own, asynchronous (see InlineSQLiteConnection).
    busy_seconds = float(kwargs.pop("timeout", SQLITE_BUSY_SECONDS))
    return InlineSQLiteConnection(partial(sqlite3.connect, database, timeout=0, **kwargs), busy_seconds)


def _json_text(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


# JSON columns (forms, task details, payloads) go through pydantic's Rust encoder and decoder rather than the
# standard library's, which were a few per cent of the hot path.
JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": pydantic_core.from_json}


def create_engine(url: str) -> AsyncEngine:
    """An async engine for SQLite (aiosqlite) or PostgreSQL (asyncpg).

    SQLite (``InlineSQLiteConnection``) gets WAL, an asynchronous wait for a busy lock and ``BEGIN IMMEDIATE``
    transactions: every transaction takes the write lock up front, so two writers never deadlock upgrading a
    read lock (SQLITE_BUSY mid-flight). As transactions are serialised anyway, the process keeps a single
    connection: waiting for it in the pool's queue is far cheaper than waiting for the file lock.
    """
    if url.startswith("sqlite"):
        db_path = url.split(":///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS,
                                                       "async_creator_fn": _inline_sqlite},
                                     pool_size=1, max_overflow=0,
                                     pool_timeout=120, **JSON_CODEC)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
            dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN itself
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=0")  # the connection waits for the lock itself, asynchronously
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=20, **JSON_CODEC)

    @event.listens_for(engine.sync_engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        idle = 0.0 if idle_since is None else time.monotonic() - idle_since
        if idle < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_conn.ping()
        except Exception as exc:
            # The pool drops this connection and checks out another (a new one if need be).
            raise DisconnectionError(f"a pooled connection idle for {idle:.0f} s is gone: {exc!r}") from exc

    return engine


def session_memo(session: AsyncSession, name: str) -> dict[Any, Any]:
    """A dict that lives as long as ``session`` (one unit of work, one transaction): what the transaction has
    already read or made, so it need not read it again. What is kept there must stay true to the end of the
    transaction (an ORM object, identity-mapped, stays current as it changes)."""
    memo: dict[Any, Any] = session.info.setdefault(name, {})
    return memo


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (responses are built after it)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit on success, roll back on error."""
    async with maker() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def alembic_config(service: str, url: str) -> Config:
    """The Alembic configuration of one service: its own script folder and version table."""
    from alembic.config import Config

    cfg = Config()
    from shared.registry import service as spec_of

    cfg.set_main_option("script_location", str(spec_of(service).migrations_dir))
    cfg.set_main_option("version_table", f"alembic_version_{service}")
    cfg.attributes["database_url"] = url
    return cfg


def migrate(service: str, url: str, revision: str = "head") -> None:
    """Upgrade one service's database to ``revision`` (blocking; call from a thread inside a loop)."""
    from alembic import command

    command.upgrade(alembic_config(service, url), revision)


async def migrate_async(service: str, url: str) -> None:
    """``migrate`` without blocking the running event loop (Alembic's env runs its own loop)."""
    await asyncio.to_thread(migrate, service, url)
