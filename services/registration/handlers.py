"""The life of the registration service's applications, one ``ApplicationFlow`` for all of them: a 企业开办
(``kind`` opening), or a registered enterprise's change (变更登记) or intra-province move (省内迁移). What each
department is sent, what samr's approval does (it assigns the USCC, which is checked), what completion does;
and how the service follows the enterprise's later life from other services' events."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from nats.aio.msg import Msg
from sqlmodel import select

from services.registration import domain
from services.registration.domain import SERVICE, Status
from services.registration.forms import CHANGE_FORM, FORM, ChangeCreate, InvestorIn, PersonIn, RegistrationCreate
from services.registration.models import Enterprise, EnterpriseName, Licence, RegistrationApplication
from services.registration.names import name_key
from shared import applications
from shared.applications import ApplicationFlow, MaterialsRule, TaskDetails, stored_form
from shared.bus import ConsumerSpec, PoisonMessage
from shared.catalogue import guide_of
from shared.departments import Department
from shared.events import (
    CloudEvent,
    EnterpriseChanged,
    EnterpriseRegistered,
    EnterpriseStatusChanged,
    OfficerSummary,
    make_event,
    service_subject,
    stream_for_service,
)
from shared.fanout import Plan
from shared.identifiers import mask_document_number, mask_resident_id, normalise_document_number, normalise_uscc
from shared.money import fen_to_yuan, yuan_to_fen
from shared.outbox import UnitOfWork
from shared.records import DepartmentTask, new_row, utcnow
from shared.refusals import Conflict, refuse_if
from shared.service import ServiceRuntime
from shared.validation import Checks

log = logging.getLogger("onestop.registration")

OPENING = "opening"
# Departments that legally need the legal representative's whole ID: the seal filing (公章刻制备案) and the
# bank's customer identification (KYC). Tax needs the finance officer's and the tax agent's (实名办税); every
# other department sees IDs masked.
FULL_ID_DEPARTMENTS = frozenset({Department.psb, Department.bank})
TAX_SERVICES = {"tax_information_confirmation": "税务信息确认", "contribution_registration": "单位缴费登记"}


def form_of(app: RegistrationApplication) -> RegistrationCreate:
    """An opening's form as today's model."""
    return stored_form(FORM, app)


def change_form_of(app: RegistrationApplication) -> ChangeCreate:
    """A change's or move's form as today's model."""
    return stored_form(CHANGE_FORM, app)


def plan_of(app: RegistrationApplication) -> Plan:
    """The application's plan, timed by the catalogue entry of its kind in force the day it was submitted."""
    guide = guide_of(domain.CATALOGUE_ITEMS[app.kind], app.created_at)
    if app.kind == OPENING:
        return domain.plan_for(form_of(app), guide)
    return domain.change_plan(app.kind, domain.changed_fields(change_form_of(app)), guide)


def task_details(app: RegistrationApplication, tasks: Sequence[DepartmentTask]) -> TaskDetails:
    return opening_details(app, tasks) if app.kind == OPENING else change_details(app)


# --- 企业开办 ----------------------------------------------------------------------------------------------------


def _real_name(person: PersonIn | None) -> dict[str, Any] | None:
    """A person a department registers by real name (实名): the whole ID and the mobile."""
    return None if person is None else {"name": person.name, "id_number": person.id_number, "mobile": person.mobile}


def opening_details(app: RegistrationApplication, tasks: Sequence[DepartmentTask]) -> TaskDetails:
    """What each department is sent: samr the whole form and what its USCC must carry; the others the new
    enterprise and what they do, IDs whole only where the law needs them (``FULL_ID_DEPARTMENTS``, tax's real
    names)."""
    form = form_of(app)
    samr_outputs = next((t.outputs for t in tasks if t.department == Department.samr), {})

    def details(task: DepartmentTask) -> dict[str, Any]:
        if task.department == Department.samr:
            return {"form": app.form, "entity_type_zh": domain.ENTITY_TYPES[app.entity_type][0],
                    "district_code": app.district_code, "uscc_category": domain.uscc_category(app.entity_type),
                    "registration_division": domain.registration_division(app.entity_type, app.district_code)}
        legal = form.legal_representative
        full = task.department in FULL_ID_DEPARTMENTS
        common: dict[str, Any] = {
            "uscc": app.uscc, "enterprise_name": app.enterprise_name, "district_code": app.district_code,
            "licence_number": samr_outputs.get("licence_number"),
            "legal_representative": {"name": legal.name,
                                     "id_number": legal.id_number if full else mask_resident_id(legal.id_number)},
        }
        pkg = form.package
        if task.department == Department.tax:
            # The 新办纳税人 package: tax information, 单位缴费登记 (social-insurance contributions) and the first
            # invoices, with the finance officer and the tax agent by real name (实名办税).
            services = dict(TAX_SERVICES)
            if pkg.invoices is not None:
                services["invoices"] = "发票领用"
                common["invoices"] = pkg.invoices.model_dump(exclude_none=True)
            common["services"] = services
            common["finance_officer"] = _real_name(form.finance_officer)
            common["tax_agent"] = _real_name(form.tax_agent)
        if task.department == Department.bank and pkg.bank_name:
            common["bank_name"] = pkg.bank_name
        if task.department == Department.psb:
            common["free_of_charge"] = True  # seal engraving is free for new enterprises
        return common

    return details


# Whether a USCC is an enterprise's, or assigned to another application.
USCC_HELD = select(Enterprise.uscc).where(Enterprise.uscc == sa.bindparam("uscc")).union_all(
    select(RegistrationApplication.uscc).where(RegistrationApplication.uscc == sa.bindparam("uscc"),
                                               RegistrationApplication.id != sa.bindparam("application_id")))


async def samr_answered(uow: UnitOfWork, app: RegistrationApplication, task: DepartmentTask) -> None:
    """samr's approval of an opening carries the USCC it assigned (赋码): checked (GB 32100, authority 9, the
    entity type's category, the registering authority's division) and unique, or the decision is refused
    (``Invalid``/``Conflict``: 4xx over HTTP, logged and dropped over NATS). An approval of a change or move
    may repeat the enterprise's code, never another."""
    if task.department != Department.samr or task.status != "approved":
        return
    if app.kind != OPENING:
        given = task.outputs.get("uscc")
        if given is not None and normalise_uscc(str(given)) != app.enterprise_uscc:
            checks = Checks()
            checks.add(["outputs", "uscc"], "uscc_mismatch", expected=app.enterprise_uscc)
            refuse_if(checks.problems)
        return
    code, problems = domain.assigned_uscc(task.outputs, entity_type=app.entity_type, district_code=app.district_code)
    refuse_if(problems)
    assert code is not None
    # One statement for both places a code is held, flushed first: another opening of this batch may hold it.
    held = (await uow.session.execute(USCC_HELD, {"uscc": code, "application_id": app.id})).first() is not None
    if held:
        raise Conflict("uscc_in_use", f"the USCC {code} is another enterprise's", title="USCC already assigned",
                       uscc=code)
    app.uscc = code
    task.outputs = {**task.outputs, "uscc": code}


async def release_name(uow: UnitOfWork, app: RegistrationApplication) -> None:
    """A rejected application no longer reserves the name it reserved (an opening's, or a change's new one)."""
    rows = await uow.session.execute(select(EnterpriseName).where(
        EnterpriseName.application_id == app.id, EnterpriseName.status == "reserved"))
    for reservation in rows.scalars().all():
        await uow.session.delete(reservation)


_NAMES = EnterpriseName.__table__  # type: ignore[attr-defined]
REGISTER_NAMES = (sa.update(_NAMES).where(_NAMES.c.application_id == sa.bindparam("of_application"))
                  .values(status="registered"))


async def _register_name(uow: UnitOfWork, app: RegistrationApplication) -> None:
    # One UPDATE on the connection, nothing read or flushed: the reservations were made at submission, in another
    # transaction, and none of this application's is pending here.
    connection = await uow.session.connection()
    await connection.execute(REGISTER_NAMES, {"of_application": app.id})


def investor_summary(investor: InvestorIn) -> dict[str, str]:
    """An investor as other services may know them: the name and the ID masked (an enterprise's USCC whole)."""
    if investor.uscc:
        return {"name": investor.name, "id_number_masked": investor.uscc, "uscc": investor.uscc}
    document_type = investor.document_type or "resident_id"
    return {"name": investor.name, "document_type": document_type,
            "id_number_masked": mask_document_number(document_type, investor.document_number or "")}


async def complete_opening(uow: UnitOfWork, app: RegistrationApplication, tasks: list[DepartmentTask]) -> None:
    """Every department approved: the enterprise exists, with its e-licence; tell everyone."""
    assert app.uscc is not None
    form = form_of(app)
    now = utcnow()
    capital = form.enterprise.registered_capital
    enterprise = new_row(
        Enterprise,
        uscc=app.uscc, name=app.enterprise_name, entity_type=app.entity_type, district_code=app.district_code,
        address=app.address, owner=app.applicant, legal_representative=form.legal_representative.name,
        legal_representative_id=normalise_document_number(form.legal_representative.id_number),
        registered_capital_fen=yuan_to_fen(capital) if capital else None,
        business_scope=form.enterprise.business_scope, officers=[o.model_dump() for o in form.officers],
        registered_with=[t.department for t in tasks], status="active", application_id=app.id, registered_at=now,
    )
    licence = new_row(Licence, verification_code=domain.new_verification_code(), uscc=app.uscc, status="active",
                      issued_at=now)
    uow.session.add(enterprise)
    uow.session.add(licence)
    app.status = Status.completed
    await _register_name(uow, app)
    FLOW.emit(uow, app, tasks)
    registered = EnterpriseRegistered(
        uscc=app.uscc, name=app.enterprise_name, entity_type=app.entity_type, district_code=app.district_code,
        address=app.address, owner=app.applicant, legal_representative=form.legal_representative.name,
        registered_at=now, licence_verification_code=licence.verification_code,
        registered_with=[t.department for t in tasks],
        has_tax_matters=any(t.department == Department.tax for t in tasks),
        customs_registered=False,
        investors=[investor_summary(i) for i in form.investors],
    )
    uow.emit(service_subject(SERVICE, "enterprise", "registered"),
             make_event(f"{SERVICE}.enterprise.registered", registered, source_service=SERVICE, subject=app.uscc))


# --- Changes (变更登记) and moves (省内迁移) -------------------------------------------------------------------------


def officer_summaries(officers: Sequence[dict[str, Any]]) -> list[OfficerSummary]:
    """Officers as others may see them (IDs masked)."""
    return [OfficerSummary(name=o["name"], role=o["role"], id_number_masked=mask_document_number(
        o.get("document_type") or "resident_id", o["id_number"])) for o in officers]


def change_values(app: RegistrationApplication, form: ChangeCreate, *, full_ids: bool) -> dict[str, Any]:
    """What a change or move changes, as new values (the address resolved; officers' IDs whole only for samr,
    which files them)."""
    values: dict[str, Any] = {}
    if form.name is not None:
        values["name"] = form.name
    district = app.district_code
    if form.kind == "move" and form.district_code:
        district = values["district_code"] = form.district_code
        values["to_province_city"] = form.to_province_city
    if form.address is not None:
        values["address"] = domain.resolved_text(district, form.address)
        if form.address.residential:
            values["residential_use"] = True
    if form.registered_capital is not None:
        values["registered_capital"] = form.registered_capital
    if form.business_scope is not None:
        values["business_scope"] = list(form.business_scope)
    if form.officers is not None:
        officers = [o.model_dump() for o in form.officers]
        values["officers"] = officers if full_ids else [s.model_dump() for s in officer_summaries(officers)]
    return values


def change_details(app: RegistrationApplication) -> TaskDetails:
    """samr is sent the whole change (officers by their whole IDs); tax what it registers (no one's ID)."""
    form = change_form_of(app)

    def details(task: DepartmentTask) -> dict[str, Any]:
        common = {"kind": app.kind, "uscc": app.enterprise_uscc, "enterprise_name": app.enterprise_name,
                  "entity_type": app.entity_type, "district_code": app.district_code, "address": app.address}
        if task.department == Department.samr:
            return {**common, "changes": change_values(app, form, full_ids=True)}
        changes = change_values(app, form, full_ids=False)
        changes.pop("officers", None)
        return {**common, "changes": changes}

    return details


async def complete_change(uow: UnitOfWork, app: RegistrationApplication, tasks: list[DepartmentTask]) -> None:
    """samr (and tax) registered it: the enterprise and its public licence show the new values, the new name is
    held and the old one freed, and ``registration.enterprise.changed`` tells the other services. An enterprise
    cancelled meanwhile changes no more: the application is then rejected, saying why."""
    assert app.enterprise_uscc is not None
    form = change_form_of(app)
    now = utcnow()
    enterprise = await applications.lock_row(uow.session, Enterprise, app.enterprise_uscc)
    if enterprise is None:
        raise PoisonMessage(f"no enterprise {app.enterprise_uscc}")
    if enterprise.status == "cancelled":
        app.status = Status.rejected
        app.completed_at = None
        app.reason = "企业已注销，变更未予登记"
        await release_name(uow, app)
        FLOW.emit(uow, app, tasks)
        return
    previous: dict[str, Any] = {}
    if form.name is not None:
        previous["name"] = enterprise.name
        old = await uow.session.get(EnterpriseName, name_key(enterprise.name))
        if old is not None and old.application_id != app.id:
            await uow.session.delete(old)
        await _register_name(uow, app)
        enterprise.name = form.name
    if form.kind == "move" and form.district_code:
        previous["district_code"] = enterprise.district_code
        enterprise.district_code = form.district_code
    if form.address is not None:
        previous["address"] = enterprise.address
        enterprise.address = domain.resolved_text(enterprise.district_code, form.address) or enterprise.address
    if form.registered_capital is not None:
        previous["registered_capital"] = (fen_to_yuan(enterprise.registered_capital_fen)
                                          if enterprise.registered_capital_fen is not None else None)
        enterprise.registered_capital_fen = yuan_to_fen(form.registered_capital)
    if form.business_scope is not None:
        previous["business_scope"] = list(enterprise.business_scope)
        enterprise.business_scope = list(form.business_scope)
    if form.officers is not None:
        previous["officers"] = [s.model_dump() for s in officer_summaries(enterprise.officers or [])]
        enterprise.officers = [o.model_dump() for o in form.officers]
    enterprise.changed_at = now
    app.status = Status.completed
    FLOW.emit(uow, app, tasks)
    changed = EnterpriseChanged(
        uscc=enterprise.uscc, kind=app.kind, application_id=app.id, number=app.number,
        changed=domain.changed_fields(form), name=enterprise.name, address=enterprise.address,
        district_code=enterprise.district_code,
        registered_capital=(fen_to_yuan(enterprise.registered_capital_fen)
                            if enterprise.registered_capital_fen is not None else None),
        business_scope=list(enterprise.business_scope), officers=officer_summaries(enterprise.officers or []),
        previous=previous, changed_at=now,
    )
    uow.emit(service_subject(SERVICE, "enterprise", "changed"),
             make_event(f"{SERVICE}.enterprise.changed", changed, source_service=SERVICE, subject=enterprise.uscc))


async def complete(uow: UnitOfWork, app: RegistrationApplication, tasks: list[DepartmentTask]) -> None:
    """Every department approved."""
    if app.kind == OPENING:
        await complete_opening(uow, app, tasks)
    else:
        await complete_change(uow, app, tasks)


FLOW: ApplicationFlow[RegistrationApplication] = ApplicationFlow(
    service=SERVICE,
    model=RegistrationApplication,
    number_prefix=domain.NUMBER_PREFIX,
    shape=FORM,
    final_statuses=Status.FINAL,
    plan=plan_of,
    details=task_details,
    on_answer=samr_answered,
    on_rejected=release_name,
    on_completed=complete,
    materials=MaterialsRule(domain.OPENING_ITEM, facts=lambda form: domain.opening_materials(form),
                            applies=lambda app: app.kind == OPENING),
)
# The same flow as changes and moves are submitted and supplemented through: their own numbers and form.
CHANGE_FLOW: ApplicationFlow[RegistrationApplication] = dataclasses.replace(
    FLOW, number_prefix=domain.CHANGE_NUMBER_PREFIX, shape=CHANGE_FORM)


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
