"""The runtime every service process has: settings, database, bus, outbox relay, consumers and sweepers,
started and stopped by the FastAPI lifespan; plus the typed dependencies routes use."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import httpx
import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from shared import registry, tracing
from shared.auth import AdminPrincipal, TokenVerifier
from shared.bus import Bus, ConsumerSpec, ConsumerState
from shared.db import create_engine, create_sessionmaker, ping
from shared.departments import Department
from shared.idempotency import purge_expired
from shared.logs import configure_logging
from shared.metrics import Metrics, tally
from shared.natsauth import identity_for_process
from shared.outbox import Backlog, OutboxRelay, UnitOfWork, outbox_backlog
from shared.pagination import Page, Paging, fetch_page
from shared.records import ApplicationRecord, DeadLetter
from shared.settings import Settings, get_settings
from shared.tasks import open_tasks_by_department
from shared.web import (
    FASTAPI_TELEMETRY,
    BodyLimitMiddleware,
    CheckReading,
    health_router,
    install_common,
    install_problem_openapi,
    uses_database,
)
from shared.workdays import coverage_warning

log = logging.getLogger("onestop.service")

Sweep = Callable[["ServiceRuntime"], Awaitable[int]]
# Expired Idempotency-Key answers are deleted this often (every service keeps them).
IDEMPOTENCY_PURGE_SECONDS = 600.0



async def count_by_status(session: AsyncSession, model: type[ApplicationRecord]) -> dict[str, int]:
    """Status → how many of a service's applications are in it."""
    status = col(model.status)
    rows = await session.execute(sa.select(status, sa.func.count()).group_by(status))
    return {str(s): int(n) for s, n in rows.all()}

class ServiceRuntime:
    """One service's connections and background loops."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.service
        self.engine = create_engine(settings.db_url)
        self.maker = create_sessionmaker(self.engine)
        self.bus = Bus(settings.nats_url, name=f"onestop-{self.name}", tls_ca=settings.nats_tls_ca,
                       seed=settings.nats_seed(identity_for_process(self.name)), replicas=settings.stream_replicas)
        self.relay = OutboxRelay(self.maker, self.bus, batch_size=settings.relay_batch_size,
                                 idle_seconds=settings.relay_idle_seconds,
                                 ack_timeout=settings.relay_ack_timeout_seconds)
        # Calls to other services (the materials service's lookups): one client, its connections kept alive.
        # A client per call would load the CA store each time, about 20 ms of CPU, more than the call.
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(settings.upstream_timeout_seconds, connect=2.0),
                                      # Idle ones dropped before the other service's keep-alive (5 s) ends.
                                      limits=httpx.Limits(max_connections=50, max_keepalive_connections=20,
                                                          keepalive_expiry=2.0))
        self._sweep_tasks: list[asyncio.Task[None]] = []
        self._purged_at: float | None = None
        # The durable consumers this process runs (for readiness and metrics).
        self.consumers: list[ConsumerSpec] = []

    def uow(self) -> UnitOfWork:
        """A new unit of work on this service's database."""
        return UnitOfWork(self.maker, self.relay)

    async def start(self, consumers: Sequence[ConsumerSpec], sweeps: Sequence[Sweep]) -> None:
        self.bus.start()
        self.consumers = list(consumers)
        for spec in self.consumers:
            self.bus.consume(spec)
        if self.settings.relay_enabled:
            self.relay.start()
        for sweep in (*sweeps, purge_idempotency_records):
            self._sweep_tasks.append(asyncio.create_task(self._sweep_loop(sweep), name=f"sweep-{sweep.__name__}"))

    async def _sweep_loop(self, sweep: Sweep) -> None:
        while True:
            try:
                await sweep(self)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweep failed", extra={"sweep": sweep.__name__})
            await asyncio.sleep(self.settings.sweep_interval_seconds)

    async def stop(self) -> None:
        for task in self._sweep_tasks:
            task.cancel()
        for task in self._sweep_tasks:
            with contextlib.suppress(BaseException):
                await task
        await self.relay.stop()
        await self.bus.close()
        await self.engine.dispose()
        await self.http.aclose()

    async def check_database(self) -> None:
        await ping(self.engine)

    async def dead_letter_count(self) -> int:
        """How many events this service could never publish."""
        async with self.maker() as session:
            return int(await session.scalar(sa.select(sa.func.count()).select_from(DeadLetter)) or 0)

    async def check_bus(self) -> None:
        if not self.bus.is_connected:
            raise ConnectionError("not connected to NATS")
        await self.bus.js.account_info()

    async def outbox(self) -> OutboxHealth:
        """The outbox's backlog and whether the relay can drain it."""
        async with self.maker() as session:
            backlog = await outbox_backlog(session)
        return OutboxHealth(backlog=backlog, oldest_age_seconds=backlog.oldest_age_seconds(),
                            relay_error=self.relay.last_error, bus_connected=self.bus.is_connected,
                            stall_seconds=self.settings.outbox_stall_seconds)

    async def consumer_states(self) -> list[ConsumerState]:
        """Each durable consumer of this process as the broker sees it (raises when the broker does not answer)."""
        if not self.bus.is_connected:
            raise ConnectionError("not connected to NATS")
        return [await asyncio.wait_for(self.bus.consumer_state(spec), CONSUMER_INFO_TIMEOUT_SECONDS)
                for spec in self.consumers]


# How long readiness and a scrape wait for the broker to describe one consumer.
CONSUMER_INFO_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class OutboxHealth:
    """The outbox as an operator sees it: what waits, since when, and why it may not be leaving."""

    backlog: Backlog
    oldest_age_seconds: float | None
    relay_error: str | None
    bus_connected: bool
    stall_seconds: float

    @property
    def stalled(self) -> bool:
        """Events older than ``stall_seconds`` wait while the relay cannot publish: the process's
        announcements are stuck (a slow but working relay is not stalled)."""
        old = self.oldest_age_seconds is not None and self.oldest_age_seconds > self.stall_seconds
        return old and (self.relay_error is not None or not self.bus_connected)

    def reading(self) -> CheckReading:
        """The readiness check's answer: unready when stalled, a warning when events wait long but leave."""
        detail = {"unsent": self.backlog.unsent, "oldest_unsent_age_seconds": self.oldest_age_seconds,
                  "relay_error": self.relay_error, "bus_connected": self.bus_connected,
                  "stall_after_seconds": self.stall_seconds}
        age = f"{self.oldest_age_seconds:.0f}" if self.oldest_age_seconds is not None else "0"
        if self.stalled:
            why = self.relay_error or "the bus is disconnected"
            return CheckReading(ready=False, note=f"{self.backlog.unsent} event(s) unsent for {age} s: {why}",
                                detail=detail)
        if self.oldest_age_seconds is not None and self.oldest_age_seconds > self.stall_seconds:
            return CheckReading(note=f"{self.backlog.unsent} event(s) unsent, the oldest for {age} s", detail=detail)
        return CheckReading(detail=detail)


def consumers_reading(states: Sequence[ConsumerState]) -> CheckReading:
    """Readiness of the durable consumers: each must exist on the broker (its pending count for operators)."""
    detail = {s.durable: {"stream": s.stream, "exists": s.exists, "pending": s.pending,
                          "ack_pending": s.ack_pending, "redelivered": s.redelivered} for s in states}
    missing = [s.durable for s in states if not s.exists]
    if missing:
        return CheckReading(ready=False, note=f"not on the broker: {', '.join(missing)}", detail=detail)
    return CheckReading(detail=detail)


async def purge_idempotency_records(runtime: ServiceRuntime) -> int:
    """Delete expired Idempotency-Key answers, at most once per ``IDEMPOTENCY_PURGE_SECONDS``."""
    now = asyncio.get_running_loop().time()
    if runtime._purged_at is not None and now - runtime._purged_at < IDEMPOTENCY_PURGE_SECONDS:
        return 0
    runtime._purged_at = now
    async with runtime.maker() as session, session.begin():
        return await purge_expired(session)


def create_service_app(
    *,
    title: str,
    routers: Sequence[APIRouter],
    consumers: Callable[[ServiceRuntime], Sequence[ConsumerSpec]] = lambda _: (),
    sweeps: Sequence[Sweep] = (),
    settings: Settings | None = None,
    on_start: Callable[[ServiceRuntime], Awaitable[None]] | None = None,
    applications: type[ApplicationRecord] | None = None,
) -> FastAPI:
    """A service's FastAPI app whose lifespan opens the runtime, runs ``on_start`` (e.g. loading a dev data
    set) and starts its loops; its ``/metrics`` count its ``applications`` (their table) by status."""
    settings = settings or get_settings()
    settings.refuse_unsafe()
    configure_logging(settings.service, settings.log_level)
    tracing.configure_tracing(settings.service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = ServiceRuntime(settings)
        app.state.runtime = runtime
        app.state.verifier = TokenVerifier(settings)
        if on_start is not None:
            await on_start(runtime)
        await runtime.start(consumers(runtime), sweeps)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, lifespan=lifespan, docs_url="/docs", telemetry=FASTAPI_TELEMETRY)
    # The gateway's limit again: a service called directly refuses what the gateway would (inside the
    # request-context middleware added by install_common, so a 413 carries its request id).
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       uploads=registry.upload_paths(), max_upload_bytes=settings.max_upload_bytes)
    metrics = Metrics(settings.service)
    observe_runtime(metrics, lambda: app.state.runtime, applications)
    install_common(app, metrics)
    install_problem_openapi(app, settings)

    async def check_database() -> None:
        await app.state.runtime.check_database()

    async def check_bus() -> None:
        await app.state.runtime.check_bus()

    async def check_working_days() -> str | None:
        # A year without the official holiday arrangement still gets due dates, only provisional ones: a
        # warning in the body, not an unready service.
        return coverage_warning()

    async def check_dead_letters() -> str | None:
        # An event that can never be published is kept aside (it blocks nothing); an operator must see it.
        count = await app.state.runtime.dead_letter_count()
        return f"{count} event(s) could not be published: see GET /api/v1/admin/dead-letters" if count else None

    async def check_outbox() -> CheckReading:
        return (await app.state.runtime.outbox()).reading()

    async def check_consumers() -> CheckReading:
        return consumers_reading(await app.state.runtime.consumer_states())

    app.include_router(health_router({"database": check_database, "nats": check_bus,
                                      "working_days": check_working_days, "dead_letters": check_dead_letters,
                                      "outbox": check_outbox, "consumers": check_consumers}))
    app.include_router(dead_letter_router())
    for router in routers:
        app.include_router(router)
    return app


def observe_runtime(metrics: Metrics, runtime: Callable[[], ServiceRuntime],
                    applications: type[ApplicationRecord] | None) -> None:
    """The series of a service process read at scrape time from its database and the broker (outbox,
    consumers; with ``applications``, their states and the departments' open and overdue tasks), and the
    events its bus refused. ``runtime`` gives the running runtime (it exists only inside the app's lifespan)."""
    unsent = metrics.gauge("onestop_outbox_unsent_events", "Events committed and not yet published")
    age = metrics.gauge("onestop_outbox_oldest_unsent_age_seconds",
                        "How long the oldest unsent event has waited (0 when none waits)")
    dead = metrics.gauge("onestop_outbox_dead_letters", "Events that can never be published, kept aside")
    relay_failing = metrics.gauge("onestop_outbox_relay_failing", "1 while the relay's last publish attempt failed")
    connected = metrics.gauge("onestop_bus_connected", "1 while the process is connected to NATS")
    consumer_labels = ("stream", "consumer")
    pending = metrics.gauge("onestop_consumer_pending_messages",
                            "Messages of a durable consumer not yet delivered (num_pending)", consumer_labels)
    ack_pending = metrics.gauge("onestop_consumer_ack_pending_messages",
                                "Messages delivered and not yet acknowledged (num_ack_pending)", consumer_labels)
    redelivered = metrics.gauge("onestop_consumer_redelivered_messages",
                                "Messages delivered more than once (num_redelivered)", consumer_labels)
    tasks_open = metrics.gauge("onestop_tasks_open", "Department tasks requested and not yet answered",
                               ["department"])
    tasks_overdue = metrics.gauge("onestop_tasks_overdue", "Requested tasks past their due time (超期)",
                                  ["department"])
    by_state = metrics.gauge("onestop_applications_by_state", "Applications by status", ["state"])
    metrics.count_from("onestop_bus_events_refused",
                       "Events dropped because their subject, source and data disagree (provenance check)",
                       ["consumer"], lambda: tally(runtime().bus.refused_by_consumer))

    async def outbox() -> None:
        health = await runtime().outbox()
        metrics.set(unsent, health.backlog.unsent)
        metrics.set(age, health.oldest_age_seconds or 0.0)
        metrics.set(relay_failing, 1 if health.relay_error else 0)
        metrics.set(connected, 1 if health.bus_connected else 0)
        metrics.set(dead, await runtime().dead_letter_count())

    async def consumers() -> None:
        states = await runtime().consumer_states()
        for gauge in (pending, ack_pending, redelivered):
            gauge.clear()
        for state in states:
            if state.exists:
                metrics.set(pending, state.pending, state.stream, state.durable)
                metrics.set(ack_pending, state.ack_pending, state.stream, state.durable)
                metrics.set(redelivered, state.redelivered, state.stream, state.durable)

    async def tasks() -> None:
        async with runtime().maker() as session:
            found = await open_tasks_by_department(session)
        # Every department, 0 when its desk here is empty: a graph falls to 0 rather than stopping.
        for department in Department:
            count, overdue = found.get(department.value, (0, 0))
            metrics.set(tasks_open, count, department.value)
            metrics.set(tasks_overdue, overdue, department.value)

    async def applications_by_state() -> None:
        assert applications is not None
        async with runtime().maker() as session:
            counts = await count_by_status(session, applications)
        by_state.clear()
        for state, count in counts.items():
            metrics.set(by_state, count, state)

    metrics.probe("outbox", outbox)
    metrics.probe("consumers", consumers)
    if applications is not None:  # a service of applications, whose tasks go to departments
        metrics.probe("tasks", tasks)
        metrics.probe("applications", applications_by_state)


class DeadLetterPublic(BaseModel):
    """An event the relay could never publish, and why."""

    service: str
    event_id: str
    subject: str
    size_bytes: int
    reason: str
    created_at: datetime
    dead_at: datetime


def dead_letter_router() -> APIRouter:
    """``GET /api/v1/admin/dead-letters``: the events this service could never publish (admins)."""
    router = APIRouter(prefix="/api/v1", tags=["admin"])

    @router.get("/admin/dead-letters", response_model=Page[DeadLetterPublic])
    async def dead_letters(_admin: AdminPrincipal, runtime: Runtime, paging: Paging) -> Page[DeadLetterPublic]:
        async with runtime.maker() as session:
            total, rows = await fetch_page(session, sa.select(DeadLetter), col(DeadLetter.seq), paging)
        items = [DeadLetterPublic(service=runtime.name, **r.model_dump(exclude={"seq"})) for r in rows]
        return Page[DeadLetterPublic](items=items, total=total, limit=paging.limit, offset=paging.offset)

    return router


@uses_database
async def get_runtime(request: Request) -> ServiceRuntime:
    # Dependencies are coroutines, however little they do: FastAPI runs a plain function in a worker thread.
    return request.app.state.runtime


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]


async def get_uow(runtime: Runtime) -> AsyncIterator[UnitOfWork]:
    """A unit of work for one request; the route commits it."""
    async with runtime.uow() as uow:
        yield uow


Uow = Annotated[UnitOfWork, Depends(get_uow)]


def run_service(service: str) -> None:
    """Entry point of ``python -m services.<name>``: serve the service's app with uvicorn."""
    import os

    import uvicorn

    os.environ.setdefault("ONESTOP_SERVICE", service)
    settings = get_settings()

    app_path = "services.gateway.app:app" if service == registry.GATEWAY else registry.service(service).app_path
    workers, clamped = settings.serving_workers()
    if clamped:
        configure_logging(settings.service, settings.log_level)
        log.warning(clamped)
    uvicorn.run(app_path, host=settings.host, port=settings.listen_port,
                workers=workers, log_config=None, access_log=False, lifespan="on",
                # Whose X-Forwarded-For is believed is the gateway's decision (ONESTOP_TRUSTED_PROXIES), not
                # uvicorn's, which would believe any loopback peer.
                proxy_headers=False,
                timeout_graceful_shutdown=5)
