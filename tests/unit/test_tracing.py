"""Trace context helpers: headers and the CloudEvent envelope carry it both ways; off unless OTEL_* asks."""

from __future__ import annotations

import os
import subprocess
import sys

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import tracing
from shared.events import CloudEvent
from tests.support import ROOT

# A provider of this test's own: the process's global one is never set here.
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
local = provider.get_tracer("test")


def event() -> CloudEvent:
    return CloudEvent(source="/onestop/registration", type="cn.gov.jiangmen.onestop.registration.application.submitted",
                      data={"application_id": "a"})


def test_headers_carry_the_span_there_and_back() -> None:
    with local.start_as_current_span("request") as span:
        headers: dict[str, str] = {}
        tracing.inject(headers)
    expected = span.get_span_context()
    assert headers["traceparent"] == f"00-{expected.trace_id:032x}-{expected.span_id:016x}-{expected.trace_flags:02x}"
    parent = trace.get_current_span(tracing.extract(headers)).get_span_context()
    assert (parent.trace_id, parent.span_id, parent.is_remote) == (expected.trace_id, expected.span_id, True)
    # NATS keeps a header's case as it was written; a capitalised name is found too.
    assert tracing.extract({"Traceparent": headers["traceparent"]}) is not None


def test_missing_or_malformed_context_gives_none() -> None:
    assert tracing.extract(None) is None
    assert tracing.extract({}) is None
    assert tracing.extract({"traceparent": "not a trace"}) is None
    assert tracing.extract({"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"}) is None  # all-zero ids
    # Outside any span nothing is written.
    headers: dict[str, str] = {}
    tracing.inject(headers)
    assert headers == {}


def test_envelope_carries_the_span_through_serialization() -> None:
    cloud_event = event()
    with local.start_as_current_span("handling") as span:
        tracing.stamp_event(cloud_event)
    wire = cloud_event.model_dump_json()
    again = CloudEvent.model_validate_json(wire)
    assert again.traceparent == cloud_event.traceparent and again.traceparent is not None
    for ctx in (tracing.event_context(again), tracing.payload_context(wire.encode())):
        assert ctx is not None
        parent = trace.get_current_span(ctx).get_span_context()
        assert (parent.trace_id, parent.span_id) == (span.get_span_context().trace_id, span.get_span_context().span_id)
    # A context already in the envelope (the cause) is not replaced by a later one.
    with local.start_as_current_span("later"):
        tracing.stamp_event(again)
    assert again.traceparent == cloud_event.traceparent


def test_a_bad_trace_attribute_is_dropped_not_refused() -> None:
    body = event().model_dump(mode="json")
    too_long = CloudEvent.model_validate({**body, "traceparent": "00-" + "a" * 400, "tracestate": 42})
    assert too_long.traceparent is None and too_long.tracestate is None
    garbled = CloudEvent.model_validate({**body, "traceparent": "garbage"})
    assert tracing.event_context(garbled) is None
    assert tracing.payload_context(b"not json") is None and tracing.payload_context(b"[1]") is None


def test_only_the_otel_variables_switch_tracing_on() -> None:
    assert tracing.requested_exporters({}) == []
    assert tracing.requested_exporters({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert tracing.requested_exporters({"OTEL_TRACES_EXPORTER": "otlp"}) == ["otlp"]
    assert tracing.requested_exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == ["otlp"]
    assert tracing.requested_exporters({"OTEL_TRACES_EXPORTER": "otlp,console"}) == ["otlp", "console"]
    assert tracing.requested_exporters({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}) == []


def test_nothing_is_installed_or_exported_when_unset() -> None:
    # In a fresh interpreter with no OTEL_* variable, as a process of the stack starts: tracing stays off,
    # no provider is installed, the SDK is not even imported, and the hot paths make no spans.
    script = """
import sys
from opentelemetry import trace
from shared import tracing
from shared.events import CloudEvent
assert tracing.configure_tracing("unit") is False and not tracing.enabled()
assert not tracing.tracer().start_span("x").is_recording()
assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
assert not any(name.startswith("opentelemetry.sdk") for name in sys.modules), "the SDK was loaded"
print("off")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "off"
