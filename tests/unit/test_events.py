"""The event contract: envelope, subjects, AsyncAPI document."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.departments import Department, parse_department_list
from shared.events import (
    EVENT_CATALOGUE,
    CloudEvent,
    TaskRequested,
    all_streams,
    asyncapi_document,
    department_requests_filter,
    make_event,
    task_subject,
)


def test_envelope_is_cloudevents_structured_json() -> None:
    data = TaskRequested(task_id="t", application_id="a", application_number="QYKB-440703-20261126-000001",
                         service="registration", department=Department.samr, kind="business_licence",
                         due_at=datetime(2026, 11, 30, 10, tzinfo=UTC))
    event = make_event("task.registration.samr.requested", data, source_service="registration", subject="a",
                       correlation_id="req-1")
    wire = event.model_dump(mode="json")
    assert {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data",
            "correlationid"} <= set(wire)
    assert wire["specversion"] == "1.0" and wire["type"] == "cn.gov.jiangmen.onestop.task.requested"
    again = CloudEvent.model_validate_json(event.model_dump_json())
    assert again.data_as(TaskRequested) == data


def test_subjects_and_streams() -> None:
    assert task_subject("registration", Department.tax, "requested") == "task.registration.tax.requested"
    assert department_requests_filter("tax") == "task.*.tax.requested"
    streams = all_streams()
    assert streams["TASKS"] == ["task.>"] and streams["REGISTRATION"] == ["registration.>"]


def test_asyncapi_lists_every_event() -> None:
    doc = asyncapi_document()
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(EVENT_CATALOGUE)
    assert "TaskResolved" in doc["components"]["schemas"]


def test_department_lists() -> None:
    assert parse_department_list("none") == frozenset()
    assert parse_department_list("all") == frozenset(Department)
    assert parse_department_list("tax, samr") == {Department.tax, Department.samr}
