"""Prometheus metrics of one process, served at ``/metrics`` (text exposition format, no token, like /healthz).

Every series is named ``onestop_…`` and labelled with the ``service`` that answers. Counters of what happens
(HTTP requests, idempotent replays) are kept as it happens; figures that live in the database or on the
broker (outbox backlog, consumers, tasks, applications) are read when Prometheus asks, by async probes the
``/metrics`` handler awaits before rendering, so a scrape never blocks the event loop.

Each process has its own ``CollectorRegistry`` (never the global default one), so several apps in one test
process do not mix their counts. Scrape targets are processes: with ``ONESTOP_WORKERS`` above 1, each uvicorn
worker counts its own requests and a scrape of the shared port reads whichever worker answered. Run one
worker per container (replicas as separate targets) where request rates matter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.idempotency import REPLAYED_HEADER

log = logging.getLogger("onestop.metrics")

METRICS_PATH = "/metrics"
# Where a catch-all route leaves the template it stands for (``shared.web.label_route``), in the request's state.
ROUTE_LABEL = "route_label"
# The label of a request no route matched (or refused before routing): raw paths would make the number of
# series as large as what clients care to send.
UNMATCHED = "unmatched"
# Methods are a client's choice too: anything else is counted as one.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: from a cached read (a few ms) to the upstream timeout (10 s by default).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A scrape-time probe slower than this is given up (its series left out, ``onestop_metrics_probe_up`` 0).
PROBE_TIMEOUT_SECONDS = 5.0

Probe = Callable[[], Awaitable[None]]
# The current values of a counter kept outside prometheus_client, by label values (``service`` excluded).
CountReader = Callable[[], Mapping[tuple[str, ...], float]]


class _ReadCounter:
    """A counter whose value another object keeps (an int on the bus, a tally of the rate limits): read at
    each scrape, so those objects need know nothing of Prometheus."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], service: str,
                 read: CountReader) -> None:
        self.name, self.documentation = name, documentation
        self.labels = ("service", *labels)
        self.service = service
        self.read = read

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        try:
            counts = self.read()
        except Exception as exc:
            # What keeps the count is not there (outside the app's lifespan): no samples, the scrape goes on.
            log.warning("metrics counter unreadable", extra={"metric": self.name, "error": repr(exc)})
            counts = {}
        for values, count in counts.items():
            family.add_metric([self.service, *values], count)
        yield family


class Metrics:
    """One process's metrics: HTTP requests and latency, plus what the process registers (``gauge``,
    ``count_from``, ``probe``). ``owns_idempotency``: this process stores Idempotency-Key answers, so it
    counts their replays (the gateway only passes them on)."""

    def __init__(self, service: str, *, owns_idempotency: bool = True) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.requests = Counter("onestop_http_requests", "HTTP requests answered, by route template and status",
                                ["service", "method", "route", "status"], registry=self.registry)
        self.latency = Histogram("onestop_http_request_duration_seconds",
                                 "Time to answer an HTTP request (live progress streams left out)",
                                 ["service", "method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.idempotency_replays = Counter(
            "onestop_idempotency_replays", "Creating POSTs answered with the stored first answer of their "
            "Idempotency-Key (nothing created again)", ["service", "route"], registry=self.registry,
        ) if owns_idempotency else None
        self.probe_up = Gauge("onestop_metrics_probe_up",
                              "Whether the scrape-time probe answered (1) or failed or timed out (0)",
                              ["service", "probe"], registry=self.registry)
        self._probes: dict[str, Probe] = {}
        self._lock = asyncio.Lock()

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        """A gauge in this process's registry, labelled with ``service`` first (set it through ``set``)."""
        return Gauge(name, documentation, ["service", *labels], registry=self.registry)

    def set(self, gauge: Gauge, value: float, *labels: str) -> None:
        """Set ``gauge`` for this service and ``labels``."""
        gauge.labels(self.service, *labels).set(value)

    def count_from(self, name: str, documentation: str, labels: Sequence[str], read: CountReader) -> None:
        """A counter (``name`` without ``_total``) whose values ``read`` returns at each scrape."""
        self.registry.register(_ReadCounter(name, documentation, labels, self.service, read))

    def probe(self, name: str, probe: Probe) -> None:
        """Run ``probe`` (it sets gauges) before each scrape is rendered."""
        self._probes[name] = probe

    async def render(self) -> bytes:
        """Run the probes, then the text exposition of every series. One scrape at a time: a probe clears and
        fills its labelled gauges, and another scrape must not render them half filled."""
        async with self._lock:
            for name, probe in self._probes.items():
                try:
                    await asyncio.wait_for(probe(), PROBE_TIMEOUT_SECONDS)
                except Exception as exc:
                    log.warning("metrics probe failed", extra={"probe": name, "error": repr(exc)})
                    self.set(self.probe_up, 0, name)
                else:
                    self.set(self.probe_up, 1, name)
            return generate_latest(self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float | None, replayed: bool) -> None:
        """Count one answered request (``seconds`` None: not timed, e.g. a live stream)."""
        method = method if method in KNOWN_METHODS else "other"
        self.requests.labels(self.service, method, route, str(status)).inc()
        if seconds is not None:
            self.latency.labels(self.service, method, route).observe(seconds)
        if replayed and self.idempotency_replays is not None:
            self.idempotency_replays.labels(self.service, route).inc()


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/api/v1/registrations/{application_id}``), never the raw
    path; the template a catch-all route (the gateway's forwarding) named for the request (``ROUTE_LABEL``);
    ``unmatched`` when none did."""
    state = scope.get("state") or {}
    return state.get(ROUTE_LABEL) or getattr(scope.get("route"), "path", None) or UNMATCHED


class HttpMetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status. Outermost, so requests
    refused before routing (413, 400 of the path guard) are counted too."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        streaming = replayed = False

        async def observed_send(message: Message) -> None:
            nonlocal status, streaming, replayed
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                # A live progress stream lasts as long as its reader: its length is no answer time.
                streaming = headers.get(b"content-type", b"").startswith(b"text/event-stream")
                replayed = headers.get(REPLAYED_HEADER.lower().encode()) == b"true"
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = None if streaming else time.perf_counter() - started
            self.metrics.observe(scope["method"], route_template(scope), status, seconds, replayed)


def metrics_router(metrics: Metrics) -> APIRouter:
    """``GET /metrics``: every series of this process in Prometheus's text format; not in the OpenAPI
    document (it is for the scraper, not for API clients)."""
    router = APIRouter()

    @router.get(METRICS_PATH, include_in_schema=False)
    async def scrape(_request: Request) -> Response:
        return Response(await metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router


def install_metrics(app: FastAPI, metrics: Metrics) -> None:
    """Count the app's requests into ``metrics`` and serve them at ``/metrics`` (``app.state.metrics``)."""
    app.state.metrics = metrics
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    app.include_router(metrics_router(metrics))


def tally(counts: Mapping[str, int]) -> dict[tuple[str, ...], float]:
    """``count_from``'s shape for a counter with one label: ``{value: n}`` → ``{(value,): n}``."""
    return {(key,): float(n) for key, n in counts.items()}


__all__ = ["METRICS_PATH", "UNMATCHED", "HttpMetricsMiddleware", "Metrics", "install_metrics", "route_template",
           "tally"]
