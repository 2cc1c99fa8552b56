"""A department back office on NATS: it takes its department's task requests and answers them.

This is what a department integrates: a durable pull consumer on ``task.*.<department>.requested`` in the
``TASKS`` stream, and answers published to ``task.<service>.<department>.resolved`` (CloudEvents, with
``Nats-Msg-Id`` so a resent answer is dropped). The dev stack runs it for every simulated department.

    python -m examples.department_backoffice --departments tax,psb --reject-ratio 0.1 --delay 0.5

Settings: ``ONESTOP_NATS_URL``; ``ONESTOP_SIMULATED_DEPARTMENTS`` (``all``, ``none`` or a comma list)
when ``--departments`` is not given.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import uuid
from typing import Any

from nats.aio.msg import Msg

from shared.bus import Bus, ConsumerSpec
from shared.departments import Department, parse_department_list
from shared.events import (
    TASKS_STREAM,
    CloudEvent,
    TaskEventKind,
    TaskOutcome,
    TaskRequested,
    TaskResolved,
    department_requests_filter,
    make_event,
    task_subject,
)
from shared.logs import configure_logging
from shared.records import utcnow
from shared.settings import get_settings

log = logging.getLogger("onestop.backoffice.simulated")
ANSWER_NAMESPACE = uuid.UUID("6f1c9a52-3b0e-4c1e-9d7a-1a2b3c4d5e6f")


def outputs_for(task: TaskRequested) -> dict[str, Any]:
    """What a department hands back when it approves (filing numbers, accounts, certificates)."""
    suffix = task.task_id.replace("-", "")[:10].upper()
    uscc = task.details.get("uscc") or ""
    by_kind: dict[str, dict[str, Any]] = {
        "business_licence": {"licence_number": f"JM{suffix}"},
        "seal_filing": {"seal_filing_number": f"GA{suffix}", "fee": "0.00"},
        "tax_confirmation": {"tax_registration": uscc, "invoice_grant": task.details.get("invoices")},
        "social_insurance_registration": {"employer_number": f"SB{suffix}"},
        "medical_insurance_registration": {"employer_number": f"YB{suffix}"},
        "housing_fund_account": {"housing_fund_account": f"GJJ{suffix}"},
        "bank_account_appointment": {"appointment": f"BK{suffix}"},
    }
    return by_kind.get(task.kind, {"reference": f"{task.department.upper()}{suffix}"})


def answer_id(task: TaskRequested) -> str:
    """One answer per task and round, whatever happens: a redelivered request gets the same answer id."""
    return str(uuid.uuid5(ANSWER_NAMESPACE, f"{task.task_id}:{task.round}"))


class SimulatedDepartment:
    """Approves by default; rejects a share of tasks and waits a while when asked to."""

    def __init__(self, bus: Bus, department: Department, reject_ratio: float, delay: float) -> None:
        self.bus = bus
        self.department = department
        self.reject_ratio = reject_ratio
        self.delay = delay
        self.random = random.Random()

    def consumer(self) -> ConsumerSpec:
        return ConsumerSpec(
            durable=f"dept-{self.department}",
            stream=TASKS_STREAM,
            filter_subjects=[department_requests_filter(self.department)],
            handler=self.handle,
            backoff=(10.0, 30.0, 60.0),
        )

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
        await self.bus.publish(task_subject(task.service, self.department, TaskEventKind.resolved),
                               reply.model_dump_json().encode(), reply.id, event.correlationid)


async def run(departments: frozenset[Department], reject_ratio: float, delay: float) -> None:
    settings = get_settings()
    bus = Bus(settings.nats_url, name="onestop-simulated-departments")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bus.start()
    for department in sorted(departments):
        bus.consume(SimulatedDepartment(bus, department, reject_ratio, delay).consumer())
    log.info("simulating departments", extra={"departments": sorted(departments)})
    await stop.wait()
    await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--departments", help="all, none, or a comma list (default: ONESTOP_SIMULATED_DEPARTMENTS)")
    parser.add_argument("--reject-ratio", type=float, default=0.0, help="share of tasks rejected (0..1)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    args = parser.parse_args()
    settings = get_settings()
    configure_logging("departments", settings.log_level)
    departments = parse_department_list(args.departments or settings.simulated_departments)
    asyncio.run(run(departments, args.reject_ratio, args.delay))


if __name__ == "__main__":
    main()
