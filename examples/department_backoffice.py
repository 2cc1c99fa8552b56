"""A department back office on NATS: it takes its department's task requests and answers them.

This is what a department integrates: a durable pull consumer on ``task.*.<department>.requested`` in the
``TASKS`` stream, and answers published to ``task.<service>.<department>.resolved`` (CloudEvents, with
``Nats-Msg-Id`` so a resent answer is dropped). Beside it, a second durable consumer
(``<consumer>-escalations``) reads ``task.*.<department>.escalated``: 办不成事 notices about the department's tasks
(an applicant escalated, then the supervisor's outcome). They are recorded and logged for the officers, never
taken for work and never answered. The dev stack runs it for every simulated department.

    python -m examples.department_backoffice --departments tax,psb --reject-ratio 0.1 --delay 0.5

Settings: ``ONESTOP_NATS_URL``; ``ONESTOP_SIMULATED_DEPARTMENTS`` (``all``, ``none`` or a comma list)
when ``--departments`` is not given. An entry ``<service>.<department>`` (e.g. ``registration.tax``)
simulates that department for that service only: its other services' tasks wait for a person (an officer
answering over the HTTP back-office API).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg

from shared import registry, tracing
from shared.bus import Bus, ConsumerSpec
from shared.departments import Department
from shared.events import (
    TASKS_STREAM,
    CloudEvent,
    TaskEscalated,
    TaskEventKind,
    TaskOutcome,
    TaskRequested,
    TaskResolved,
    department_escalations_filter,
    department_requests_filter,
    make_event,
    task_subject,
)
from shared.identifiers import generate_uscc
from shared.logs import configure_logging
from shared.natsauth import department_identity, escalations_consumer
from shared.records import utcnow
from shared.settings import get_settings

log = logging.getLogger("onestop.backoffice.simulated")
ANSWER_NAMESPACE = uuid.UUID("6f1c9a52-3b0e-4c1e-9d7a-1a2b3c4d5e6f")
# The latest escalation notices kept in memory for the officers' view; the log has every one.
NOTICES_KEPT = 1000


def outputs_for(task: TaskRequested) -> dict[str, Any]:
    """What a department hands back when it approves (filing numbers, accounts, certificates)."""
    suffix = task.task_id.replace("-", "")[:10].upper()
    if task.kind == "business_licence":
        # 企业开办: samr assigns the USCC (赋码). Worked out only here: it was most of the cost of an answer.
        return {"licence_number": f"JM{suffix}", "uscc": assigned_uscc(task)}
    digits = str(int(task.task_id.replace("-", "")[:12], 16))[-12:].zfill(12)
    uscc = task.details.get("uscc") or ""
    today = utcnow().date().isoformat()
    by_kind: dict[str, dict[str, Any]] = {
        # 企业开办: tax confirms, registers for contributions (单位缴费登记) and grants the invoices asked for
        # (数电发票 as an amount limit)
        "seal_filing": {"seal_filing_number": f"GA{suffix}", "fee": "0.00"},
        "tax_confirmation": {"tax_registration": uscc, "contribution_registration": f"JF{suffix}",
                             "invoice_grant": task.details.get("invoices")},
        # 变更登记 and 省内迁移: samr registers, tax follows
        "change_registration": {"change_reference": f"BG{suffix}", "changed_on": today},
        "move_registration": {"move_reference": f"QY{suffix}", "moved_on": today},
        "tax_change": {"tax_change_reference": f"SWBG{suffix}", "changed_on": today},
        "tax_move": {"tax_move_reference": f"SWQY{suffix}", "moved_on": today},
        "social_insurance_registration": {"employer_number": f"SB{suffix}"},
        "medical_insurance_registration": {"employer_number": f"YB{suffix}"},
        "housing_fund_account": {"housing_fund_account": f"GJJ{suffix}"},
        "bank_account_appointment": {"appointment": f"BK{suffix}"},
        # 套餐式注销
        "licence_cancellation": {"cancellation_number": f"ZX{suffix}", "cancelled_on": today},
        "tax_clearance": (
            {"tax_clearance_certificate": f"QS{suffix}", "cleared_on": today}  # 清税证明
            if task.details.get("certificate_required") else {"no_tax_owed": True, "checked_on": today}
        ),
        "social_insurance_cancellation": {"cancellation_reference": f"SBZX{suffix}", "cancelled_on": today},
        "medical_insurance_cancellation": {"cancellation_reference": f"YBZX{suffix}", "cancelled_on": today},
        "housing_fund_account_closure": {"closure_reference": f"GJJXH{suffix}", "closed_on": today},
        "customs_registration_cancellation": {"customs_cancellation_reference": f"HGZX{suffix}",
                                              "cancelled_on": today},
        "bank_account_closure": {"closure_notice": f"BKXH{suffix}", "closed_on": today},
        # 水电气网: each supplier hands back the account it opened; the permit authorities their permits
        "power_connection": {"account_number": f"DL{digits}", "connected_on": today},
        "water_connection": {"account_number": f"GS{digits}", "connected_on": today},
        "gas_connection": {"account_number": f"RQ{digits}", "connected_on": today},
        "telecom_connection": {"account_number": f"TX{digits}", "connected_on": today},
        "cabletv_connection": {"account_number": f"GD{digits}", "connected_on": today},
        "city_road_works_permit": {"permit_number": f"CGXK{suffix}", "valid_until": task.due_at.date().isoformat()},
        "road_works_traffic_permit": {"permit_number": f"JJXK{suffix}"},
        "green_space_occupation_permit": {"permit_number": f"LHXK{suffix}"},
        "highway_works_permit": {"permit_number": f"GLXK{suffix}"},
        "account_transfer": {"transferred_on": today, "accounts": task.details.get("accounts", [])},
        # 不动产登记: the registry's review, the contract filing, the tax bureau's assessment (its figures, here
        # the service's own preview), and the payment channel taking exactly the amount due
        "transfer_review": {"review_reference": f"SH{suffix}"},
        "contract_filing": {"filing_number": f"WQBA{suffix}"},
        "tax_assessment": dict(task.details.get("assessment_preview") or {}),
        "payment": {"paid_yuan": task.details.get("amount_due_yuan"), "reference": f"JF{suffix}"},
        "mortgage_and_payment": {"paid_yuan": task.details.get("amount_due_yuan"), "reference": f"JF{suffix}",
                                 "lenders": "consented"},
        "mortgage_registration": {"review_reference": f"DYSH{suffix}"},
        "mortgage_release": {"review_reference": f"DYZX{suffix}"},
    }
    return by_kind.get(task.kind, {"reference": f"{task.department.upper()}{suffix}"})


def assigned_uscc(task: TaskRequested) -> str:
    """The USCC the simulated samr assigns (赋码): authority 9, the category and the registering authority's
    division its task names, a fresh organisation code. The same for every delivery of one task."""
    details = task.details
    division = details.get("registration_division") or details.get("district_code") or "440700"
    return generate_uscc(division, details.get("uscc_category") or "1", rng=random.Random(task.task_id))


def answer_id(task: TaskRequested) -> str:
    """One answer per task and round, whatever happens: a redelivered request gets the same answer id."""
    return str(uuid.uuid5(ANSWER_NAMESPACE, f"{task.task_id}:{task.round}"))


@dataclass(frozen=True)
class Simulated:
    """A department to simulate, for every service (``service`` None) or for one service only."""

    department: Department
    service: str | None = None

    @property
    def durable(self) -> str:
        return f"dept-{self.department}" if self.service is None else f"dept-{self.service}-{self.department}"

    @property
    def filter_subject(self) -> str:
        if self.service is None:
            return department_requests_filter(self.department)
        return task_subject(self.service, self.department, TaskEventKind.requested)

    @property
    def escalations_filter(self) -> str:
        if self.service is None:
            return department_escalations_filter(self.department)
        return task_subject(self.service, self.department, TaskEventKind.escalated)


def parse_simulated(value: str) -> list[Simulated]:
    """``all``, ``none`` or a comma list of ``<department>`` and ``<service>.<department>`` entries.

    A department simulated for every service makes its service-specific entries redundant (they would
    answer the same tasks twice), so those are dropped. Unknown codes raise ValueError.
    """
    text = value.strip().lower()
    if text in ("", "none"):
        return []
    if text == "all":
        return [Simulated(d) for d in Department]
    entries: set[Simulated] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        service, _, code = part.rpartition(".")
        if service and service not in registry.services():
            raise ValueError(f"unknown service {service!r} in {part!r}")
        entries.add(Simulated(Department(code), service or None))
    everywhere = {e.department for e in entries if e.service is None}
    kept = [e for e in entries if e.service is None or e.department not in everywhere]
    return sorted(kept, key=lambda e: (e.department, e.service or ""))


class SimulatedDepartment:
    """Approves by default; rejects a share of tasks and waits a while when asked to."""

    def __init__(self, bus: Bus, department: Department, reject_ratio: float, delay: float,
                 service: str | None = None) -> None:
        self.bus = bus
        self.department = department
        self.scope = Simulated(department, service)
        self.reject_ratio = reject_ratio
        self.delay = delay
        self.random = random.Random()
        self.escalations: deque[TaskEscalated] = deque(maxlen=NOTICES_KEPT)

    def consumer(self) -> ConsumerSpec:
        return ConsumerSpec(
            durable=self.scope.durable,
            stream=TASKS_STREAM,
            filter_subjects=[self.scope.filter_subject],
            handler=self.handle,
            backoff=(10.0, 30.0, 60.0),
        )

    def notices(self) -> ConsumerSpec:
        """The consumer of the escalations of this department's tasks (its own durable, its own filter)."""
        return ConsumerSpec(
            durable=escalations_consumer(self.scope.durable),
            stream=TASKS_STREAM,
            filter_subjects=[self.scope.escalations_filter],
            handler=self.note_escalation,
            backoff=(10.0, 30.0, 60.0),
        )

    async def note_escalation(self, event: CloudEvent, _msg: Msg) -> None:
        """办不成事 about one of our tasks: kept and logged for the officers to look at their part. Not work: a
        person decides what to do, so nothing is answered."""
        notice = event.data_as(TaskEscalated)
        self.escalations.append(notice)
        log.warning("escalation noted", extra={
            "department": self.department.value, "of_service": notice.service, "escalation_id": notice.escalation_id,
            "application_number": notice.application_number, "task_id": notice.task_id, "status": notice.status,
            "reason": notice.reason, "reannounced": notice.reannounced})

    async def handle(self, event: CloudEvent, _msg: Msg) -> None:
        task = event.data_as(TaskRequested)
        if self.delay:
            await asyncio.sleep(self.delay)
        rejected = self.random.random() < self.reject_ratio
        answer = TaskResolved(
            task_id=task.task_id,
            application_id=task.application_id,
            service=task.service,
            department=self.department,
            outcome=TaskOutcome.rejected if rejected else TaskOutcome.approved,
            comment="材料不符合要求（模拟）" if rejected else "同意（模拟）",
            outputs={} if rejected else outputs_for(task),
            decided_by=f"simulated-{self.department}",
            decided_at=utcnow(),
            round=task.round,
        )
        reply = make_event(f"task.{task.service}.{self.department}.resolved", answer,
                           source_service=f"department/{self.department}", subject=task.application_id,
                           correlation_id=event.correlationid, event_id=answer_id(task))
        if tracing.enabled():
            # The answer continues the trace of the task: its envelope names the span handling the task.
            tracing.stamp_event(reply)
        await self.bus.publish(task_subject(task.service, self.department, TaskEventKind.resolved),
                               reply.model_dump_json().encode(), reply.id, event.correlationid)


async def run(departments: list[Simulated], reject_ratio: float, delay: float) -> None:
    settings = get_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Each department connects as itself, as a real back office would: it may read only its own tasks and
    # answer only as itself (shared.natsauth).
    buses: dict[Department, Bus] = {}
    for entry in departments:
        bus = buses.get(entry.department)
        if bus is None:
            bus = buses[entry.department] = Bus(
                settings.nats_url, name=f"onestop-department-{entry.department}", manage_streams=False,
                tls_ca=settings.nats_tls_ca,
                seed=settings.nats_seed(department_identity(entry.department).name))
            bus.start()
        department = SimulatedDepartment(bus, entry.department, reject_ratio, delay, entry.service)
        bus.consume(department.consumer())
        bus.consume(department.notices())
    log.info("simulating departments", extra={"departments": [e.durable for e in departments]})
    await stop.wait()
    for bus in buses.values():
        await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--departments", help="all, none, or a comma list of <department> or "
                        "<service>.<department> (default: ONESTOP_SIMULATED_DEPARTMENTS)")
    parser.add_argument("--reject-ratio", type=float, default=0.0, help="share of tasks rejected (0..1)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    args = parser.parse_args()
    settings = get_settings()
    configure_logging("departments", settings.log_level)
    tracing.configure_tracing("departments")
    departments = parse_simulated(args.departments or settings.simulated_departments)
    # uvloop where it is installed (uvicorn[standard] brings it), as under uvicorn: asyncio's own selector loop
    # was a sixth of this process's CPU.
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(departments, args.reject_ratio, args.delay))
    else:
        uvloop.run(run(departments, args.reject_ratio, args.delay))


if __name__ == "__main__":
    main()
