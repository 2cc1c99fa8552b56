"""Transactional outbox and inbox: state and the events it causes are committed together; a relay
publishes what was committed; a consumer applies each event id once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, TypeAlias

import sqlalchemy as sa
from nats.aio.msg import Msg
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from shared import tracing
from shared.bus import Bus, Handler, UnitHandler
from shared.events import CloudEvent
from shared.records import DeadLetter, InboxMessage, OutboxMessage, utcnow
from shared.refusals import TooLarge
from shared.requestid import current_request_id

log = logging.getLogger("onestop.outbox")
# The largest event this system emits: well under NATS's default max_payload (1 MiB), so a form within its
# bounds always fits; what does not is refused at emit time (413) or, already stored, dead-lettered.
MAX_EVENT_BYTES = 256 * 1024
# The relay's longest wait between scans of the outbox when it is not notified.
MAX_IDLE_SECONDS = 5.0

# An unsent outbox row as the relay reads it: seq, event_id, subject, payload, request_id.
UnsentRow: TypeAlias = sa.Row[int | None, str, str, str, str | None]

# The PostgreSQL advisory lock a relay holds while it publishes a batch (one database per service, so one
# key serves them all): replicas of a service take turns, which keeps the outbox's order on the stream.
RELAY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"onestop.outbox.relay").digest()[:8], "big", signed=True)
# After a failed publish the relay tries again after this, doubling up to the most, unless the bus
# reconnects first (then at once). The most is short: while a cluster elects a stream's new leader the
# stream answers nothing (no responders) for a few seconds, and the relay should be back within a
# fraction of a second of its election, not a long backoff later.
RETRY_FIRST_SECONDS = 0.1
RETRY_MOST_SECONDS = 0.5


_MARK_SENT = (sa.update(OutboxMessage).where(col(OutboxMessage.seq).in_(sa.bindparam("seqs", expanding=True)))
              .values(sent_at=sa.bindparam("sent_at")))


class OutboxRelay:
    """Publishes committed outbox rows in order, marks them sent, and resumes where it stopped.

    It wakes on ``notify()`` (called after a commit that wrote events) and otherwise polls, so rows
    committed by a process that died before publishing are picked up too.
    """

    def __init__(self, maker: async_sessionmaker[AsyncSession], bus: Bus, *, batch_size: int = 200,
                 idle_seconds: float = 0.5, ack_timeout: float = 2.0) -> None:
        self.maker = maker
        self.bus = bus
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.ack_timeout = ack_timeout
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Events committed while the broker was away go out as soon as the bus is back.
        bus.add_reconnect_listener(self.notify)
        self._unsent = (
            sa.select(col(OutboxMessage.seq), col(OutboxMessage.event_id), col(OutboxMessage.subject),
                      col(OutboxMessage.payload), col(OutboxMessage.request_id))
            .where(col(OutboxMessage.sent_at).is_(None))
            .order_by(col(OutboxMessage.seq))
            .limit(batch_size)
        )
        # Why the last attempt to publish failed (None: it succeeded, or none was made yet): readiness tells an
        # outbox that drains slowly from one that cannot drain.
        self.last_error: str | None = None

    def notify(self) -> None:
        """Tell the relay there is something new to publish."""
        self._wake.set()

    def start(self) -> None:
        """Run the relay in the background."""
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop the relay; unsent rows stay for the next start."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def run(self) -> None:
        await self.bus.wait_connected()
        retry = RETRY_FIRST_SECONDS
        idle = self.idle_seconds
        while True:
            # Cleared before reading the outbox: a notify from here on (a commit, a reconnect, one that
            # arrives while a batch is being published) is not lost.
            self._wake.clear()
            try:
                sent = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = repr(exc)
                log.warning("outbox relay failed, retrying", extra={"error": repr(exc), "retry_seconds": retry})
                await self._sleep(retry)
                retry = min(retry * 2, RETRY_MOST_SECONDS)
                continue
            self.last_error = None
            retry = RETRY_FIRST_SECONDS
            if sent < self.batch_size:
                # Without a notify only rows of a process that died before publishing them turn up: the longer
                # none is found, the less often the table is scanned.
                idle = self.idle_seconds if sent else min(idle * 2, max(self.idle_seconds, MAX_IDLE_SECONDS))
                await self._sleep(idle)

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until notified, whichever comes first."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _bury_oversized(self, session: AsyncSession, rows: Sequence[UnsentRow]) -> list[UnsentRow]:
        """Move the rows the broker can never take to the dead letters (marked sent, so they block nothing)
        and return the others."""
        limit = min(MAX_EVENT_BYTES, self.bus.max_payload or MAX_EVENT_BYTES)
        dead = [r for r in rows if len(r.payload.encode()) > limit]
        if not dead:
            return list(rows)
        for row in dead:
            size = len(row.payload.encode())
            session.add(DeadLetter(event_id=row.event_id, subject=row.subject, size_bytes=size,
                                   reason=f"{size} bytes, over the bus's limit of {limit}", created_at=utcnow()))
            log.error("event moved to the dead letters: it can never be published",
                      extra={"event_id": row.event_id, "subject": row.subject, "size_bytes": size})
        await self._mark_sent(session, dead)
        return [r for r in rows if r not in dead]

    async def publish_pending(self) -> int:
        """Publish one batch of unsent rows; returns how many were sent.

        On PostgreSQL the relay first takes the outbox's advisory lock (``RELAY_LOCK_KEY``) for the
        transaction that reads, publishes and marks the batch: replicas of a service publish one at a time,
        each starting where the other stopped. Row locks with ``SKIP LOCKED`` would avoid the double work
        too, but a second replica would then publish the rows behind a locked batch before it, out of
        order. A replica that dies mid-batch loses its connection and with it the lock, so another takes
        over at once; one waiting for the lock has nothing to do meanwhile. On SQLite (one process per
        database) the rows are read, published, then marked in a second transaction, so the file's write
        lock is not held while waiting for the broker.
        """
        query = self._unsent
        async with self.maker() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(sa.select(sa.func.pg_advisory_xact_lock(RELAY_LOCK_KEY)))
                rows = (await session.execute(query)).all()
                found = len(rows)
                rows = await self._bury_oversized(session, rows)
                if rows:
                    await self._publish(rows)
                    await self._mark_sent(session, rows)
                return found
            rows = (await session.execute(query)).all()
            found = len(rows)
            rows = await self._bury_oversized(session, rows)
        if rows:
            await self._publish(rows)
            # A crash here re-sends the batch; JetStream's duplicate window and the inboxes drop the copies.
            async with self.maker() as session, session.begin():
                await self._mark_sent(session, rows)
        return found

    async def _publish(self, rows: Sequence[UnsentRow]) -> None:
        await self.bus.publish_many([(r.subject, r.payload.encode(), r.event_id, r.request_id) for r in rows],
                                    ack_timeout=self.ack_timeout)

    @staticmethod
    async def _mark_sent(session: AsyncSession, rows: Sequence[UnsentRow]) -> None:
        await session.execute(_MARK_SENT, {"seqs": [r.seq for r in rows], "sent_at": utcnow()})


@dataclass(frozen=True)
class Backlog:
    """The events committed and not yet published: how many, and when the oldest was written."""

    unsent: int
    oldest_created_at: datetime | None

    def oldest_age_seconds(self, now: datetime | None = None) -> float | None:
        """How long the oldest unsent event has waited, in seconds (None when nothing waits)."""
        if self.oldest_created_at is None:
            return None
        return max(0.0, ((now or utcnow()) - self.oldest_created_at).total_seconds())


async def outbox_backlog(session: AsyncSession) -> Backlog:
    """The outbox's unsent events (the relay's index on ``sent_at`` answers this)."""
    row = (await session.execute(
        sa.select(sa.func.count(), sa.func.min(col(OutboxMessage.created_at)))
        .where(col(OutboxMessage.sent_at).is_(None)))).one()
    # min() keeps the column's type, so the instant comes back timezone-aware on SQLite too.
    return Backlog(unsent=int(row[0] or 0), oldest_created_at=row[1])


@functools.cache
def _inbox_insert(dialect: str) -> sa.Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` of an inbox row, in the dialect's words (both say it alike)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(InboxMessage.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]


@functools.cache
def _inbox_claim(dialect: str) -> sa.Insert:
    """``_inbox_insert`` telling which rows went in."""
    return _inbox_insert(dialect).returning(col(InboxMessage.event_id))


class UnitOfWork:
    """One transaction over a service's database, collecting the events it emits into the outbox.

    ``async with UnitOfWork(maker, relay) as uow: ...; await uow.commit()`` — leaving without commit
    rolls back. After a commit that emitted events the relay is woken.
    """

    def __init__(self, maker: async_sessionmaker[AsyncSession], relay: OutboxRelay | None = None) -> None:
        self.maker = maker
        self.relay = relay
        self.session: AsyncSession
        self._emitted = 0
        # Outbox rows emitted and not yet written: written at commit in one statement, in the order emitted.
        self._outbox: list[dict[str, Any]] = []
        # Rows of append-only tables (``append``), written at commit in one statement per table.
        self._appended: dict[sa.Table, list[dict[str, Any]]] = {}
        # A consumer's batch is first run without savepoints (see ``savepoint``); ``spoiled`` then tells that
        # a block raised, so the unit can only be rolled back.
        self.savepoints = True
        self.spoiled = False
        # What this unit has locked, by (model, key): an application and its tasks (``take_answer``), an
        # enterprise of a read model (``shared.readmodels``). A batch's later messages about the same object use
        # them rather than read them again: the lock is held to the end of the transaction, so no one else
        # changes them meanwhile. Kept only while the unit runs without savepoints: a savepoint rolled back would
        # leave these objects stale.
        self.locked: dict[tuple[type, str], Any] = {}
        # Per inbox consumer: the events ``claim`` recorded for it, and those of them not yet handed out as new.
        self._claimed: dict[str, tuple[set[str], set[str]]] = {}

    async def __aenter__(self) -> UnitOfWork:
        self.session = self.maker()
        await self.session.begin()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self.session.in_transaction():
            await self.session.rollback()
        await self.session.close()

    def emit(self, subject: str, event: CloudEvent) -> None:
        """Add an event to the outbox in this transaction; it is published only if the transaction commits.

        ``TooLarge`` (413) when the event is over ``MAX_EVENT_BYTES``: the request that would cause it is
        refused, rather than an event accepted that the broker will never take."""
        if event.correlationid is None:
            event.correlationid = current_request_id()
        if tracing.enabled():
            # The request's or the handled message's span, kept with the event until the relay publishes it.
            tracing.stamp_event(event)
        payload = event.model_dump_json()
        size = len(payload.encode())
        if size > MAX_EVENT_BYTES:
            raise TooLarge("event_too_large", f"this would announce {size} bytes on {subject}; the event bus carries "
                           f"at most {MAX_EVENT_BYTES}: send less (fewer or shorter items)", size_bytes=size)
        self._outbox.append({"event_id": event.id, "subject": subject, "payload": payload,
                             "request_id": current_request_id() or event.correlationid, "created_at": utcnow(),
                             "sent_at": None})
        self._emitted += 1

    def append(self, table: sa.Table, row: dict[str, Any]) -> None:
        """Add a row to an append-only table (an audit trail) in this transaction: written at commit with the
        unit's other rows of that table in one statement, with no ORM object to build or track. ``row`` names
        every column (defaults included: Core does not run the model's factories). Undone with its savepoint.
        Nothing in the transaction reads such rows back before the commit."""
        self._appended.setdefault(table, []).append(row)

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """``async with uow.savepoint():`` a block whose changes (and events) are undone alone if it raises.

        With ``savepoints`` off none is opened: a block that raises marks the unit ``spoiled`` (whether or
        not its caller catches the error), and the unit must be rolled back whole."""
        if not self.savepoints:
            try:
                yield
            except BaseException:
                self.spoiled = True
                raise
            return
        emitted = len(self._outbox)
        appended = {table: len(rows) for table, rows in self._appended.items()}
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self._outbox[emitted:]
            for table, rows in self._appended.items():
                del rows[appended.get(table, 0):]
            raise

    async def claim(self, consumer: str, event_ids: Sequence[str]) -> None:
        """Record a batch's events for ``consumer`` in the inbox in one statement, before they are handled: each
        ``already_handled`` of them then answers from what this inserted, without a statement of its own. Only
        in a unit without savepoints, which is rolled back whole if any of its messages fails."""
        if self.savepoints or not event_ids:
            return
        connection = await self.session.connection()
        now = utcnow()
        rows = await connection.execute(_inbox_claim(connection.dialect.name),
                                        [{"consumer": consumer, "event_id": event_id, "handled_at": now}
                                         for event_id in dict.fromkeys(event_ids)])
        self._claimed[consumer] = (set(event_ids), {row[0] for row in rows})

    async def already_handled(self, consumer: str, event_id: str) -> bool:
        """Record ``event_id`` for ``consumer`` in this transaction; True when it was handled before."""
        claimed = self._claimed.get(consumer)
        if claimed is not None and event_id in claimed[0]:
            new = claimed[1]
            # New once: the same event twice in a batch (a redelivery) is handled by its first copy only.
            if event_id in new:
                new.discard(event_id)
                return False
            return True
        # One statement, not a look then an insert: the row goes in unless it is there (on PostgreSQL a
        # concurrent twin waits for the first to finish, then finds it). Nothing pending needs flushing first.
        connection = await self.session.connection()
        result = await connection.execute(_inbox_insert(connection.dialect.name),
                                          {"consumer": consumer, "event_id": event_id, "handled_at": utcnow()})
        return result.rowcount == 0

    async def commit(self) -> None:
        """Commit the state change and its events together, then wake the relay."""
        try:
            if self._outbox or self._appended:
                # Plain rows that need nothing of the ORM: one INSERT per table (Core, no objects to track).
                connection = await self.session.connection()
                for table, rows in self._appended.items():
                    if rows:
                        await connection.execute(table.insert(), rows)
                self._appended = {}
                if self._outbox:
                    await connection.execute(OutboxMessage.__table__.insert(), self._outbox)  # type: ignore[attr-defined]
                    self._outbox = []
            await self.session.commit()
        except IntegrityError:
            await self.session.rollback()
            raise
        if self._emitted and self.relay is not None:
            self.relay.notify()
        self._emitted = 0


def one_per_unit(unit: Callable[[], UnitOfWork], in_unit: UnitHandler) -> Handler:
    """A consumer's handler applying ``in_unit`` to one message in a unit of work of its own, committed: the
    single-message mode of a consumer whose batch mode is ``unit``/``in_unit`` (and the bus's fallback when a
    batch's commit fails)."""

    async def handle(event: CloudEvent, msg: Msg) -> None:
        async with unit() as uow:
            await in_unit(uow, event, msg)
            await uow.commit()

    return handle
