"""Traces (OpenTelemetry): one trace per application, from the gateway through the owning service, its outbox
relay, NATS and the department that answers, back to the service completing it.

Off unless the standard ``OTEL_*`` variables ask for it: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console`` or
``none``) or an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``);
``OTEL_SDK_DISABLED=true`` wins over both. The exporter, the batch processor (``OTEL_BSP_*``) and the
resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``) read their own variables. Off, no provider is
installed and the hot paths only test ``enabled()``: no span objects, no header or envelope work.

The context travels as W3C ``traceparent``/``tracestate``: in HTTP headers, in NATS message headers, and in
the CloudEvent envelope (the CloudEvents distributed-tracing extension), which is what carries it through
the outbox to a relay that publishes later, maybe in another process.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from shared.events import CloudEvent

log = logging.getLogger("onestop.tracing")

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# W3C: a version-00 traceparent has 55 characters, later versions may add fields; tracestate is cut at 512.
MAX_TRACEPARENT = 256
MAX_TRACESTATE = 512
INSTRUMENTATION = "onestop"
EXPORTERS = frozenset({"otlp", "console"})

_propagator = TraceContextTextMapPropagator()
_enabled = False
_tracer: Tracer = trace.NoOpTracer()


def requested_exporters(environ: Mapping[str, str] | None = None) -> list[str]:
    """The span exporters the ``OTEL_*`` variables ask for; empty means tracing stays off."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named:
        return [e for e in (p.strip() for p in named.split(",")) if e in EXPORTERS]
    # An endpoint alone says where OTLP goes, and so that it should go.
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return ["otlp"]
    return []


def configure_tracing(process: str, environ: Mapping[str, str] | None = None) -> bool:
    """Install a tracer provider exporting spans as the ``OTEL_*`` variables say, named ``process`` unless
    ``OTEL_SERVICE_NAME`` names it; True when tracing is on. Called once per process (the service app
    factory, the gateway, the back-office client); nothing is installed when no exporter is asked for."""
    global _enabled, _tracer
    exporters = requested_exporters(environ)
    if not exporters:
        _enabled, _tracer = False, trace.NoOpTracer()
        return False
    # Imported only when on: a process without tracing does not load the SDK.
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    attributes: dict[str, Any] = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"onestop-{process}"}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in exporters:
        exporter: SpanExporter
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        else:
            exporter = ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer(INSTRUMENTATION)
    _enabled = True
    log.info("tracing on", extra={"exporters": exporters})
    return True


def enabled() -> bool:
    """Whether spans are recorded in this process (the one check the hot paths make)."""
    return _enabled


def tracer() -> Tracer:
    """The process's tracer (a no-op one while tracing is off)."""
    return _tracer


# --- Carrying the context ---------------------------------------------------------------------------------


def inject(carrier: MutableMapping[str, str], ctx: Context | None = None) -> None:
    """Write ``traceparent`` (and ``tracestate``) of ``ctx`` (default: the current one) into headers."""
    _propagator.inject(carrier, context=ctx)


def extract(carrier: Mapping[str, str] | None) -> Context | None:
    """The remote span context in headers as a parent context, or None when they carry none that is valid."""
    if not carrier:
        return None
    # NATS headers keep their case; HTTP header names arrive in lower case: look for both spellings.
    parent = carrier.get(TRACEPARENT) or carrier.get("Traceparent")
    if not parent:
        return None
    fields = {TRACEPARENT: parent}
    state = carrier.get(TRACESTATE) or carrier.get("Tracestate")
    if state:
        fields[TRACESTATE] = state
    ctx = _propagator.extract(fields)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def stamp_event(event: CloudEvent) -> None:
    """Record the current span context in the envelope (``traceparent``/``tracestate`` extension attributes)
    unless it already carries one; it then survives the outbox with the event."""
    if event.traceparent is not None:
        return
    fields: dict[str, str] = {}
    inject(fields)
    event.traceparent = fields.get(TRACEPARENT)
    event.tracestate = fields.get(TRACESTATE)


def event_context(event: CloudEvent) -> Context | None:
    """The span context an event's envelope carries, or None."""
    if event.traceparent is None:
        return None
    fields = {TRACEPARENT: event.traceparent}
    if event.tracestate:
        fields[TRACESTATE] = event.tracestate
    return extract(fields)


def payload_context(payload: bytes | str) -> Context | None:
    """The span context in a serialized CloudEvent's envelope, or None (also for what is not an envelope)."""
    try:
        envelope = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(envelope, dict) or not isinstance(envelope.get(TRACEPARENT), str):
        return None
    fields = {TRACEPARENT: envelope[TRACEPARENT]}
    if isinstance(envelope.get(TRACESTATE), str):
        fields[TRACESTATE] = envelope[TRACESTATE]
    return extract(fields)


def keep_trace_value(limit: int) -> Any:
    """A validator for an envelope's trace attribute: a string within ``limit`` is kept, anything else is
    dropped (None). A malformed trace context must not make an event undeliverable; the W3C rule is to
    ignore it."""

    def keep(value: object) -> str | None:
        return value if isinstance(value, str) and 0 < len(value) <= limit else None

    return keep


# --- Spans -------------------------------------------------------------------------------------------------


def server_span(method: str, parent: Context | None) -> Span:
    """A SERVER span for an HTTP request, started as a child of ``parent`` (or as a root); it is named
    ``<METHOD> <route>`` by ``finish_server_span`` once the route is known."""
    return _tracer.start_span(method, context=parent or Context(), kind=SpanKind.SERVER,
                              attributes={"http.request.method": method})


def finish_server_span(span: Span, method: str, route: str | None, path: str, status: int) -> None:
    """Name the SERVER span by the route template (ids stay out of span names), record the answer and end."""
    span.update_name(f"{method} {route or path}")
    if route:
        span.set_attribute("http.route", route)
    span.set_attribute("url.path", path)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()


@contextmanager
def activated(span: Span) -> Iterator[Span]:
    """Make ``span`` the current one for a block (what is emitted or called in it becomes its child);
    the span is not ended here."""
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield span
    finally:
        otel_context.detach(token)


def producer_span(subject: str, msg_id: str, parent: Context | None) -> Span:
    """A PRODUCER span ``publish <subject>`` for one NATS message, child of ``parent`` (the event's
    envelope context, else the current one)."""
    return _tracer.start_span(
        f"publish {subject}", context=parent, kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "nats", "messaging.operation.type": "send",
                    "messaging.operation.name": "publish", "messaging.destination.name": subject,
                    "messaging.message.id": msg_id},
    )


def consumer_span(subject: str, msg_id: str, consumer: str, parent: Context | None) -> Span:
    """A CONSUMER span ``process <subject>`` for one NATS message, child of ``parent`` (the message
    headers' context, else the envelope's)."""
    return _tracer.start_span(
        f"process {subject}", context=parent or Context(), kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "nats", "messaging.operation.type": "process",
                    "messaging.operation.name": "process", "messaging.destination.name": subject,
                    "messaging.message.id": msg_id, "messaging.consumer.group.name": consumer},
    )


def record_outcome(span: Span, outcome: str, error: BaseException | None = None) -> None:
    """Note how a message was settled (``ack``, ``nak``, ``term``); a failure marks the span as an error."""
    span.set_attribute("onestop.settlement", outcome)
    if error is not None:
        span.record_exception(error)
    if outcome != "ack":
        span.set_status(Status(StatusCode.ERROR, outcome))


def start_publish(subject: str, msg_id: str, payload: bytes, headers: MutableMapping[str, str]) -> Span:
    """Start the PRODUCER span of one message (child of its envelope's context, else of the current span)
    and put its ``traceparent`` in the message headers; the caller ends it once the broker acknowledged."""
    span = producer_span(subject, msg_id, payload_context(payload))
    inject(headers, trace.set_span_in_context(span))
    return span


def end_publish(spans: list[Span], error: BaseException | None = None) -> None:
    """End the PRODUCER spans of a publication, marked as errors when it failed."""
    for span in spans:
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()


def start_process(subject: str, msg_id: str, consumer: str, headers: Mapping[str, str] | None,
                  event: CloudEvent) -> Span:
    """Start the CONSUMER span of one received message: child of the publisher's span named in the message
    headers, or (a publisher that set none) of the context in the event's envelope."""
    return consumer_span(subject, msg_id, consumer, extract(headers) or event_context(event))
