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
from services.deregistration.models import DeregistrationApplication, EnterpriseView, Objection, Suspension
from shared import applications, timers
from shared.applications import ApplicationFlow, MaterialsRule, TaskDetails
from shared.bus import ConsumerSpec, PoisonMessage
from shared.catalogue import guide_of
from shared.departments import Department
from shared.events import (
    EnterpriseRegistered,
    EnterpriseStatusChanged,
    make_event,
    service_subject,
)
from shared.fanout import Plan, Progress, TaskStatus, ready_steps
from shared.identifiers import mask_resident_id
from shared.outbox import UnitOfWork
from shared.readmodels import enterprise_view_consumers
from shared.records import DepartmentTask, Timer, utcnow
from shared.service import ServiceRuntime
from shared.tasks import emit_task_requested, load_tasks, progress_of, reopen_returned, statuses_of
from shared.workdays import add_working_days

log = logging.getLogger("onestop.deregistration")


# --- The enterprise read model ---------------------------------------------------------------------------


def holdings_of(enterprise: EnterpriseView) -> Holdings:
    return Holdings(frozenset(enterprise.registered_with), enterprise.has_tax_matters, enterprise.customs_registered)


def keep_investors_and_restrictions(enterprise: EnterpriseView, data: EnterpriseRegistered) -> None:
    """What only this service keeps of a registration: the investors (who sign a simplified deregistration's
    undertaking) and the restrictions (what bars one)."""
    enterprise.investors = [{"name": i.get("name", ""), "id_number_masked": i.get("id_number_masked", "")}
                            for i in data.investors]
    enterprise.restrictions = list(data.restrictions)


def enterprise_registry_consumer(runtime: ServiceRuntime) -> list[ConsumerSpec]:
    """Learn enterprises from registration's announcements; their later status is decided here, not followed."""
    return enterprise_view_consumers(runtime, EnterpriseView, follow_status=False,
                                     on_registered=keep_investors_and_restrictions)


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
    """The application's plan, from the holdings it was accepted with, timed by its catalogue entry in force the
    day it was submitted."""
    h = app.holdings
    guide = guide_of(domain.CATALOGUE_ITEMS[domain.NoticeKind(notice_kind_of(app))], app.created_at)
    return domain.plan_for(app.procedure, Holdings(frozenset(h["registered_with"]), h["has_tax_matters"],
                                                   h["customs_registered"]), guide)


def notice_kind_of(app: DeregistrationApplication) -> str:
    """The period the application started in (rows from before 个体工商户 windows follow their procedure)."""
    return app.notice_kind or domain.notice_kind(app.procedure, "")


def notice_over(app: DeregistrationApplication) -> bool:
    """Whether the notice is over: the gate before samr (and what follows it) is open."""
    return app.notice_ended_at is not None


def task_details(app: DeregistrationApplication, _tasks: Sequence[DepartmentTask] = ()) -> TaskDetails:
    """What each department is sent: samr the whole filing; the others the enterprise and what to cancel; a
    department asked during the notice, that it may object until the notice is over."""
    general = app.procedure == Procedure.general

    def details(task: DepartmentTask) -> dict[str, Any]:
        common: dict[str, Any] = {
            "uscc": app.uscc, "enterprise_name": app.enterprise_name, "district_code": app.district_code,
            "procedure": app.procedure, "reason": app.stated_reason, "notice_kind": notice_kind_of(app),
        }
        if task.department == Department.samr:
            common["form"] = app.form  # the undertaking, or the liquidation group and report, is filed with samr
            common["eligibility"] = app.eligibility or []  # a check skipped here is samr's to make
            if general:
                common["tax_clearance_required"] = True
        elif task.department == Department.tax:
            # 一般注销 needs the clearance certificate (清税证明) before samr; 简易注销 only a check.
            common["certificate_required"] = general
        if not notice_over(app) and task.department != Department.samr:
            # 简易注销: asked when the notice starts; rejecting is objecting (异议), until the notice is over.
            common["objection"] = True
        if general and app.form.get("liquidation"):
            members = app.form["liquidation"].get("members", [])
            common["liquidation_group"] = [{"name": m["name"], "id_number": mask_resident_id(m["id_number"])}
                                           for m in members]
        return common

    return details


async def ask_during_notice(uow: UnitOfWork, app: DeregistrationApplication, tasks: Sequence[DepartmentTask], *,
                            now: datetime, until: datetime) -> list[DepartmentTask]:
    """Ask the departments that may object (domain.asked_during_notice) when the notice starts: each has
    until its end to answer, and a rejection is an objection. Each is sent the links to the documents."""
    during = domain.asked_during_notice(app.procedure, plan_of(app))
    by_department = {t.department: t for t in tasks}
    details = await FLOW.task_details(uow.session, app, tasks, now=now)
    asked = []
    for step in ready_steps(during, statuses_of(tasks)):
        task = by_department[step.department]
        task.status = TaskStatus.requested
        task.requested_at = now
        task.due_at = max(until, add_working_days(now, step.working_days).at)
        task.due_provisional = False
        task.details = details(task)
        emit_task_requested(uow, task)
        asked.append(task)
    return asked


class DeregistrationFlow(ApplicationFlow[DeregistrationApplication]):
    """The common life of an application, with the notice as a gate: while it runs, the departments asked
    at its start answer (a rejection stops the application: an objection), and nothing else is asked —
    samr, and what follows it, waits for its end. The timer opens the gate (``notice_ended``): samr is asked
    then if its departments approved, or later by the approval that completes them (``advance``).

    The hook this would be in shared.applications: a ``gate(app) -> bool`` consulted by ``advance`` (ask
    nothing while closed) and a status to resume in after a supplement while it is closed."""

    async def advance(self, uow: UnitOfWork, app: DeregistrationApplication, tasks: list[DepartmentTask]) -> None:
        if notice_over(app) or progress_of(tasks) != Progress.in_progress:
            await super().advance(uow, app, tasks)  # a rejection, a return, or the gate open: as every service
            return
        app.updated_at = utcnow()  # an approval during the notice: samr waits for its end

    async def resubmit(self, uow: UnitOfWork, app: DeregistrationApplication,
                       form: Any) -> list[DepartmentTask]:
        if notice_over(app):
            return await super().resubmit(uow, app, form)
        # A supplement during the notice: the returning departments are asked again, and the application is
        # in its notice again (not in progress: samr waits for the end).
        self.expect_returned(app)
        app.form = form.model_dump(mode="json")
        app.form_version = self.shape.version
        app.status = notice_kind_of(app)
        app.missing = []
        app.updated_at = utcnow()
        tasks = await load_tasks(uow.session, app.id)
        reopen_returned(uow, tasks, await self.task_details(uow.session, app, tasks))
        self.emit(uow, app, tasks)
        return tasks


async def release_enterprise(uow: UnitOfWork, app: DeregistrationApplication) -> EnterpriseView | None:
    """The application no longer holds the enterprise (another deregistration may be filed)."""
    enterprise = await applications.lock_row(uow.session, EnterpriseView, app.uscc)
    if enterprise is not None and enterprise.deregistration_id == app.id:
        enterprise.deregistration_id = None
        enterprise.updated_at = utcnow()
    return enterprise


async def stop(uow: UnitOfWork, app: DeregistrationApplication) -> None:
    """A department rejected. During the notice that is an objection (异议): the application stops as
    objected, the department's reason on record among the objections, the notice cancelled; samr is never
    asked. After it, a plain rejection. Either way the enterprise is released."""
    now = utcnow()
    if not notice_over(app):
        tasks = await load_tasks(uow.session, app.id)
        rejecting = next(t for t in tasks if t.status == TaskStatus.rejected)
        said = rejecting.comment or "不予通过"
        app.status = Status.objected
        period = domain.NOTICE_NAMES_ZH[notice_kind_of(app)]
        app.reason = f"{Department(rejecting.department).name_zh}在{period}内提出异议：{said}"
        uow.session.add(Objection(application_id=app.id, objector=f"dept:{rejecting.department}", reason=said,
                                  created_at=now))
    await timers.cancel(uow.session, app.id, domain.TIMER_NOTICE_END, now=now)
    await release_enterprise(uow, app)


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
    """The notice (or the 个体工商户's objection window, or the creditors' announcement) is over with no
    objection: the gate opens. samr is asked now if every department before it approved (otherwise the
    approval that completes them asks it); in the general procedure tax and customs are asked now."""
    app = await FLOW.lock(uow, timer.target_id)
    if app is None or app.status in Status.FINAL or notice_over(app):
        return  # stopped meanwhile (an objection cancels the timer; this guards a race with it)
    now = utcnow()
    app.notice_ended_at = now
    if app.status == Status.returned:
        # Waiting for the applicant's supplement: it goes on in progress when they send it.
        app.due_at = add_working_days(now, plan_of(app).working_days).at
        app.updated_at = now
        return
    await FLOW.start(uow, app, now=now)


FLOW = DeregistrationFlow(
    service=SERVICE,
    model=DeregistrationApplication,
    number_prefix=NUMBER_PREFIX,
    shape=FORM,
    final_statuses=Status.FINAL,
    plan=plan_of,
    details=task_details,
    on_rejected=stop,
    on_completed=complete,
    materials=MaterialsRule(lambda app: (domain.catalogue_item(app.procedure, notice_kind_of(app)),),
                            facts=lambda form: domain.deregistration_materials(form)),
)


# --- 歇业备案 ------------------------------------------------------------------------------------------------


async def enterprise_for_suspension(uow: UnitOfWork, suspension: Suspension) -> EnterpriseView:
    enterprise = await applications.lock_row(uow.session, EnterpriseView, suspension.uscc)
    if enterprise is None:
        raise PoisonMessage(f"no enterprise {suspension.uscc} for {suspension.number}")
    return enterprise


def announce_suspended(uow: UnitOfWork, enterprise: EnterpriseView, suspension: Suspension) -> None:
    announce_status(uow, enterprise, "suspended", application_id=suspension.id, start_date=suspension.start_date,
                    end_date=suspension.end_date, number=suspension.number,
                    delivery_address=suspension.delivery_address, cause=suspension.cause)


async def start_suspension(uow: UnitOfWork, enterprise: EnterpriseView, suspension: Suspension) -> None:
    """The suspension takes effect: the enterprise is suspended until the end date is over."""
    suspension.status = SuspensionStatus.active
    suspension.updated_at = utcnow()
    announce_suspended(uow, enterprise, suspension)


async def end_suspension(uow: UnitOfWork, enterprise: EnterpriseView, suspension: Suspension, *,
                         status: str, resumed_on: date | None = None) -> None:
    """The suspension is over (early or at its end): the enterprise is active again. An early end is
    published now (提前恢复营业公示): ``published_at``, and on the announcement."""
    now = utcnow()
    was_active = suspension.status == SuspensionStatus.active
    suspension.status = status
    suspension.resumed_on = resumed_on
    suspension.updated_at = now
    if resumed_on is not None:
        suspension.published_at = now
    await timers.cancel(uow.session, suspension.id)
    if enterprise.suspension_id == suspension.id:
        enterprise.suspension_id = None
    if was_active and enterprise.status == "suspended":
        published = {"published_at": now.isoformat()} if resumed_on is not None else {}
        announce_status(uow, enterprise, "resumed", application_id=suspension.id, start_date=suspension.start_date,
                        end_date=suspension.end_date, number=suspension.number, resumed_on=resumed_on, **published)


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
