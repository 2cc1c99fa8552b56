"""Live progress of one application as server-sent events, fed from NATS JetStream.

``GET /api/v1/applications/{id}/events`` asks the owning service for the application with the caller's
token (so only its applicant, the clerk who submitted it, or an admin may listen; anyone else gets 404),
then reads two ephemeral consumers — the ``TASKS`` stream (``task.<service>.>``) and the service's own
stream (``<service>.>``) — from the application's creation on, and sends every event whose CloudEvent
``subject`` is the application: tasks requested, resolved and overdue, and each state of the application.
The stream ends with the final state: one of the owning service's ``final_statuses`` in the registry
(completed, rejected, or objected for a deregistration).

The SSE id is a cursor into both streams, ``<TASKS sequence>-<service stream sequence>``: a client that
reconnects with ``Last-Event-ID`` resumes just after the last event it received, with nothing lost and
nothing repeated. The final event's id ends in ``-final``; reconnecting with it answers 204, which tells an
``EventSource`` to stop reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import BaseModel, ValidationError

from services.gateway.proxy import call, forward_headers
from shared.auth import CurrentPrincipal
from shared.bus import Bus
from shared.departments import Department
from shared.events import TASKS_STREAM, CloudEvent, stream_for_service
from shared.problems import Problem
from shared.registry import ServiceSpec, with_applications
from shared.settings import get_settings

log = logging.getLogger("onestop.gateway.progress")
router = APIRouter(prefix="/api/v1", tags=["applications"])

# Events are read from a little before the application's creation: the service's clock and the broker's
# need not agree to the second.
START_MARGIN = timedelta(seconds=60)
# How long the final state waits for department decisions still on their way through the other stream.
DRAIN_SECONDS = 5.0
RETRY_MILLISECONDS = 3000
APPLICATION_ID = r"^[A-Za-z0-9_-]{1,100}$"


class ProgressEvent(BaseModel):
    """One step of an application, as its applicant sees it (whitelisted: no form, no personal data)."""

    kind: Literal["application", "task.requested", "task.resolved", "task.overdue"]
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

    _FORMAT = re.compile(r"^(\d{1,20})-(\d{1,20})(-final)?$")

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
                 cursor: Cursor, request: Request | None = None) -> None:
        self.js = js
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

    async def open(self) -> None:
        """Create the consumers, each from just after the cursor or else from the application's creation."""
        plan = (("tasks", TASKS_STREAM, f"task.{self.service}.>", self.cursor.tasks),
                ("service", stream_for_service(self.service), f"{self.service}.>", self.cursor.service))
        for label, stream, subject, after in plan:
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
            self.sources[label] = _Source(label, stream, name, sub, pending=info.num_pending or 0)
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

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        """The application's events after the cursor, ending with its final state."""
        position = {"tasks": self.cursor.tasks, "service": self.cursor.service}
        shown: set[tuple[str, str | None, int | None, str]] = set()
        held: tuple[ProgressEvent, int] | None = None  # the final state, sent once the decisions before it are
        deadline = 0.0
        first = True
        loop = asyncio.get_running_loop()
        while not self.disconnected:
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
                await self._wait(0.2 if held is not None else 5.0)
                continue
            source, item = chosen
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


class NoContent(Exception):
    """Answered as 204: the listener has already seen the final state."""


async def find_application(request: Request, application_id: str) -> tuple[ServiceSpec, dict[str, Any]]:
    """The service that owns the application and its view of it, asked with the caller's own token at every
    application path of every service that has applications."""
    settings = get_settings()
    headers = {**forward_headers(request.headers), "accept": "application/json"}
    headers.pop("last-event-id", None)

    async def ask(spec: ServiceSpec, path: str) -> tuple[ServiceSpec, Any]:
        try:
            return spec, await call(request.app.state.client, settings.service_url(spec.name), spec.name, "GET",
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
    _principal: CurrentPrincipal,
    application_id: Annotated[str, Path(pattern=APPLICATION_ID)],
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> AsyncIterator[ProgressFeed]:
    """Authorize the listener, then open the feed for the length of the response."""
    spec, application = await find_application(request, application_id)
    cursor = Cursor.parse(last_event_id)
    if cursor.final:
        raise NoContent
    bus: Bus = request.app.state.bus
    if not bus.is_connected:
        raise Problem(503, "Events unavailable", "the event broker does not answer; try again shortly",
                      code="broker_unavailable", headers={"Retry-After": "5"})
    since = datetime.fromisoformat(application["created_at"]) - START_MARGIN
    feed = ProgressFeed(bus.js, spec, application_id, since, cursor, request)
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
                     "`number`, `reason`, `missing`."},
        204: {"description": "`Last-Event-ID` was the final event: nothing more will come."},
        404: {"description": "No such application, or not one the caller may see."},
    },
)
async def application_events(feed: Annotated[ProgressFeed, Depends(open_feed)]) -> AsyncIterator[ServerSentEvent]:
    """Where the application stands, live: every task requested, resolved (approved, rejected, returned) and
    overdue, and each state of the application, as server-sent events (`event:` is the kind). The stream
    starts from the application's submission and ends after its final state (completed, rejected, or objected
    for a deregistration); a department's decision is always sent before the final state it led to.

    Resume with `Last-Event-ID`: the id is a cursor (`<tasks sequence>-<service sequence>`), and the events
    after it follow, none twice. The final event's id ends in `-final`; reconnecting with it answers 204.
    Only the applicant, the clerk who submitted the application, or an admin may listen (404 otherwise).
    """
    async for event in feed.events():
        yield event


def install(app: FastAPI) -> None:
    """Add the progress route and the 204 that ends a finished stream for good."""

    @app.exception_handler(NoContent)
    async def _no_content(_request: Request, _exc: NoContent) -> Response:
        return Response(status_code=204)

    app.include_router(router)
