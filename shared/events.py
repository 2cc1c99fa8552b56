"""The event contract: the CloudEvents envelope, every event's data model, and the subjects they travel on.

This module is the one place that names NATS subjects and streams; department back offices build their
clients from the AsyncAPI document generated here (``asyncapi_document``).
"""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared import registry
from shared.departments import Department
from shared.tracing import MAX_TRACEPARENT, MAX_TRACESTATE, keep_trace_value

EVENT_TYPE_PREFIX = "cn.gov.jiangmen.onestop."
TASKS_STREAM = "TASKS"


E = TypeVar("E", bound="EventData")


def stream_for_service(service: str) -> str:
    """The JetStream stream holding ``<service>.>``, e.g. ``REGISTRATION``."""
    return service.upper()


def all_streams() -> dict[str, list[str]]:
    """Every stream and its subjects: one per service, plus ``TASKS`` for ``task.>``."""
    streams = {stream_for_service(s): [f"{s}.>"] for s in registry.services()}
    streams[TASKS_STREAM] = ["task.>"]
    return streams


class TaskEventKind(StrEnum):
    requested = "requested"  # work for the department (from the service)
    resolved = "resolved"  # its answer (from the department, or the service announcing a back-office decision)
    escalated = "escalated"  # 办不成事 about its part, raised and then decided: a notice, never work (from the service)


# What only the owning service says on a department's conversation; the department says only ``resolved``.
SERVICE_ONLY_KINDS = frozenset({TaskEventKind.requested, TaskEventKind.escalated})
# Every kind, as a set: iterating the enum itself on every message received was a few per cent of a consumer.
TASK_EVENT_KINDS = frozenset(TaskEventKind)


def task_subject(service: str, department: Department | str, kind: TaskEventKind | str) -> str:
    """``task.<service>.<department>.requested|resolved|escalated``: the conversation with a department."""
    return f"task.{service}.{department}.{kind}"


def department_requests_filter(department: Department | str) -> str:
    """The filter a department's durable consumer uses: every service's requests for it."""
    return f"task.*.{department}.requested"


def department_escalations_filter(department: Department | str) -> str:
    """The filter of a department's consumer of escalation notices: every service's escalations of its tasks."""
    return f"task.*.{department}.escalated"


def service_subject(service: str, entity: str, event: str) -> str:
    """``<service>.<entity>.<event>``: what a service announces."""
    return f"{service}.{entity}.{event}"


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope in structured JSON mode, with ``correlationid`` as an extension and the
    distributed-tracing extension (``traceparent``, ``tracestate``: W3C trace context) when traces are on."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    subject: str | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str | None = None
    # The span that caused the event; it rides in the envelope so it outlives the outbox. A malformed value
    # is dropped, never a reason to refuse the event.
    traceparent: Annotated[str | None, BeforeValidator(keep_trace_value(MAX_TRACEPARENT))] = Field(
        default=None, max_length=MAX_TRACEPARENT, description="W3C traceparent of the span that caused the event")
    tracestate: Annotated[str | None, BeforeValidator(keep_trace_value(MAX_TRACESTATE))] = Field(
        default=None, max_length=MAX_TRACESTATE, description="W3C tracestate beside traceparent")
    data: dict[str, Any]

    @property
    def name(self) -> str:
        """The event's short name, e.g. ``registration.application.submitted``."""
        return self.type.removeprefix(EVENT_TYPE_PREFIX)

    # ``builtins.type``: inside this class body the field ``type`` shadows the builtin.
    def data_as(self, model: builtins.type[E]) -> E:
        """Validate ``data`` as the given event data model."""
        return model.model_validate(self.data)


class EventData(BaseModel):
    """Base of every event's data; unknown fields are kept so newer producers do not break older consumers."""

    model_config = ConfigDict(extra="allow")


# --- Task conversation (TASKS stream) -----------------------------------------------------------------


class TaskOutcome(StrEnum):
    approved = "approved"
    rejected = "rejected"
    returned = "returned"  # more material needed (补正)


class TaskRequested(EventData):
    """Work for a department: ``task.<service>.<department>.requested``."""

    task_id: str
    application_id: str
    application_number: str
    service: str
    department: Department
    kind: str
    due_at: datetime
    due_provisional: bool = False
    round: int = 1
    details: dict[str, Any] = Field(default_factory=dict)


class TaskResolved(EventData):
    """A department's answer: ``task.<service>.<department>.resolved``."""

    task_id: str
    application_id: str
    service: str
    department: Department
    outcome: TaskOutcome
    comment: str | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    decided_by: str | None = None
    decided_at: datetime | None = None
    round: int = 1


class TaskEscalated(EventData):
    """办不成事, told to a department concerned on its own conversation: ``task.<service>.<department>.escalated``.

    Sent when an applicant escalates an application that waits for the department or that it refused or returned
    (``status`` open, ``due_at`` when the supervisors owe their outcome), and again with the supervisor's outcome
    (``status`` upheld, dismissed or resolved, with the note; ``reannounced`` when the department's overdue task
    is asked again, as a new ``requested`` on its usual subject). A notice: it is not work and is not answered.
    The applicant's own words stay with the service."""

    escalation_id: str
    application_id: str
    application_number: str
    service: str
    department: Department
    task_id: str | None = None  # the department's task of the application
    task_status: str | None = None  # as it stood when the notice was sent
    reason: str  # stuck | unfair_refusal | other
    status: str  # open | upheld | dismissed | resolved
    application_status: str
    due_at: datetime
    raised_at: datetime
    note: str | None = None
    reannounced: bool = False
    decided_at: datetime | None = None


class TaskOverdue(EventData):
    """A task passed its due time (限时办结): ``<service>.task.overdue``."""

    task_id: str
    application_id: str
    service: str
    department: Department
    due_at: datetime


# --- Application life (each service's stream) ---------------------------------------------------------


class ApplicationEvent(EventData):
    """A change of an application's state: ``<service>.application.<status>``."""

    application_id: str
    number: str
    service: str
    applicant: str
    status: str
    reason: str | None = None
    missing: list[str] = Field(default_factory=list)
    departments: list[Department] = Field(default_factory=list)


class MaterialsGap(EventData):
    """An application's deferred materials (容缺受理): ``<service>.materials.<deferred|supplied|lapsed>``. It was
    accepted without them (deferred), one came (supplied; ``pending`` is what is left), or the deadline passed
    with some still missing (lapsed: the application is returned to its applicant)."""

    application_id: str
    number: str
    service: str
    applicant: str
    pending: list[dict[str, Any]] = Field(default_factory=list, description="{code, name_zh, name_en, formats}")
    deadline: datetime | None = None
    supplied: str | None = Field(default=None, description="the material code that came (supplied)")


class EnterpriseRegistered(EventData):
    """``registration.enterprise.registered``: everything later services need to know of a new enterprise."""

    uscc: str
    name: str
    entity_type: str
    district_code: str
    address: str
    owner: str  # the applicant (subject of the token) who opened it
    legal_representative: str
    registered_at: datetime
    licence_verification_code: str
    # Departments the enterprise is now registered with (drives what deregistration must cancel).
    registered_with: list[Department]
    has_tax_matters: bool = True
    customs_registered: bool = False
    # Its investors, each as ``{"name", "id_number_masked"}`` (a resident ID masked as 110105********002X, or
    # an enterprise investor's USCC): all of them sign a simplified deregistration's undertaking. Empty when
    # the announcement does not say (older producers): the check is then skipped, and the skip recorded.
    investors: list[dict[str, str]] = Field(default_factory=list)
    # What bars a simplified deregistration (简易注销), as the registration authority knows it, e.g.
    # "abnormal_operations" (经营异常名录), "serious_violation", "equity_frozen", "equity_pledged",
    # "chattel_mortgage", "outward_investment", "under_investigation", "administrative_compulsion",
    # "litigation", "revoked", "unexecuted_penalty", "approval_required". A later announcement of the same
    # enterprise (re-published on this subject) replaces the list.
    restrictions: list[str] = Field(default_factory=list)


class EnterpriseStatusChanged(EventData):
    """``<service>.enterprise.<deregistered|suspended|resumed>``: the enterprise's life after opening."""

    uscc: str
    status: Literal["active", "suspended", "cancelled"]
    application_id: str | None = None  # the deregistration, or the suspension filing
    number: str | None = None  # its human-readable number
    start_date: date | None = None
    end_date: date | None = None  # a suspension's end date (announced again with a new one on an extension)
    resumed_on: date | None = None  # a suspension ended early: the first day in business again
    delivery_address: str | None = None  # 歇业: where legal documents go instead of the premises
    procedure: str | None = None  # deregistered: "simplified" or "general"
    departments: list[Department] = Field(default_factory=list)  # deregistered: every department that cancelled
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))  # consumers ignore one older than what they hold


class OfficerSummary(BaseModel):
    """A director, supervisor or manager as other services may know them (ID masked)."""

    model_config = ConfigDict(extra="allow")

    name: str
    role: str  # director | executive_director | supervisor | manager
    id_number_masked: str


class EnterpriseChanged(EventData):
    """``registration.enterprise.changed``: a registered enterprise's change (变更登记) or intra-province move
    (省内迁移) was registered. Carries the enterprise's registered details as they are now (a consumer may
    simply refresh what it keeps), which of them changed, and what they were before."""

    uscc: str
    kind: Literal["change", "move"]
    application_id: str
    number: str
    changed: list[str]  # of: name, address, district_code, registered_capital, business_scope, officers
    name: str
    address: str  # the standard address (标准化地址)
    district_code: str
    registered_capital: str | None = None  # yuan, a decimal string
    business_scope: list[str] = Field(default_factory=list)
    officers: list[OfficerSummary] = Field(default_factory=list)
    previous: dict[str, Any] = Field(default_factory=dict)  # the changed fields' values before
    changed_at: datetime


class UtilityAccountChanged(EventData):
    """``utilities.account.<opened|transferred>``: a utility account at premises, and who holds it now."""

    account_number: str
    utility: Department
    owner: str  # the applicant (token subject) who holds the account
    uscc: str | None = None  # when an enterprise holds it
    district_code: str
    premises_address: str  # the standard address (标准化地址) of the premises
    application_id: str
    previous_owner: str | None = None  # transferred: who held it before


class TransferParty(BaseModel):
    """A seller or buyer in a property transfer, as other services need to know them."""

    model_config = ConfigDict(extra="allow")

    sub: str | None = None  # their token subject, when they have an account here
    name: str
    uscc: str | None = None  # an enterprise party


class TransferCompleted(EventData):
    """``realestate.transfer.completed``: a property transfer (转移登记) was entered in the register."""

    transfer_id: str
    number: str
    unit_number: str  # 不动产单元号
    district_code: str
    address: str  # the property's standard address (标准化地址)
    sellers: list[TransferParty]
    buyers: list[TransferParty]
    linked_utilities: bool = False  # the parties opted in to move the utility accounts (联动过户)
    completed_at: datetime


class PropertyCertificateChanged(EventData):
    """``realestate.certificate.<issued|cancelled>``: an electronic property certificate (电子不动产权证书) was
    issued, or cancelled when its property changed hands. Other services keep these to accept the certificate's
    verification code in place of the paper (一证通办), checking its holders against who applies."""

    verification_code: str
    number: str
    kind: str  # title
    unit_number: str  # 不动产单元号
    district_code: str
    address: str  # the property's standard address (标准化地址)
    holders: list[TransferParty]
    status: str  # active | cancelled
    changed_at: datetime


class PaymentAllocation(BaseModel):
    """One part of a split payment (清分): an item and the account it goes to."""

    charge: str  # deed_tax | vat | income_tax | registration_fee
    account: str  # treasury (入库) | registry (入账)
    amount: str  # yuan, a decimal string


class PaymentChanged(EventData):
    """``realestate.payment.<split|refunded>``: the one payment of a transfer, split to the fen to its
    accounts; or returned whole when the transfer ended before entry."""

    application_id: str
    number: str
    amount: str  # yuan
    reference: str | None = None
    allocations: list[PaymentAllocation] = Field(default_factory=list)


class MortgageChanged(EventData):
    """``realestate.mortgage.<registered|released>``: a mortgage entered in the register, or released."""

    mortgage_id: str
    unit_number: str
    mortgagee_uscc: str
    mortgagee_name: str
    amount: str  # yuan
    certificate_number: str | None = None
    application_id: str | None = None


class EscalationRaised(EventData):
    """``<service>.escalation.raised``: 办不成事 — an applicant reports that an application is stuck or was refused
    unfairly; the supervisors' queue has it, and the departments concerned (its open or refusing tasks) are named
    so each looks at its part."""

    escalation_id: str
    application_id: str
    application_number: str
    service: str
    reason: str  # stuck | unfair_refusal | other
    application_status: str
    departments: list[str]
    due_at: datetime  # when the supervisors owe an outcome (working days)
    raised_at: datetime


class EscalationResolved(EventData):
    """``<service>.escalation.resolved``: a supervisor's outcome of an escalation (upheld, dismissed, resolved);
    ``reannounced`` are the overdue tasks asked again when a stuck application's escalation is upheld."""

    escalation_id: str
    application_id: str
    application_number: str
    service: str
    reason: str
    outcome: str  # upheld | dismissed | resolved
    note: str | None = None
    departments: list[str]
    reannounced: list[str] = Field(default_factory=list)
    decided_at: datetime


# Every event name (subject pattern) and its data model; the AsyncAPI document is built from it.
EVENT_CATALOGUE: dict[str, tuple[type[EventData], str]] = {
    "task.{service}.{department}.requested": (TaskRequested, "A service asks a department to act."),
    "task.{service}.{department}.resolved": (TaskResolved, "A department answers a task."),
    "task.{service}.{department}.escalated": (
        TaskEscalated,
        "办不成事 about a department's task: raised (status open), then the supervisor's outcome. A notice, not work: "
        "read it with a consumer of its own (filter task.*.<department>.escalated) and do not answer it.",
    ),
    "{service}.task.overdue": (TaskOverdue, "A task passed its working-day due time."),
    "{service}.application.{status}": (
        ApplicationEvent,
        "An application was submitted, returned, resumed, rejected or completed.",
    ),
    "{service}.materials.deferred": (
        MaterialsGap, "An application was accepted without some non-key materials (容缺受理), due by a deadline."),
    "{service}.materials.supplied": (MaterialsGap, "A deferred material came; the rest still pending are listed."),
    "{service}.materials.lapsed": (
        MaterialsGap, "A deferred material's deadline passed: the application is returned to its applicant."),
    "registration.enterprise.registered": (EnterpriseRegistered, "A new enterprise holds a licence."),
    "registration.enterprise.changed": (
        EnterpriseChanged,
        "A registered enterprise's name, address, capital, scope or officers changed (变更登记), or it moved to "
        "another district (省内迁移).",
    ),
    "deregistration.enterprise.deregistered": (EnterpriseStatusChanged, "An enterprise was cancelled."),
    "deregistration.enterprise.suspended": (EnterpriseStatusChanged, "An enterprise filed 歇业备案."),
    "deregistration.enterprise.resumed": (EnterpriseStatusChanged, "A suspended enterprise resumed."),
    "utilities.account.opened": (UtilityAccountChanged, "A utility connection was made: its account is open."),
    "utilities.account.transferred": (UtilityAccountChanged, "A utility account moved to a property's new owner."),
    "{service}.escalation.raised": (
        EscalationRaised,
        "办不成事: an applicant reports an application stuck or unfairly refused; the departments concerned are named.",
    ),
    "{service}.escalation.resolved": (
        EscalationResolved,
        "A supervisor recorded the outcome of an escalation (upheld, dismissed or resolved).",
    ),
    "realestate.transfer.completed": (TransferCompleted, "A property transfer was entered in the register."),
    "realestate.certificate.issued": (
        PropertyCertificateChanged, "An electronic property certificate was issued (with its verification code)."),
    "realestate.certificate.cancelled": (
        PropertyCertificateChanged, "An electronic property certificate was cancelled (its property changed hands)."),
    "realestate.payment.split": (PaymentChanged, "A transfer's one payment was taken and split to its accounts."),
    "realestate.payment.refunded": (PaymentChanged, "A transfer ended before entry: its payment was returned."),
    "realestate.mortgage.registered": (MortgageChanged, "A mortgage was entered in the register."),
    "realestate.mortgage.released": (MortgageChanged, "A mortgage was released (注销)."),
    "realestate.mortgage.notified": (MortgageChanged, "A mortgaged property changed hands; the mortgage stays."),
}


def make_event(
    name: str,
    data: EventData,
    *,
    source_service: str,
    subject: str | None = None,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """Wrap event data in a CloudEvent; ``name`` is the event's short name (``<service>.<entity>.<event>``).

    For task events the type is generic (``task.requested``) since department and service are in the
    subject and data.
    """
    parts = name.split(".")
    type_name = f"task.{parts[-1]}" if parts[0] == "task" else name
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=f"/onestop/{source_service}",
        type=EVENT_TYPE_PREFIX + type_name,
        subject=subject,
        correlationid=correlation_id,
        data=data.model_dump(mode="json"),
    )


def provenance_problem(subject: str, event: CloudEvent) -> str | None:
    """Why an event on ``subject`` cannot be what it claims, or None: a service's events come from that
    service and carry their subject as their type; a task request comes from its service and names it and
    its department, and so does an escalation notice; an answer comes from its department (or from the service,
    announcing a back-office decision) and names both. A consumer drops what disagrees (the broker's
    permissions are the first line: this catches a party with valid credentials speaking for another)."""
    parts = subject.split(".")
    data = event.data
    if parts[0] == "task" and len(parts) == 4 and parts[3] in TASK_EVENT_KINDS:
        _, service, department, kind = parts
        if data.get("service") != service or data.get("department") != department:
            return f"data names {data.get('service')}/{data.get('department')}, the subject {service}/{department}"
        allowed = {f"/onestop/{service}"} if kind in SERVICE_ONLY_KINDS else {
            f"/onestop/{service}", f"/onestop/department/{department}"}
        if event.source not in allowed:
            return f"source {event.source} may not send {kind} for {service}/{department}"
        if event.name != f"task.{kind}":
            return f"type {event.type} on a {kind} subject"
        return None
    if parts[0] in registry.services():
        if event.source != f"/onestop/{parts[0]}":
            return f"source {event.source} may not announce on {parts[0]}'s subjects"
        if event.name != subject:
            return f"type {event.type} on subject {subject}"
    return None


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every channel and message, for department back offices."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEvent": CloudEvent.model_json_schema()}
    for address, (model, summary) in EVENT_CATALOGUE.items():
        key = address.replace("{", "").replace("}", "").replace(".", "_")
        schemas[model.__name__] = model.model_json_schema()
        messages[key] = {
            "name": address,
            "summary": summary,
            "contentType": "application/cloudevents+json",
            "headers": {
                "type": "object",
                "properties": {
                    "Nats-Msg-Id": {"type": "string", "description": "equals the CloudEvent id"},
                    "X-Request-ID": {"type": "string"},
                    "traceparent": {"type": "string", "description": "W3C trace context of the publication "
                                    "(when traces are on); the envelope's traceparent is the fallback"},
                    "tracestate": {"type": "string"},
                },
            },
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/CloudEvent"},
                    {"properties": {"data": {"$ref": f"#/components/schemas/{model.__name__}"}}},
                ]
            },
        }
        channels[key] = {
            "address": address,
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Jiangmen one-stop service events",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 (structured JSON) on NATS JetStream. Streams: "
            + ", ".join(f"{name} ({', '.join(subjects)})" for name, subjects in all_streams().items()),
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "components": {"messages": messages, "schemas": schemas},
    }
