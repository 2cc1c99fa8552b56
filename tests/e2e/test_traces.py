"""One trace per application: an enterprise opening followed through every process of the stack, as an OTLP
collector receives it — the gateway, the registration service, its outbox relay, NATS, the departments and
back."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from services.stack import Stack
from tests.support import Api, Databases, dump, eventually, registration_body, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(110)]


@dataclass
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str
    service: str
    start: int
    attributes: dict[str, object]
    children: list[ReceivedSpan] = field(default_factory=list)


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class Collector:
    """A tiny OTLP/HTTP receiver: ``POST /v1/traces`` protobuf bodies, decoded and kept in memory."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                collector.receive(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def receive(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received = ReceivedSpan(
                        trace_id=span.trace_id.hex(), span_id=span.span_id.hex(), parent_id=span.parent_span_id.hex(),
                        name=span.name, kind=ProtoSpan.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        service=str(resource.get("service.name")), start=span.start_time_unix_nano,
                        attributes={a.key: _value(a.value) for a in span.attributes})
                    with self.lock:
                        self.spans.append(received)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def __enter__(self) -> Collector:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def tree(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """Link each span to its children (in start order); returns the roots."""
    by_id = {s.span_id: s for s in spans}
    for span in spans:
        span.children = []
    roots = []
    for span in sorted(spans, key=lambda s: s.start):
        parent = by_id.get(span.parent_id)
        (parent.children if parent else roots).append(span)
    return roots


def render(roots: list[ReceivedSpan]) -> str:
    """The trace as indented text: kind, name and process of each span under its parent."""
    lines: list[str] = []

    def walk(span: ReceivedSpan, depth: int) -> None:
        lines.append(f"{'  ' * depth}{span.kind:<8} {span.name}  [{span.service}]")
        for child in span.children:
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return "\n".join(lines)


def only(spans: list[ReceivedSpan], name: str, service: str, parent: ReceivedSpan | None = None) -> ReceivedSpan:
    found = [s for s in spans if s.name == name and s.service == service
             and (parent is None or s.parent_id == parent.span_id)]
    assert len(found) == 1, f"expected one {name!r} in {service} under {parent and parent.name}: {found}"
    return found[0]


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with Collector() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(tmp_path_factory: pytest.TempPathFactory, databases: Databases,
                 collector: Collector) -> Iterator[Stack]:
    """A stack of its own with every process exporting its spans to the collector, in batches sent every
    200 ms so they arrive soon after the work."""
    with running_stack(tmp_path_factory.mktemp("traced-stack"), databases, ONESTOP_SIMULATED_DEPARTMENTS="all",
                       OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector.endpoint,
                       OTEL_BSP_SCHEDULE_DELAY="200") as stack:
        yield stack


async def test_one_trace_follows_an_enterprise_opening_across_every_process(
        traced_stack: Stack, collector: Collector, tmp_path: Path) -> None:
    api = Api(traced_stack.url_of("gateway"))
    try:
        resp = await api.submit("trace-applicant", registration_body())
        assert resp.status_code == 202, dump(resp)
        application = resp.json()
        await api.wait_status("trace-applicant", f"/api/v1/registrations/{application['id']}", {"completed"})
    finally:
        await api.close()

    # The trace is the one whose registration server span took the application.
    submitted = await eventually(
        lambda: _first(collector, "POST /api/v1/registrations", "onestop-registration"), timeout=20,
        what="the registration service's span of the submission")

    async def whole() -> list[ReceivedSpan] | None:
        spans = collector.trace(submitted.trace_id)
        seen = {(s.name, s.service) for s in spans}
        last = {("publish registration.application.completed", "onestop-registration"),
                ("process registration.enterprise.registered", "onestop-deregistration")}
        # Every process exports on its own schedule: the trace is whole when, besides those last spans, every
        # span's parent has arrived too (one root, itself without a parent: the gateway's, which may arrive last).
        roots = tree(spans)
        return spans if last <= seen and len(roots) == 1 and not roots[0].parent_id else None

    spans = await eventually(whole, timeout=20, what="the spans up to the completed event and its readers, "
                                                     "every parent arrived")
    roots = tree(spans)
    text = render(roots)
    (tmp_path / "trace.txt").write_text(text + "\n")
    print(f"\nthe trace of application {application['number']} ({len(spans)} spans):\n{text}")

    # The gateway's request is the root; the registration service continues it.
    assert len(roots) == 1, text
    gateway = roots[0]
    assert (gateway.name, gateway.kind, gateway.service) == ("POST /api/v1/registrations", "SERVER", "onestop-gateway")
    assert gateway.attributes["http.route"] == "/api/v1/registrations"
    assert gateway.attributes["http.response.status_code"] == 202
    service = only(spans, "POST /api/v1/registrations", "onestop-registration", parent=gateway)
    assert service.kind == "SERVER" and service.attributes["http.route"] == "/api/v1/registrations"

    # The relay publishes what the request wrote to the outbox, as children of the request's span.
    # (An application is in progress as soon as it is accepted: its first announcement says so.)
    announced = only(spans, "publish registration.application.in_progress", "onestop-registration", parent=service)
    assert announced.kind == "PRODUCER"
    assert announced.attributes["messaging.system"] == "nats"
    assert announced.attributes["messaging.destination.name"] == "registration.application.in_progress"
    samr_task = only(spans, "publish task.registration.samr.requested", "onestop-registration", parent=service)

    # The department takes the task from NATS and answers within the same trace.
    taken = only(spans, "process task.registration.samr.requested", "onestop-departments", parent=samr_task)
    assert taken.kind == "CONSUMER" and taken.attributes["messaging.consumer.group.name"] == "dept-samr"
    answer = only(spans, "publish task.registration.samr.resolved", "onestop-departments", parent=taken)
    assert answer.kind == "PRODUCER"

    # The registration service consumes the answer; what it emits then hangs under that.
    answered = only(spans, "process task.registration.samr.resolved", "onestop-registration", parent=answer)
    assert answered.kind == "CONSUMER"
    for department in ("psb", "tax", "hrss", "medicare"):
        task = only(spans, f"publish task.registration.{department}.requested", "onestop-registration",
                    parent=answered)
        only(spans, f"process task.registration.{department}.requested", "onestop-departments", parent=task)

    # The last answer completes the application: its process span is the parent of the completed event.
    completed = only(spans, "publish registration.application.completed", "onestop-registration")
    last = next(s for s in spans if s.span_id == completed.parent_id)
    assert last.kind == "CONSUMER" and last.name.startswith("process task.registration.")
    assert last.name.endswith(".resolved") and last.service == "onestop-registration"
    # Another service learns of the new enterprise (its read model) within the same trace.
    registered = only(spans, "publish registration.enterprise.registered", "onestop-registration", parent=last)
    only(spans, "process registration.enterprise.registered", "onestop-deregistration", parent=registered)
    # Every span of the trace hangs under the gateway's request.
    assert all(s.parent_id for s in spans if s is not gateway)
    assert {s.service for s in spans} >= {"onestop-gateway", "onestop-registration", "onestop-departments"}


async def _first(collector: Collector, name: str, service: str) -> ReceivedSpan | None:
    with collector.lock:
        return next((s for s in collector.spans if s.name == name and s.service == service), None)
