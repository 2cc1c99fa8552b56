"""NATS JetStream adapter: one connection per process, streams and durable pull consumers created
idempotently, publication with ``Nats-Msg-Id``, and a consumer loop that acks only after the handler's
transaction committed — one transaction per message, or (batch mode) one per fetched batch with a savepoint
per message, so the cost of a commit is shared and one bad message does not undo the others."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import ValidationError

from shared import tracing
from shared.bustls import client_context
from shared.events import CloudEvent, all_streams, provenance_problem
from shared.requestid import REQUEST_ID_HEADER, request_id_var
from shared.settings import nats_servers

log = logging.getLogger("onestop.bus")

# JetStream drops a re-published event id within this window; the relay resends well inside it.
DUPLICATE_WINDOW_SECONDS = 600.0
# Between two attempts at the same broker after losing it: short, so a restarted broker (or, in a cluster,
# another node) is found again within a fraction of a second.
RECONNECT_WAIT_SECONDS = 0.25


class BusUnavailable(ConnectionError):
    """The connection to the broker is down (or went down while acks were awaited): try again after the
    bus reconnects."""


class TransientError(Exception):
    """The handler could not finish now (database busy, dependency down): redeliver later."""


class PoisonMessage(Exception):
    """The message can never be handled (malformed, contradicts the contract): terminate it."""


Handler = Callable[[CloudEvent, Msg], Awaitable[None]]


class BatchUnit(Protocol):
    """One transaction a fetched batch is handled in (``shared.outbox.UnitOfWork`` is one)."""

    # False: ``savepoint()`` opens none, and a block that raises marks the unit ``spoiled`` instead (the bus
    # then rolls the whole unit back and runs the batch again with savepoints).
    savepoints: bool
    spoiled: bool

    def savepoint(self) -> AbstractAsyncContextManager[Any]:
        """A savepoint: rolled back alone when the block raises, the transaction going on."""
        ...

    async def commit(self) -> None: ...


# Handles one message inside the batch's unit (the bus wraps each call in a savepoint of it).
UnitHandler = Callable[[Any, CloudEvent, Msg], Awaitable[None]]


@dataclass
class ConsumerSpec:
    """A durable pull consumer and the handler its messages go to."""

    durable: str
    stream: str
    filter_subjects: Sequence[str]
    handler: Handler
    max_deliver: int = 20
    # Redelivery delays after a missing ack; the first one is also the ack wait. Short at first, so a
    # message in flight when the broker died comes back soon after it returns.
    backoff: Sequence[float] = field(default_factory=lambda: (5.0, 15.0, 30.0, 60.0, 120.0, 300.0))
    nak_delay: float = 2.0
    batch: int = 64
    concurrency: int = 16
    # Batch mode (both set): the messages of one fetch are handled in ONE transaction opened by ``unit()``,
    # each by ``in_unit(unit, event, msg)`` inside its own savepoint; they are acked after the one commit. A
    # message whose savepoint failed is term'd (poison) or nak'd (transient) as in single mode, without
    # undoing the others; if the commit itself fails, the batch is handled again one message per
    # transaction with ``handler``.
    unit: Callable[[], AbstractAsyncContextManager[Any]] | None = None
    in_unit: UnitHandler | None = None
    # True when ``in_unit`` opens its own savepoint and leaves the unit as it found it whenever it raises: the
    # bus then opens none around it (a savepoint costs two statements and a flush).
    own_savepoint: bool = False
    # The name ``in_unit`` records its events under in the inbox (``UnitOfWork.already_handled``), if it does:
    # a batch run without savepoints then records them all in one statement first (``UnitOfWork.claim``).
    inbox: str | None = None


@dataclass(frozen=True)
class ConsumerState:
    """A durable consumer as the broker sees it: messages not yet delivered (``pending``), delivered and not
    yet acknowledged (``ack_pending``), and delivered more than once (``redelivered``)."""

    durable: str
    stream: str
    exists: bool
    pending: int = 0
    ack_pending: int = 0
    redelivered: int = 0


class Bus:
    """The process's connection to NATS; reconnects forever and recreates what it needs after a restart."""

    def __init__(self, url: str, name: str, *, seed: Path | None = None, manage_streams: bool = True,
                 tls_ca: Path | None = None, replicas: int = 1) -> None:
        self.url = url
        # One broker, or a cluster's seeds (a comma list): nats-py fails over between them.
        self.servers = nats_servers(url)
        # Copies of each stream this process creates or updates (3 on a three-node cluster).
        self.replicas = replicas
        self.name = name
        # With a CA, only a broker it certifies is trusted, and the connection is encrypted.
        self.tls_ca = tls_ca
        # The nkey seed this process proves its identity with (shared.natsauth); None only on a broker
        # without authentication.
        self.seed = seed
        # Services keep the streams' configuration; departments and the gateway only read and answer.
        self.manage_streams = manage_streams
        # Messages dropped because subject, source and data disagreed (a forged or misrouted event), in all
        # and by the consumer that refused them.
        self.refused = 0
        self.refused_by_consumer: collections.Counter[str] = collections.Counter()
        self.nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # Set while the connection is down: publishes waiting for acks give up at once instead of waiting
        # out their timeout for acks that went down with the broker.
        self._down = asyncio.Event()
        self._reconnect_listeners: list[Callable[[], None]] = []

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("bus not connected")
        return self._js

    @property
    def max_payload(self) -> int | None:
        """The largest message the connected broker takes (its ``max_payload``), or None before connecting."""
        return int(self.nc.max_payload) if self.nc is not None and self.nc.is_connected else None

    @property
    def is_connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def wait_connected(self) -> None:
        """Wait until the first connection and the streams are in place."""
        await self._ready.wait()

    async def connect(self) -> None:
        """Connect (retrying until it succeeds) and make sure every stream exists."""
        delay = 0.2
        while not self._stopping:
            try:
                self.nc = await nats.connect(
                    servers=self.servers,
                    name=self.name,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_WAIT_SECONDS,
                    connect_timeout=2,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    nkeys_seed=str(self.seed) if self.seed else None,
                    tls=client_context(self.tls_ca) if self.tls_ca else None,
                )
                self._js = self.nc.jetstream(timeout=10)
                if self.manage_streams:
                    await self.ensure_streams()
                # An earlier attempt that connected and then failed (a cluster's JetStream not ready to create
                # streams yet) was closed, and its disconnect marked the bus down; no reconnect will clear that.
                self._down.clear()
                self._ready.set()
                log.info("bus connected", extra={"nats_url": self.url})
                return
            except Exception as exc:
                log.warning("bus connect failed, retrying", extra={"error": repr(exc), "delay": delay})
                if self.nc is not None:
                    with contextlib.suppress(Exception):
                        await self.nc.close()
                    self.nc = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def start(self) -> None:
        """Connect in the background so the service can accept work while the broker is away."""
        self._tasks.append(asyncio.create_task(self.connect(), name=f"{self.name}-connect"))

    async def ensure_streams(self) -> None:
        """Create every stream (file storage, duplicate window) or bring its config up to date."""
        for name, subjects in all_streams().items():
            config = StreamConfig(
                name=name,
                subjects=subjects,
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
                # A stream made with one copy is brought to ``replicas`` by the update below (JetStream
                # copies it to the new peers), so an existing deployment moves onto a cluster as it is.
                num_replicas=self.replicas,
            )
            try:
                await self.js.stream_info(name)
                await self.js.update_stream(config)
            except NotFoundError:
                try:
                    await self.js.add_stream(config)
                except BadRequestError:
                    # Another process created it between our look and our add.
                    await self.js.update_stream(config)

    async def publish(self, subject: str, payload: bytes, msg_id: str, request_id: str | None = None) -> None:
        """Publish to JetStream and wait for the stream's acknowledgement."""
        headers = {"Nats-Msg-Id": msg_id}
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        if not tracing.enabled():
            await self.js.publish(subject, payload, headers=headers)
            return
        span = tracing.start_publish(subject, msg_id, payload, headers)
        try:
            await self.js.publish(subject, payload, headers=headers)
        except BaseException as exc:
            tracing.end_publish([span], exc)
            raise
        tracing.end_publish([span])

    def add_reconnect_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` each time the connection comes back, e.g. to resume publishing at once rather
        than at the next poll or retry."""
        self._reconnect_listeners.append(listener)

    async def publish_many(self, messages: Sequence[tuple[str, bytes, str, str | None]],
                           ack_timeout: float = 10.0) -> None:
        """Publish in order without waiting for each ack before sending the next, then await every ack.

        Raises TimeoutError when the acks do not all arrive in time (an ack lost in a broker restart
        would otherwise be awaited forever), and ``BusUnavailable`` at once when the connection is down or
        drops meanwhile (its acks will not come); the caller resends, and ``Nats-Msg-Id`` drops the copies.
        """
        if not self.is_connected:
            raise BusUnavailable("not connected to NATS")
        futures = []
        traced = tracing.enabled()
        spans = []
        for subject, payload, msg_id, request_id in messages:
            headers = {"Nats-Msg-Id": msg_id}
            if request_id:
                headers[REQUEST_ID_HEADER] = request_id
            if traced:
                spans.append(tracing.start_publish(subject, msg_id, payload, headers))
            futures.append(await self.js.publish_async(subject, payload, headers=headers))
        acks: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*futures))
        # Given up on (the connection dropped, the time ran out), it still ends with an error: read it, so
        # asyncio does not report it as never retrieved.
        acks.add_done_callback(lambda done: done.cancelled() or done.exception())
        down: asyncio.Future[Any] = asyncio.ensure_future(self._down.wait())
        error: BaseException | None = None
        try:
            done, _ = await asyncio.wait((acks, down), timeout=ack_timeout, return_when=asyncio.FIRST_COMPLETED)
            if acks in done:
                acks.result()
                return
            if down in done:
                raise BusUnavailable("the connection to NATS dropped while acks were awaited")
            raise TimeoutError(f"{len(futures)} publish acks not received within {ack_timeout}s")
        except BaseException as exc:
            error = exc
            raise
        finally:
            down.cancel()
            acks.cancel()
            for future in futures:
                future.cancel()
            if spans:
                tracing.end_publish(spans, error)

    def consume(self, spec: ConsumerSpec) -> None:
        """Run a durable pull consumer in the background until ``close``."""
        self._tasks.append(asyncio.create_task(self._consume(spec), name=f"consumer-{spec.durable}"))

    async def _consume(self, spec: ConsumerSpec) -> None:
        await self._ready.wait()
        config = ConsumerConfig(
            # Named as well as durable: the create request then names its filter in its subject, which is
            # what the broker's permissions check (a department may only create consumers of its own tasks).
            name=spec.durable,
            durable_name=spec.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=spec.max_deliver,
            backoff=list(spec.backoff),
            max_ack_pending=max(1000, spec.batch * 4),
            **(
                {"filter_subject": spec.filter_subjects[0]}
                if len(spec.filter_subjects) == 1
                else {"filter_subjects": list(spec.filter_subjects)}
            ),
        )
        sub = None
        limiter = asyncio.Semaphore(spec.concurrency)
        while not self._stopping:
            try:
                if sub is None:
                    await self._ensure_consumer(spec.stream, config)
                    sub = await self.js.pull_subscribe_bind(durable=spec.durable, stream=spec.stream)
                msgs = await sub.fetch(spec.batch, timeout=1.0)
            except (TimeoutError, NatsTimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer fetch failed", extra={"consumer": spec.durable, "error": repr(exc)})
                sub = None
                await asyncio.sleep(0.5)
                continue

            if spec.unit is not None and spec.in_unit is not None:
                await self._dispatch_batch(spec, msgs)
                continue

            async def run_one(msg: Msg) -> None:
                async with limiter:
                    await self._dispatch(spec, msg)

            await asyncio.gather(*(run_one(m) for m in msgs))

    async def consumer_state(self, spec: ConsumerSpec) -> ConsumerState:
        """What the broker knows of a durable consumer: whether it exists, and its backlog.

        Raises when the broker does not answer (not connected, timeout)."""
        try:
            info = await self.js.consumer_info(spec.stream, spec.durable)
        except NotFoundError:
            return ConsumerState(spec.durable, spec.stream, exists=False)
        return ConsumerState(spec.durable, spec.stream, exists=True, pending=info.num_pending or 0,
                             ack_pending=info.num_ack_pending or 0, redelivered=info.num_redelivered or 0)

    async def _ensure_consumer(self, stream: str, config: ConsumerConfig) -> None:
        try:
            await self.js.consumer_info(stream, config.durable_name or "")
        except NotFoundError:
            with contextlib.suppress(BadRequestError):
                await self.js.add_consumer(stream, config)

    async def _admit(self, spec: ConsumerSpec, msg: Msg) -> CloudEvent | None:
        """The message's event, or None after terminating a message that is not a CloudEvent or whose
        subject, source and data disagree."""
        try:
            event = CloudEvent.model_validate_json(msg.data)
        except ValidationError as exc:
            log.error("poison message terminated: not a CloudEvent",
                      extra={"consumer": spec.durable, "subject": msg.subject, "error": str(exc)[:500]})
            with contextlib.suppress(Exception):
                await msg.term()
            return None
        problem = provenance_problem(msg.subject, event)
        if problem is not None:
            self.refused += 1
            self.refused_by_consumer[spec.durable] += 1
            log.error("event refused: subject, source and data disagree",
                      extra={"consumer": spec.durable, "subject": msg.subject, "event_id": event.id,
                             "source": event.source, "problem": problem, "refused_total": self.refused})
            with contextlib.suppress(Exception):
                await msg.term()
            return None
        return event

    @staticmethod
    def _outcome(spec: ConsumerSpec, event: CloudEvent, exc: Exception) -> str:
        """``term`` for a message that can never succeed, ``nak`` for one to redeliver later (logged)."""
        if isinstance(exc, PoisonMessage):
            log.error("poison message terminated",
                      extra={"consumer": spec.durable, "event_id": event.id, "error": str(exc)})
            return "term"
        if isinstance(exc, ValidationError):
            log.error("poison message terminated: data does not fit its model",
                      extra={"consumer": spec.durable, "event_id": event.id, "error": str(exc)[:500]})
            return "term"
        log.warning("handler failed, redelivering",
                    extra={"consumer": spec.durable, "event_id": event.id, "error": repr(exc)})
        return "nak"

    @staticmethod
    async def _settle(spec: ConsumerSpec, msg: Msg, outcome: str) -> None:
        # A lost ack only means a redelivery, which the inbox absorbs.
        with contextlib.suppress(Exception):
            if outcome == "ack":
                await msg.ack()
            elif outcome == "term":
                await msg.term()
            else:
                await msg.nak(delay=spec.nak_delay)

    @staticmethod
    @contextlib.contextmanager
    def _message_scope(spec: ConsumerSpec, event: CloudEvent, msg: Msg) -> Iterator[tracing.Span | None]:
        """Where one message is handled: under its request id and, when tracing, its CONSUMER span, current
        inside. The span is left open: ``_end_span`` ends it once the message's outcome is final."""
        token = request_id_var.set((msg.headers or {}).get(REQUEST_ID_HEADER) or event.correlationid or "-")
        span = tracing.start_process(msg.subject, event.id, spec.durable, msg.headers, event) \
            if tracing.enabled() else None
        try:
            with tracing.activated(span) if span is not None else contextlib.nullcontext():
                yield span
        finally:
            request_id_var.reset(token)

    @staticmethod
    def _end_span(span: tracing.Span | None, outcome: str, error: Exception | None) -> None:
        if span is not None:
            tracing.record_outcome(span, outcome, error)
            span.end()

    async def _dispatch(self, spec: ConsumerSpec, msg: Msg, event: CloudEvent | None = None) -> None:
        if event is None:
            event = await self._admit(spec, msg)
            if event is None:
                return
        error: Exception | None = None
        with self._message_scope(spec, event, msg) as span:
            try:
                await spec.handler(event, msg)
                outcome = "ack"
            except Exception as exc:
                error, outcome = exc, self._outcome(spec, event, exc)
        self._end_span(span, outcome, error)
        await self._settle(spec, msg, outcome)

    async def _dispatch_batch(self, spec: ConsumerSpec, msgs: Sequence[Msg]) -> None:
        """Handle a fetched batch in one transaction, a savepoint per message; settle each after the commit.

        The batch is first run with its savepoints left out: they cost two statements and a flush each, and
        in a healthy flow no message raises. If one does, that run is rolled back whole and the batch run
        again with them, so each message is undone alone as before."""
        assert spec.unit is not None and spec.in_unit is not None
        items = []
        for msg in msgs:
            event = await self._admit(spec, msg)
            if event is not None:
                items.append((event, msg))
        if not items:
            return
        try:
            # Traced runs keep their savepoints: a rerun would show each message handled twice.
            outcomes = None if tracing.enabled() else await self._run_batch(spec, items, savepoints=False)
            if outcomes is None:
                outcomes = await self._run_batch(spec, items, savepoints=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Nothing of the batch was committed: handle each message alone, as in single mode.
            log.warning("batch transaction failed, handling its messages one by one",
                        extra={"consumer": spec.durable, "messages": len(items), "error": repr(exc)})
            for event, msg in items:
                await self._dispatch(spec, msg, event)
            return
        assert outcomes is not None
        for (_event, msg), outcome in zip(items, outcomes, strict=True):
            await self._settle(spec, msg, outcome)

    async def _run_batch(self, spec: ConsumerSpec, items: Sequence[tuple[CloudEvent, Msg]], *,
                         savepoints: bool) -> list[str] | None:
        """Run a batch in one unit and commit it; the outcome of each message, or None (nothing committed)
        when, run without savepoints, a message raised."""
        assert spec.unit is not None and spec.in_unit is not None
        outcomes: list[str] = []
        async with spec.unit() as unit:
            unit.savepoints = savepoints
            if spec.inbox is not None and not savepoints:
                await unit.claim(spec.inbox, [event.id for event, _msg in items])
            for event, msg in items:
                error: Exception | None = None
                with self._message_scope(spec, event, msg) as span:
                    try:
                        async with contextlib.nullcontext() if spec.own_savepoint else unit.savepoint():
                            await spec.in_unit(unit, event, msg)
                        outcome = "ack"
                    except Exception as exc:
                        if not savepoints:
                            return None
                        error, outcome = exc, self._outcome(spec, event, exc)
                if not savepoints and unit.spoiled:
                    # Raised and was caught inside the handler: what it had written before is still there.
                    return None
                outcomes.append(outcome)
                # Settled after the batch's commit; a failed commit handles it again, in a new span.
                self._end_span(span, outcome, error)
            await unit.commit()
        return outcomes

    async def close(self) -> None:
        """Stop consumers and drain the connection."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.close()

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats error", extra={"error": repr(exc)})

    async def _on_disconnected(self) -> None:
        self._down.set()
        log.warning("nats disconnected")

    async def _on_reconnected(self) -> None:
        self._down.clear()
        server = self.nc.connected_url if self.nc is not None else None
        log.info("nats reconnected", extra={"nats_server": server.netloc if server else None})
        # First the listeners, so publishing resumes now; checking the streams may wait out a stream
        # leader's election in a cluster, and a publish that finds no stream yet is simply tried again.
        for listener in self._reconnect_listeners:
            listener()
        # A broker restarted without its store loses streams; recreate them.
        if self.manage_streams:
            with contextlib.suppress(Exception):
                await self.ensure_streams()
