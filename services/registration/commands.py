"""What a request to the registration service does: load, apply the rules, store, emit (in the caller's
unit of work, which the route commits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from services.registration import domain, views
from services.registration.domain import Status
from services.registration.forms import ChangeCreate, RegistrationCreate
from services.registration.handlers import CHANGE_FLOW, FLOW, OPENING, change_form_of
from services.registration.models import Enterprise, EnterpriseName, RegistrationApplication
from services.registration.names import name_key
from shared.applications import lock_row
from shared.auth import Principal
from shared.divisions import resolve_address
from shared.materials import MaterialInfo, MaterialRef
from shared.outbox import UnitOfWork
from shared.records import DepartmentTask, new_row, utcnow
from shared.refusals import Conflict, Forbidden, Invalid, refuse_if
from shared.validation import Checks


def resolved_address(form: RegistrationCreate) -> str:
    """Validate the form (``Invalid`` naming every problem) and return its resolved standard address."""
    refuse_if(domain.validate(form))
    ent = form.enterprise
    resolved, _ = resolve_address(ent.district_code, ent.address.town_code, ent.address.road, ent.address.number,
                                  building=ent.address.building, room=ent.address.room, text=ent.address.text)
    assert resolved is not None
    return resolved.full_text


NAME_HELD = select(EnterpriseName.name).where(EnterpriseName.name == sa.bindparam("name"))


async def _reserve(uow: UnitOfWork, name: str, application_id: str, loc: list[str | int]) -> None:
    """Reserve a name for an application in flight (``Invalid`` when it is registered or reserved)."""
    # A row's existence, on the connection: nothing of the names is pending in this transaction yet.
    connection = await uow.session.connection()
    if (await connection.execute(NAME_HELD, {"name": name_key(name)})).first():
        raise domain.name_taken(name, loc)
    # The primary key on the name's key makes a concurrent twin fail at the commit, whatever the timing
    # (``create_once`` then tries again, and the second attempt finds the name taken).
    uow.session.add(new_row(EnterpriseName, name=name_key(name), application_id=application_id, status="reserved"))


async def submit(uow: UnitOfWork, form: RegistrationCreate, *, applicant: str, submitted_by: str,
                 found: Mapping[str, MaterialInfo | None]) -> tuple[RegistrationApplication, list[DepartmentTask]]:
    """Accept one 企业开办 application: its form and its materials checked (the catalogue says which are key and
    which may come later; ``found`` is what the materials service says of the documents it names), its name
    reserved, its tasks created, samr asked."""
    now = utcnow()
    # 一次告知: the form's problems and its materials' problems in one reply.
    problems = domain.validate(form)
    try:
        deferred = FLOW.check_materials(form, found, now=now)
    except Invalid as invalid:
        refuse_if([*problems, *invalid.errors])
    address = resolved_address(form)
    app = new_row(
        RegistrationApplication,
        number="", applicant=applicant, submitted_by=submitted_by, status=Status.in_progress, kind=OPENING,
        enterprise_name=form.enterprise.name, district_code=form.enterprise.district_code,
        entity_type=form.enterprise.entity_type, address=address, form=form.model_dump(mode="json"),
        created_at=now, updated_at=now,
    )
    await _reserve(uow, form.enterprise.name, app.id, ["enterprise", "name"])
    tasks = await FLOW.submit(uow, app, district_code=form.enterprise.district_code, now=now, deferred=deferred)
    return app, tasks


async def supply_material(uow: UnitOfWork, application_id: str, ref: MaterialRef, info: MaterialInfo | None,
                          principal: Principal) -> RegistrationApplication:
    """A material the opening was accepted without (容缺受理) comes; the last one resumes it if it was returned."""
    await views.readable(uow.session, application_id, principal, opening=True)
    return await FLOW.supply_material(uow, application_id, principal, ref, info)


async def supplement(uow: UnitOfWork, application_id: str, changes: Mapping[str, Any],
                     principal: Principal) -> RegistrationApplication:
    """The applicant's 补正: the form with the changes, checked again; the returning departments asked again."""
    await views.readable(uow.session, application_id, principal, opening=True)
    app, form = await FLOW.open_supplement(uow, application_id, principal, changes)
    assert isinstance(form, RegistrationCreate)
    if domain.normalise_name(form.enterprise.name) != domain.normalise_name(app.enterprise_name):
        raise domain.name_change_refused()
    address = resolved_address(form)
    await FLOW.resubmit(uow, app, form)
    app.address = address
    return app


# --- Changes (变更登记) and moves (省内迁移) -------------------------------------------------------------------------


def facts_of(enterprise: Enterprise) -> domain.EnterpriseFacts:
    legal = ("resident_id", enterprise.legal_representative_id) if enterprise.legal_representative_id else None
    return domain.EnterpriseFacts(uscc=enterprise.uscc, name=enterprise.name, entity_type=enterprise.entity_type,
                                  district_code=enterprise.district_code, legal_representative=legal)


async def _changeable(uow: UnitOfWork, uscc: str, applicant: str) -> Enterprise:
    """The enterprise a change is filed for, locked: a valid USCC of a registered enterprise (``Invalid``), the
    applicant's own (``Forbidden``), not cancelled and with no other change in flight (``Conflict``)."""
    checks = Checks()
    code = domain.check_uscc(checks, uscc, ["uscc"])
    refuse_if(checks.problems)
    assert code is not None
    # Locked: two changes filed at once for one enterprise are decided one after the other.
    enterprise = await lock_row(uow.session, Enterprise, code)
    if enterprise is None:
        checks.add(["uscc"], "enterprise_unknown", uscc=code)
        raise Invalid(checks.problems)
    if enterprise.owner != applicant:
        raise Forbidden("not_owner", "only the enterprise's owner (or a clerk for them) files its changes")
    if enterprise.status == "cancelled":
        raise Conflict("enterprise_cancelled", f"the enterprise {code} is cancelled", title="Enterprise cancelled",
                       status_now=enterprise.status)
    in_flight = (await uow.session.execute(select(RegistrationApplication.number).where(
        RegistrationApplication.enterprise_uscc == code,
        RegistrationApplication.status.not_in(Status.FINAL)))).first()  # type: ignore[attr-defined]
    if in_flight is not None:
        raise Conflict("change_in_flight", f"the change {in_flight[0]} of this enterprise is not finished yet",
                       title="A change is in flight", number=in_flight[0])
    return enterprise


async def submit_change(uow: UnitOfWork, form: ChangeCreate, *, applicant: str,
                        submitted_by: str) -> RegistrationApplication:
    """Accept a change or move of a registered enterprise: checked against what it is now, a new name reserved,
    samr asked (then tax)."""
    enterprise = await _changeable(uow, form.uscc, applicant)
    refuse_if(domain.validate_change(form, facts_of(enterprise)))
    now = utcnow()
    app = new_row(
        RegistrationApplication,
        number="", applicant=applicant, submitted_by=submitted_by, status=Status.in_progress, kind=form.kind,
        enterprise_name=enterprise.name, district_code=enterprise.district_code, entity_type=enterprise.entity_type,
        address=enterprise.address, enterprise_uscc=enterprise.uscc, form=form.model_dump(mode="json"),
        created_at=now, updated_at=now,
    )
    if form.name is not None:
        await _reserve(uow, form.name, app.id, ["name"])
    await CHANGE_FLOW.submit(uow, app, district_code=enterprise.district_code, now=now)
    return app


async def supplement_change(uow: UnitOfWork, application_id: str, changes: Mapping[str, Any],
                            principal: Principal) -> RegistrationApplication:
    """补正 of a change or move: the form with the changes, checked again against the enterprise; the returning
    departments asked again. Its new name, reserved with it, stays."""
    await views.readable(uow.session, application_id, principal, opening=False)
    app, form = await CHANGE_FLOW.open_supplement(uow, application_id, principal, changes)
    assert isinstance(form, ChangeCreate)
    stored = change_form_of(app)
    if (form.name is None) != (stored.name is None) or (
            form.name is not None and stored.name is not None and name_key(form.name) != name_key(stored.name)):
        raise domain.name_change_refused(["name"])
    enterprise = await lock_row(uow.session, Enterprise, app.enterprise_uscc or "")
    assert enterprise is not None
    refuse_if(domain.validate_change(form, facts_of(enterprise)))
    await CHANGE_FLOW.resubmit(uow, app, form)
    return app
