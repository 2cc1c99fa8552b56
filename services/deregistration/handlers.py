"""What the deregistration service does when registration announces an enterprise, when departments answer,
and when a period's timer comes due."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlmodel import select

from services.deregistration import domain
from services.deregistration.domain import NUMBER_PREFIX, SERVICE, Holdings, Procedure, Status, SuspensionStatus
from services.deregistration.forms import FORM
from services.deregistration.models import DeregistrationApplication, EnterpriseView, Suspension
from shared import applications, timers
from shared.applications import ApplicationFlow, TaskDetails
from shared.bus import ConsumerSpec, PoisonMessage
from shared.departments import Department
from shared.events import (
    EnterpriseStatusChanged,
    make_event,
    service_subject,
)
from shared.fanout import Plan
from shared.identifiers import mask_resident_id
from shared.outbox import UnitOfWork
from shared.readmodels import enterprise_view_consumers
from shared.records import DepartmentTask, Timer, utcnow
from shared.service import ServiceRuntime
from shared.workdays import LOCAL_TZ

log = logging.getLogger("onestop.deregistration")



# --- The enterprise read model ---------------------------------------------------------------------------


def holdings_of(enterprise: EnterpriseView) -> Holdings:
    return Holdings(frozenset(enterprise.registered_with), enterprise.has_tax_matters, enterprise.customs_registered)


def enterprise_registry_consumer(runtime: ServiceRuntime) -> list[ConsumerSpec]:
    """Learn enterprises from registration's announcements; their later status is decided here, not followed."""
    return enterprise_view_consumers(runtime, EnterpriseView, follow_status=False)


def announce_status(uow: UnitOfWork, enterprise: EnterpriseView, event: str, *, application_id: str | None = None,
                    start_date: date | None = None, end_date: date | None = None, **extra: Any) -> None:
    """Set the enterprise's status in our read model and announce it on ``deregistration.enterprise.<event>``
    in the same transaction (the registration service reflects it on the licence)."""
    status = {"deregistered": "cancelled", "suspended": "suspended", "resumed": "active"}[event]
    now = utcnow()
    enterprise.status = status
    enterprise.status_changed_at = now
    enterprise.updated_at = now
    data = EnterpriseStatusChanged(uscc=enterprise.uscc, status=status,
                                   application_id=application_id, start_date=start_date, end_date=end_date,
                                   at=now, **extra)
    uow.emit(service_subject(SERVICE, "enterprise", event),
             make_event(f"{SERVICE}.enterprise.{event}", data, source_service=SERVICE, subject=enterprise.uscc))


# --- Deregistration applications -------------------------------------------------------------------------


def plan_of(app: DeregistrationApplication) -> Plan:
    """The application's plan, from the holdings it was accepted with."""
    h = app.holdings
    return domain.plan_for(app.procedure, Holdings(frozenset(h["registered_with"]), h["has_tax_matters"],
                                                   h["customs_registered"]))


def task_details(app: DeregistrationApplication, _tasks: Sequence[DepartmentTask] = ()) -> TaskDetails:
    """What each department is sent: samr the whole filing; the others the enterprise and what to cancel."""
    general = app.procedure == Procedure.general

    def details(task: DepartmentTask) -> dict[str, Any]:
        common: dict[str, Any] = {
            "uscc": app.uscc, "enterprise_name": app.enterprise_name, "district_code": app.district_code,
            "procedure": app.procedure, "reason": app.stated_reason,
        }
        if task.department == Department.samr:
            common["form"] = app.form  # the undertaking or liquidation group is filed with samr
            if general:
                common["tax_clearance_required"] = True
        elif task.department == Department.tax:
            # 一般注销 needs the clearance certificate (清税证明) before samr; 简易注销 only a check.
            common["certificate_required"] = general
        if general and app.form.get("liquidation"):
            members = app.form["liquidation"].get("members", [])
            common["liquidation_group"] = [{"name": m["name"], "id_number": mask_resident_id(m["id_number"])}
                                           for m in members]
        return common

    return details


async def release_enterprise(uow: UnitOfWork, app: DeregistrationApplication) -> EnterpriseView | None:
    """The application no longer holds the enterprise (another deregistration may be filed)."""
    enterprise = await applications.lock_row(uow.session, EnterpriseView, app.uscc)
    if enterprise is not None and enterprise.deregistration_id == app.id:
        enterprise.deregistration_id = None
        enterprise.updated_at = utcnow()
    return enterprise


async def complete(uow: UnitOfWork, app: DeregistrationApplication, tasks: list[DepartmentTask]) -> None:
    """Every department cancelled what it held: the enterprise is cancelled everywhere; tell everyone."""
    now = utcnow()
    app.status = Status.completed
    enterprise = await release_enterprise(uow, app)
    if enterprise is None:
        raise PoisonMessage(f"no enterprise {app.uscc} for {app.number}")
    if enterprise.suspension_id:
        # A suspension running when the enterprise is cancelled ends with it, without a "resumed".
        suspension = await applications.lock_row(uow.session, Suspension, enterprise.suspension_id)
        if suspension is not None and suspension.status in SuspensionStatus.CURRENT:
            suspension.status = SuspensionStatus.ended if suspension.status == "active" else SuspensionStatus.withdrawn
            suspension.updated_at = now
            await timers.cancel(uow.session, suspension.id, now=now)
        enterprise.suspension_id = None
    FLOW.emit(uow, app, tasks)
    announce_status(uow, enterprise, "deregistered", application_id=app.id, procedure=app.procedure,
                    number=app.number, departments=[t.department for t in tasks])


async def notice_ended(uow: UnitOfWork, timer: Timer) -> None:
    """The public notice or creditors' announcement is over with no objection: ask the departments."""
    app = await FLOW.lock(uow, timer.target_id)
    if app is None or app.status not in Status.NOTICE:
        return  # stopped meanwhile (an objection cancels the timer; this guards a race with it)
    await FLOW.start(uow, app)


FLOW: ApplicationFlow[DeregistrationApplication] = ApplicationFlow(
    service=SERVICE,
    model=DeregistrationApplication,
    number_prefix=NUMBER_PREFIX,
    shape=FORM,
    final_statuses=Status.FINAL,
    plan=plan_of,
    details=task_details,
    on_rejected=release_enterprise,
    on_completed=complete,
)


# --- 歇业备案 ------------------------------------------------------------------------------------------------


def local_today(now: datetime | None = None) -> date:
    """Today's date in Jiangmen."""
    return (now or utcnow()).astimezone(LOCAL_TZ).date()


async def enterprise_for_suspension(uow: UnitOfWork, suspension: Suspension) -> EnterpriseView:
    enterprise = await applications.lock_row(uow.session, EnterpriseView, suspension.uscc)
    if enterprise is None:
        raise PoisonMessage(f"no enterprise {suspension.uscc} for {suspension.number}")
    return enterprise


def announce_suspended(uow: UnitOfWork, enterprise: EnterpriseView, suspension: Suspension) -> None:
    announce_status(uow, enterprise, "suspended", application_id=suspension.id, start_date=suspension.start_date,
                    end_date=suspension.end_date, number=suspension.number,
                    delivery_address=suspension.delivery_address)


async def start_suspension(uow: UnitOfWork, enterprise: EnterpriseView, suspension: Suspension) -> None:
    """The suspension takes effect: the enterprise is suspended until the end date is over."""
    suspension.status = SuspensionStatus.active
    suspension.updated_at = utcnow()
    announce_suspended(uow, enterprise, suspension)


async def end_suspension(uow: UnitOfWork, enterprise: EnterpriseView, suspension: Suspension, *,
                         status: str, resumed_on: date | None = None) -> None:
    """The suspension is over (early or at its end): the enterprise is active again."""
    was_active = suspension.status == SuspensionStatus.active
    suspension.status = status
    suspension.resumed_on = resumed_on
    suspension.updated_at = utcnow()
    await timers.cancel(uow.session, suspension.id)
    if enterprise.suspension_id == suspension.id:
        enterprise.suspension_id = None
    if was_active and enterprise.status == "suspended":
        announce_status(uow, enterprise, "resumed", application_id=suspension.id, start_date=suspension.start_date,
                        end_date=suspension.end_date, number=suspension.number, resumed_on=resumed_on)


async def suspension_timer(uow: UnitOfWork, timer: Timer) -> None:
    """A suspension's start or end came due."""
    suspension = await uow.session.get(Suspension, timer.target_id)
    if suspension is None:
        return
    enterprise = await enterprise_for_suspension(uow, suspension)
    suspension = await applications.lock_row(uow.session, Suspension, timer.target_id)
    assert suspension is not None
    if timer.kind == domain.TIMER_SUSPENSION_START and suspension.status == SuspensionStatus.filed:
        await start_suspension(uow, enterprise, suspension)
    elif timer.kind == domain.TIMER_SUSPENSION_END and suspension.status == SuspensionStatus.active:
        await end_suspension(uow, enterprise, suspension, status=SuspensionStatus.ended)


TIMER_HANDLERS: dict[str, timers.TimerHandler] = {
    domain.TIMER_NOTICE_END: notice_ended,
    domain.TIMER_SUSPENSION_START: suspension_timer,
    domain.TIMER_SUSPENSION_END: suspension_timer,
}


async def filings_of(session: Any, uscc: str, *, excluding: str | None = None) -> list[domain.Filing]:
    """The enterprise's suspensions that count toward the 3-year cap (withdrawn ones never started)."""
    rows = await session.execute(select(Suspension).where(Suspension.uscc == uscc,
                                                          Suspension.status != SuspensionStatus.withdrawn))
    return [domain.Filing(s.start_date, s.end_date, s.resumed_on) for s in rows.scalars() if s.id != excluding]
