"""The life of a 企业开办 application (its ``ApplicationFlow``): what departments are sent, what samr's approval
and completion do; and how the service follows the enterprise's later life from other services' events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from nats.aio.msg import Msg
from sqlmodel import select

from services.registration import domain
from services.registration.domain import SERVICE, Status
from services.registration.forms import FORM, RegistrationCreate
from services.registration.models import Enterprise, EnterpriseName, Licence, RegistrationApplication
from shared import applications
from shared.applications import ApplicationFlow, TaskDetails
from shared.bus import ConsumerSpec, PoisonMessage
from shared.departments import Department
from shared.events import (
    CloudEvent,
    EnterpriseRegistered,
    EnterpriseStatusChanged,
    make_event,
    service_subject,
    stream_for_service,
)
from shared.identifiers import generate_uscc, mask_resident_id
from shared.money import yuan_to_fen
from shared.outbox import UnitOfWork
from shared.records import DepartmentTask, utcnow
from shared.service import ServiceRuntime

log = logging.getLogger("onestop.registration")


def form_of(app: RegistrationApplication) -> RegistrationCreate:
    """The application's form as today's model."""
    return FORM.read(app.form, app.form_version)


def task_details(app: RegistrationApplication, tasks: Sequence[DepartmentTask]) -> TaskDetails:
    """What each department is sent: samr the whole form; the others the new enterprise and what they do."""
    form = form_of(app)
    samr_outputs = next((t.outputs for t in tasks if t.department == Department.samr), {})

    def details(task: DepartmentTask) -> dict[str, Any]:
        if task.department == Department.samr:
            return {"form": app.form, "entity_type_zh": domain.ENTITY_TYPES[app.entity_type][0]}
        legal = form.legal_representative
        common = {
            "uscc": app.uscc, "enterprise_name": app.enterprise_name, "district_code": app.district_code,
            "licence_number": samr_outputs.get("licence_number"),
            "legal_representative": {"name": legal.name, "id_number": mask_resident_id(legal.id_number)},
        }
        pkg = form.package
        if task.department == Department.tax and pkg.invoices is not None:
            common["invoices"] = pkg.invoices.model_dump()
        if task.department == Department.bank and pkg.bank_name:
            common["bank_name"] = pkg.bank_name
        if task.department == Department.psb:
            common["free_of_charge"] = True  # seal engraving is free for new enterprises
        return common

    return details


def samr_assigns_uscc(_uow: UnitOfWork, app: RegistrationApplication, task: DepartmentTask) -> None:
    """samr's approval assigns the USCC (GB 32100: authority 9, category, district, org code, check)."""
    if task.department == Department.samr and task.status == "approved":
        app.uscc = generate_uscc(app.district_code, domain.uscc_category(app.entity_type))
        task.outputs = {**task.outputs, "uscc": app.uscc}


async def release_name(uow: UnitOfWork, app: RegistrationApplication) -> None:
    """A rejected application no longer reserves its name."""
    reservation = await uow.session.get(EnterpriseName, domain.normalise_name(app.enterprise_name))
    if reservation is not None and reservation.application_id == app.id:
        await uow.session.delete(reservation)


async def complete(uow: UnitOfWork, app: RegistrationApplication, tasks: list[DepartmentTask]) -> None:
    """Every department approved: the enterprise exists, with its e-licence; tell everyone."""
    assert app.uscc is not None
    form = form_of(app)
    now = utcnow()
    capital = form.enterprise.registered_capital
    enterprise = Enterprise(
        uscc=app.uscc, name=app.enterprise_name, entity_type=app.entity_type, district_code=app.district_code,
        address=app.address, owner=app.applicant, legal_representative=form.legal_representative.name,
        registered_capital_fen=yuan_to_fen(capital) if capital else None,
        business_scope=form.enterprise.business_scope, registered_with=[t.department for t in tasks],
        status="active", application_id=app.id, registered_at=now,
    )
    licence = Licence(verification_code=domain.new_verification_code(), uscc=app.uscc, status="active",
                      issued_at=now)
    uow.session.add(enterprise)
    uow.session.add(licence)
    reservation = await uow.session.get(EnterpriseName, domain.normalise_name(app.enterprise_name))
    if reservation is not None:
        reservation.status = "registered"
    app.status = Status.completed
    FLOW.emit(uow, app, tasks)
    registered = EnterpriseRegistered(
        uscc=app.uscc, name=app.enterprise_name, entity_type=app.entity_type, district_code=app.district_code,
        address=app.address, owner=app.applicant, legal_representative=form.legal_representative.name,
        registered_at=now, licence_verification_code=licence.verification_code,
        registered_with=[t.department for t in tasks],
        has_tax_matters=any(t.department == Department.tax for t in tasks),
        customs_registered=False,
    )
    uow.emit(service_subject(SERVICE, "enterprise", "registered"),
             make_event(f"{SERVICE}.enterprise.registered", registered, source_service=SERVICE, subject=app.uscc))


FLOW: ApplicationFlow[RegistrationApplication] = ApplicationFlow(
    service=SERVICE,
    model=RegistrationApplication,
    number_prefix=domain.NUMBER_PREFIX,
    shape=FORM,
    final_statuses=Status.FINAL,
    plan=lambda app: domain.plan_for(form_of(app)),
    details=task_details,
    on_answer=samr_assigns_uscc,
    on_rejected=release_name,
    on_completed=complete,
)


# Enterprise status after other services' announcements, and what the licence then verifies as.
_LICENCE_STATUS = {"active": "active", "suspended": "suspended", "cancelled": "revoked"}
ENTERPRISE_EVENTS_CONSUMER = "registration-enterprise-changes"


def enterprise_changes_consumer(runtime: ServiceRuntime) -> ConsumerSpec:
    """Reflect deregistration's announcements (cancelled, suspended, resumed) on the enterprise and licence."""

    async def handle(event: CloudEvent, _msg: Msg) -> None:
        change = event.data_as(EnterpriseStatusChanged)
        async with runtime.uow() as uow:
            if await uow.already_handled(ENTERPRISE_EVENTS_CONSUMER, event.id):
                return
            # Locked: two announcements handled at once apply one after the other, the later seeing the earlier.
            enterprise = await applications.lock_row(uow.session, Enterprise, change.uscc)
            if enterprise is None:
                raise PoisonMessage(f"no enterprise {change.uscc}")
            # Cancellation is final; and an announcement older than the status we hold (a redelivery that
            # overtook a later one, e.g. "suspended" after "resumed") must not turn the clock back.
            stale = enterprise.status_changed_at is not None and change.at < enterprise.status_changed_at
            if enterprise.status != "cancelled" and not stale:
                enterprise.status = change.status
                enterprise.status_changed_at = change.at
                licence = (await uow.session.execute(select(Licence).where(Licence.uscc == change.uscc))).scalar_one()
                licence.status = _LICENCE_STATUS[change.status]
                licence.status_changed_at = change.at
            await uow.commit()

    return ConsumerSpec(
        durable=ENTERPRISE_EVENTS_CONSUMER,
        stream=stream_for_service("deregistration"),
        filter_subjects=["deregistration.enterprise.>"],
        handler=handle,
    )
