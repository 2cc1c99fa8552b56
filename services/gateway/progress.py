"""Live progress of one application as server-sent events, fed from NATS JetStream.

``GET /api/v1/applications/{id}/events`` asks the owning service for the application with the caller's
token (so only its applicant, the clerk who submitted it, or an admin may listen; anyone else gets 404),
then reads two ephemeral consumers — the ``TASKS`` stream (``task.<service>.>``) and the service's own
stream (``<service>.>``) — from the application's creation on, and sends every event whose CloudEvent
``subject`` is the application: tasks requested, resolved and overdue, each state of the application, and its
escalations (办不成事) raised and answered.
The stream ends with the final state: one of the owning service's ``final_statuses`` in the registry
(completed, rejected, or objected for a deregistration).

The SSE id is a cursor into both streams, ``<TASKS sequence>-<service stream sequence>``: a client that
reconnects with ``Last-Event-ID`` resumes just after the last event it received, with nothing lost and
nothing repeated. The final event's id ends in ``-final``; reconnecting with it answers 204, which tells an
``EventSource`` to stop reconnecting. A cursor is never followed further back than the application: one at a
message older than the application (or one the broker no longer holds) is clamped to the application's
creation, events up to the cursor still skipped; one beyond the end of a stream (never issued) starts from the
beginning. A replay so reads no more than a new listener's would.

Streams are bounded: at most ``progress_streams_per_caller`` open at once per caller (token subject) and
``progress_streams_total`` in all (one more is 429 with ``Retry-After``), and each ends when the token it was
opened with expires (the ``EventSource`` then reconnects, and a fresh token is needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ValidationError

from services.gateway.proxy import call, upstream_headers
from shared.auth import CurrentPrincipal, expires_at, token_expired
from shared.bus import Bus
from shared.departments import Department
from shared.events import TASKS_STREAM, CloudEvent, stream_for_service
from shared.problems import Problem
from shared.registry import ServiceSpec, with_applications
from shared.settings import Settings, get_settings

log = logging.getLogger("onestop.gateway.progress")
router = APIRouter(prefix="/api/v1", tags=["applications"])

# Events are read from a little before the application's creation: the service's clock and the broker's
# need not agree to the second.
START_MARGIN = timedelta(seconds=60)
# How long the final state waits for department decisions still on their way through the other stream.
DRAIN_SECONDS = 5.0
RETRY_MILLISECONDS = 3000
# Retry-After of a stream refused because too many are open.
STREAMS_RETRY_SECONDS = 5
APPLICATION_ID = r"^[A-Za-z0-9_-]{1,100}$"


class ProgressEvent(BaseModel):
    """One step of an application, as its applicant sees it (whitelisted: no form, no personal data)."""

    kind: Literal["application", "task.requested", "task.resolved", "task.overdue", "escalation.raised",
                  "escalation.resolved"]
    application_id: str
    service: str
    event_id: str
    time: datetime
    status: str
    final: bool = False
    number: str | None = None
    reason: str | None = None
    missing: list[str] | None = None
    task_id: str | None = None
    department: str | None = None
    department_name: str | None = None
    round: int | None = None
    due_at: datetime | None = None
    comment: str | None = None
    escalation_id: str | None = None
    departments: list[str] | None = None


def _department_name(code: Any) -> str | None:
    try:
        return Department(code).name_zh
    except ValueError:
        return None


def progress_event(spec: ServiceSpec, event: CloudEvent) -> ProgressEvent | None:
    """The applicant's view of an event of the service ``spec``, or None when it is not about progress."""
    service = spec.name
    data = event.data
    common: dict[str, Any] = {"application_id": data.get("application_id") or event.subject, "service": service,
                              "event_id": event.id, "time": event.time}
    task: dict[str, Any] = {"task_id": data.get("task_id"), "department": data.get("department"),
                            "department_name": _department_name(data.get("department"))}
    name = event.name
    try:
        if name == "task.requested":
            return ProgressEvent(kind="task.requested", status="requested", round=data.get("round"),
                                 due_at=data.get("due_at"), **common, **task)
        if name == "task.resolved":
            return ProgressEvent(kind="task.resolved", status=data["outcome"], round=data.get("round"),
                                 comment=data.get("comment"), **common, **task)
        if name == f"{service}.task.overdue":
            return ProgressEvent(kind="task.overdue", status="overdue", due_at=data.get("due_at"), **common, **task)
        if name in (f"{service}.escalation.raised", f"{service}.escalation.resolved"):
            # status: open, or the supervisor's outcome; reason: why the applicant escalated; comment: the note.
            raised = name.endswith(".raised")
            return ProgressEvent(kind="escalation.raised" if raised else "escalation.resolved",
                                 status="open" if raised else data["outcome"], reason=data["reason"],
                                 escalation_id=data["escalation_id"], departments=data.get("departments"),
                                 due_at=data.get("due_at") if raised else None,
                                 comment=None if raised else data.get("note"), **common)
        if name.startswith(f"{service}.application."):
            status = data["status"]
            return ProgressEvent(kind="application", status=status, final=status in spec.final_statuses,
                                 number=data.get("number"), reason=data.get("reason"), missing=data.get("missing"),
                                 **common)
    except (KeyError, ValidationError):
        log.warning("event not shown: it does not fit its contract", extra={"event_id": event.id, "type": event.type})
    return None


@dataclass(frozen=True)
class Cursor:
    """Where a listener is in the two streams; the SSE id."""

    tasks: int = 0
    service: int = 0
    final: bool = False

    _FORMAT = re.compile(r"^(\d{1,19})-(\d{1,19})(-final)?$")

    def encode(self) -> str:
        return f"{self.tasks}-{self.service}" + ("-final" if self.final else "")

    @classmethod
    def parse(cls, value: str | None) -> Cursor:
        """The cursor of a ``Last-Event-ID``; anything we did not issue starts from the beginning."""
        match = cls._FORMAT.match(value.strip()) if value else None
        if match is None:
            return cls()
        return cls(int(match.group(1)), int(match.group(2)), bool(match.group(3)))


@dataclass
class _Item:
    seq: int
    stored_at: datetime
    payload: bytes


@dataclass
class _Source:
    """One consumer, the messages its pump fetched, and what the broker still holds for it."""

    label: str
    stream: str
    consumer: str
    sub: JetStreamContext.PullSubscription
    pending: int  # messages the broker still holds for this consumer, as last reported
    queue: asyncio.Queue[_Item] = field(default_factory=lambda: asyncio.Queue(512))
    head: _Item | None = None
    inflight: int = 0  # fetched, not yet queued
    fetched: int = 0
    handled: int = 0
    failure: BaseException | None = None
    # Messages up to this sequence were sent to the listener before (its Last-Event-ID): skipped.
    seen_up_to: int = 0

    def take(self) -> _Item | None:
        if self.head is None and not self.queue.empty():
            self.head = self.queue.get_nowait()
        return self.head

    @property
    def more_coming(self) -> bool:
        """Older messages than anything live are still on their way from the broker."""
        return self.take() is None and (self.inflight > 0 or self.pending > 0) and self.failure is None


class ProgressFeed:
    """Two ephemeral pull consumers (no acks, in memory, deleted when idle), merged in the order the broker
    stored their messages while history is read, then as they arrive."""

    def __init__(self, js: JetStreamContext, spec: ServiceSpec, application_id: str, since: datetime,
                 cursor: Cursor, request: Request | None = None, expires: float | None = None) -> None:
        self.js = js
        self.expires = expires  # when the listener's token expires (epoch seconds): the stream ends then
        self.request = request
        self.disconnected = False
        self._closing = False
        self.spec = spec
        self.service = spec.name
        self.application_id = application_id
        self.since = since
        self.cursor = cursor
        self.sources: dict[str, _Source] = {}
        self._arrived = asyncio.Event()
        self._pumps: list[asyncio.Task[None]] = []

    async def _resume(self, stream: str, after: int) -> tuple[int, int]:
        """For a cursor at sequence ``after`` of ``stream``: the sequence to start after (0: from the
        application's creation) and the one up to which messages are skipped (already sent)."""
        if not after:
            return 0, 0
        state = (await self.js.stream_info(stream)).state
        if after > state.last_seq:
            return 0, 0  # never issued: from the beginning
        if after < state.first_seq:
            return 0, after  # the broker no longer holds it
        try:
            message = await self.js.get_msg(stream, seq=after)
        except NotFoundError:
            return 0, after  # deleted: its age is unknown
        since = self.since if self.since.tzinfo else self.since.replace(tzinfo=UTC)
        if message.time is None or message.time < since:
            return 0, after  # older than the application: read no further back than its creation
        return after, after

    async def open(self) -> None:
        """Create the consumers, each from just after the cursor or else from the application's creation."""
        plan = (("tasks", TASKS_STREAM, f"task.{self.service}.>", self.cursor.tasks),
                ("service", stream_for_service(self.service), f"{self.service}.>", self.cursor.service))
        floors: dict[str, int] = {}
        for label, stream, subject, cursor in plan:
            after, floors[label] = await self._resume(stream, cursor)
            name = f"progress-{uuid.uuid4().hex}"
            config = ConsumerConfig(
                name=name,
                filter_subject=subject,
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE if after else DeliverPolicy.BY_START_TIME,
                opt_start_seq=after + 1 if after else None,
                opt_start_time=None if after else self.since,
                inactive_threshold=30.0,
                mem_storage=True,
                num_replicas=1,
            )
            info = await self.js.add_consumer(stream, config)
            sub = await self.js.pull_subscribe_bind(stream=stream, consumer=name)
            self.sources[label] = _Source(label, stream, name, sub, pending=info.num_pending or 0,
                                          seen_up_to=floors[label])
        self.cursor = Cursor(floors["tasks"], floors["service"])
        for source in self.sources.values():
            self._pumps.append(asyncio.create_task(self._pump(source), name=f"progress-{source.label}"))
        if self.request is not None:
            self._pumps.append(asyncio.create_task(self._watch(self.request), name="progress-client"))

    async def _watch(self, request: Request) -> None:
        # A listener that went away is otherwise noticed only when the next event or keep-alive is sent;
        # its consumers would stay open until then.
        while (await request.receive())["type"] != "http.disconnect":
            pass
        self.disconnected = True
        self._arrived.set()

    async def _pump(self, source: _Source) -> None:
        try:
            while not self._closing:
                try:
                    msgs = await source.sub.fetch(256, timeout=5.0)
                except (TimeoutError, NatsTimeoutError):
                    continue
                # Counted as in flight before the broker's count drops, so the merge never thinks the
                # history of this stream is over while part of it is still being queued.
                source.inflight += len(msgs)
                source.pending = msgs[-1].metadata.num_pending
                for msg in msgs:
                    await source.queue.put(_Item(msg.metadata.sequence.stream, msg.metadata.timestamp, msg.data))
                    source.inflight -= 1
                    source.fetched += 1
                    self._arrived.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            source.failure = exc
            self._arrived.set()

    async def close(self) -> None:
        """Stop the pumps and delete the consumers (the broker would drop them when idle anyway)."""
        self._closing = True
        with anyio.CancelScope(shield=True):
            pending = {task for task in self._pumps if not task.done()}
            while pending:
                # Cancelled again until they end: Python 3.11's wait_for (inside nats-py's fetch) can swallow
                # a cancellation that races with an arriving message.
                for task in pending:
                    task.cancel()
                _, pending = await asyncio.wait(pending, timeout=0.5)
            for source in self.sources.values():
                with contextlib.suppress(Exception):
                    await source.sub.unsubscribe()
                with contextlib.suppress(Exception):
                    await self.js.delete_consumer(source.stream, source.consumer)

    def _next(self) -> tuple[_Source, _Item] | None:
        """The next message to look at: the earliest stored of the heads, once no older one can still come."""
        sources = list(self.sources.values())
        if any(s.more_coming for s in sources):
            return None
        ready = [s for s in sources if s.take() is not None]
        if not ready:
            return None
        source = min(ready, key=lambda s: (s.head.stored_at, s.label))  # type: ignore[union-attr]
        item, source.head = source.head, None
        assert item is not None
        source.handled += 1
        return source, item

    async def _wait(self, timeout: float | None) -> None:
        self._arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout)

    async def _caught_up(self, source: _Source) -> bool:
        """Every message the broker has stored for ``source`` by now has been looked at."""
        if source.take() is not None or source.inflight:
            return False
        info = await self.js.consumer_info(source.stream, source.consumer)
        return info.num_pending == 0 and source.handled == source.fetched == info.delivered.consumer_seq

    def _left(self) -> float | None:
        """Seconds until the listener's token expires (None: no expiry)."""
        return None if self.expires is None else max(0.0, self.expires - time.time())

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        """The application's events after the cursor, ending with its final state (or when the token expires)."""
        position = {"tasks": self.cursor.tasks, "service": self.cursor.service}
        shown: set[tuple[str, str | None, int | None, str]] = set()
        held: tuple[ProgressEvent, int] | None = None  # the final state, sent once the decisions before it are
        deadline = 0.0
        first = True
        loop = asyncio.get_running_loop()
        while not self.disconnected:
            left = self._left()
            if left is not None and left <= 0:
                log.info("progress stream ended: the token expired", extra={"application_id": self.application_id})
                return
            if held is not None and (loop.time() >= deadline or await self._caught_up(self.sources["tasks"])):
                final, seq = held
                yield ServerSentEvent(id=Cursor(position["tasks"], seq, final=True).encode(), event=final.kind,
                                      data=final, retry=RETRY_MILLISECONDS if first else None)
                return
            failed = next((s for s in self.sources.values() if s.failure is not None and s.take() is None), None)
            if failed is not None:
                log.warning("progress stream interrupted", extra={"stream": failed.stream,
                                                                  "error": repr(failed.failure)})
                return  # the client reconnects with Last-Event-ID
            chosen = self._next()
            if chosen is None:
                pause = 0.2 if held is not None else 5.0
                await self._wait(pause if left is None else min(pause, left))
                continue
            source, item = chosen
            if item.seq <= source.seen_up_to:
                continue
            if held is not None and source.label == "service":
                continue  # nothing after the final state belongs in this stream
            try:
                event = CloudEvent.model_validate_json(item.payload)
            except ValidationError:
                continue
            if event.subject != self.application_id and event.data.get("application_id") != self.application_id:
                continue
            progress = progress_event(self.spec, event)
            if progress is None:
                continue
            # A department that answered twice (a resend) is shown once.
            key = (progress.kind, progress.task_id, progress.round, progress.status)
            if key in shown and progress.kind != "application":
                continue
            shown.add(key)
            if progress.final and source.label == "service":
                held = (progress, item.seq)
                deadline = loop.time() + DRAIN_SECONDS
                continue
            position[source.label] = item.seq
            yield ServerSentEvent(id=Cursor(position["tasks"], position["service"]).encode(), event=progress.kind,
                                  data=progress, retry=RETRY_MILLISECONDS if first else None)
            first = False


class StreamSlots:
    """The progress streams open in this gateway process: per caller and in all (0 switches a cap off)."""

    def __init__(self, per_caller: int, total: int) -> None:
        self.per_caller = per_caller
        self.total = total
        self.open: Counter[str] = Counter()

    @classmethod
    def of(cls, settings: Settings) -> StreamSlots:
        return cls(settings.progress_streams_per_caller, settings.progress_streams_total)

    @contextlib.contextmanager
    def hold(self, caller: str) -> Iterator[None]:
        """One stream of ``caller`` for the length of the block; a Problem 429 when a cap is reached."""
        if self.per_caller and self.open[caller] >= self.per_caller:
            raise self._refused(f"at most {self.per_caller} progress streams at once per caller")
        if self.total and self.open.total() >= self.total:
            raise self._refused("the gateway has as many progress streams open as it serves")
        self.open[caller] += 1
        try:
            yield
        finally:
            self.open[caller] -= 1
            if not self.open[caller]:
                del self.open[caller]

    @staticmethod
    def _refused(detail: str) -> Problem:
        return Problem(429, "Too many streams", f"{detail}; close one or try again later", code="too_many_streams",
                       headers={"Retry-After": str(STREAMS_RETRY_SECONDS)})


class NoContent(Exception):
    """Answered as 204: the listener has already seen the final state."""


async def find_application(request: Request, application_id: str) -> tuple[ServiceSpec, dict[str, Any]]:
    """The service that owns the application and its view of it, asked with the caller's own token at every
    application path of every service that has applications."""
    settings = get_settings()
    headers = {**upstream_headers(request), "accept": "application/json"}
    headers.pop("last-event-id", None)

    async def ask(spec: ServiceSpec, path: str) -> tuple[ServiceSpec, Any]:
        try:
            return spec, await call(request.app.state.upstreams, settings.service_url(spec.name), spec.name, "GET",
                                    f"{path}/{application_id}", headers=headers)
        except Problem as problem:
            return spec, problem

    answers = await asyncio.gather(*(ask(s, p) for s in with_applications() for p in s.application_paths))
    for spec, answer in answers:
        if not isinstance(answer, Problem) and answer.status_code == 200:
            return spec, answer.json()
    down = sorted({s.name for s, a in answers if isinstance(a, Problem) or a.status_code >= 500})
    if down:
        raise Problem(503, "Service unavailable", "the application may belong to a service that does not answer",
                      code="service_unavailable", unavailable_services=down, headers={"Retry-After": "5"})
    raise Problem(404, "Not found", "no such application", code="not_found")


async def open_feed(
    request: Request,
    principal: CurrentPrincipal,
    application_id: Annotated[str, Path(pattern=APPLICATION_ID)],
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> AsyncIterator[ProgressFeed]:
    """Authorize the listener, then open the feed for the length of the response (holding one of the caller's
    stream slots, and no longer than the token lasts)."""
    expires = expires_at(principal)
    if expires is not None and expires <= time.time():
        raise token_expired()  # accepted within the verifier's leeway, but a stream would end at once
    slots: StreamSlots = request.app.state.progress_streams
    with slots.hold(principal.sub):
        spec, application = await find_application(request, application_id)
        cursor = Cursor.parse(last_event_id)
        if cursor.final:
            raise NoContent
        bus: Bus = request.app.state.bus
        if not bus.is_connected:
            raise Problem(503, "Events unavailable", "the event broker does not answer; try again shortly",
                          code="broker_unavailable", headers={"Retry-After": "5"})
        since = datetime.fromisoformat(application["created_at"]) - START_MARGIN
        feed = ProgressFeed(bus.js, spec, application_id, since, cursor, request, expires)
        try:
            await feed.open()
            yield feed
        finally:
            await feed.close()


@router.get(
    "/applications/{application_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {"description": "Server-sent events. Each `data` is a JSON object: `kind` (as `event:`), "
                     "`application_id`, `service`, `event_id`, `time`, `status`, `final`; for a task `task_id`, "
                     "`department`, `department_name`, `round`, `due_at`, `comment`; for the application "
                     "`number`, `reason`, `missing`; for an escalation (办不成事) `escalation_id`, `reason`, "
                     "`departments`, `status` (open, or the outcome), `due_at` when raised, the supervisor's "
                     "note as `comment`."},
        204: {"description": "`Last-Event-ID` was the final event: nothing more will come."},
        404: {"description": "No such application, or not one the caller may see."},
        429: {"description": "Too many streams open: the caller's, or the gateway's in all."},
        503: {"description": "The event broker, or a service the application may belong to, does not answer."},
    },
)
async def application_events(feed: Annotated[ProgressFeed, Depends(open_feed)]) -> AsyncIterator[ServerSentEvent]:
    """Where the application stands, live: every task requested, resolved (approved, rejected, returned) and
    overdue, each state of the application, and its escalations raised and answered, as server-sent events
    (`event:` is the kind). The stream
    starts from the application's submission and ends after its final state (completed, rejected, or objected
    for a deregistration); a department's decision is always sent before the final state it led to.

    Resume with `Last-Event-ID`: the id is a cursor (`<tasks sequence>-<service sequence>`), and the events
    after it follow, none twice. The final event's id ends in `-final`; reconnecting with it answers 204.
    A cursor older than the application is clamped to the application's creation, and one the gateway never
    issued (beyond the end of the streams) starts from the beginning.
    Only the applicant, the clerk who submitted the application, or an admin may listen (404 otherwise).

    A caller may keep a few streams open at once, and the gateway a bounded number in all: one more is 429
    with `Retry-After`. A stream ends when the token it was opened with expires; reconnect with a fresh one.
    """
    async for event in feed.events():
        yield event


def install(app: FastAPI, settings: Settings | None = None) -> None:
    """Add the progress route, its stream caps, and the 204 that ends a finished stream for good."""
    app.state.progress_streams = StreamSlots.of(settings or get_settings())

    @app.exception_handler(NoContent)
    async def _no_content(_request: Request, _exc: NoContent) -> Response:
        return Response(status_code=204)

    app.include_router(router)
