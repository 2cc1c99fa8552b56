"""What a request to the real-estate service does: load, apply the rules, store, emit (in the caller's unit of
work, which the route commits)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.realestate import domain
from services.realestate.domain import Status
from services.realestate.forms import MortgageCreate, MortgageRelease, PropertyImport, TransferCreate
from services.realestate.handlers import FLOW, MORTGAGE, MORTGAGE_RELEASE, TRANSFER, announce_title, rates, title_of
from services.realestate.models import (
    PropertyCertificate,
    PropertyMortgage,
    PropertyOwner,
    PropertySeizure,
    RealProperty,
    RegistryApplication,
)
from shared.auth import Principal
from shared.departments import Department
from shared.divisions import resolve_address
from shared.events import TransferParty
from shared.outbox import UnitOfWork
from shared.records import utcnow
from shared.refusals import Conflict, Forbidden, Invalid, NotFound, refuse_if
from shared.workdays import local_today

DEV_DATA = Path(__file__).resolve().parents[2] / "examples" / "realestate_properties.json"


# --- The register's existing data ------------------------------------------------------------------------------


async def import_property(uow: UnitOfWork, form: PropertyImport) -> tuple[RealProperty, PropertyCertificate]:
    """Bring one property of the registry's existing data in: its owners, mortgages, seizures and title
    certificate (with a verification code). ``Conflict`` when the unit is in the register already."""
    refuse_if(domain.validate_import(form))
    p = form.premises
    resolved, _ = resolve_address(p.district_code, p.town_code, p.road, p.number, building=p.building, room=p.room,
                                  text=p.text)
    assert resolved is not None
    if await uow.session.get(RealProperty, form.unit_number) is not None:
        raise Conflict("property_exists", f"{form.unit_number} is in the register already", title="Already imported")
    title = domain.title_from_import(form, resolved.full_text)
    taken = (await uow.session.execute(select(PropertyCertificate).where(
        PropertyCertificate.number == title.certificate_number))).scalars().first()
    if taken is not None:
        raise Conflict("certificate_number_exists", f"certificate {title.certificate_number} belongs to "
                       f"{taken.unit_number} already", title="Certificate number taken")
    prop = RealProperty(unit_number=title.unit_number, district_code=title.district_code, address=title.address,
                        use=title.use.value, area_m2=str(title.area_m2), certificate_number=title.certificate_number)
    uow.session.add(prop)
    for owner in form.owners:
        uow.session.add(PropertyOwner(unit_number=prop.unit_number, sub=owner.sub, name=owner.name,
                                      id_number=owner.id_number, uscc=owner.uscc, share_percent=owner.share_percent))
    for mortgage in title.mortgages:
        uow.session.add(PropertyMortgage(unit_number=prop.unit_number, mortgagee_uscc=mortgage.mortgagee_uscc,
                                         mortgagee_name=mortgage.mortgagee_name, amount_fen=mortgage.amount_fen,
                                         certificate_number=mortgage.certificate_number, status="active"))
    for seizure in form.seizures:
        uow.session.add(PropertySeizure(unit_number=prop.unit_number, authority=seizure.authority,
                                        reference=seizure.reference, status="active"))
    certificate = PropertyCertificate(verification_code=domain.new_verification_code(),
                                      number=title.certificate_number, kind="title", unit_number=prop.unit_number,
                                      holders=[o.name for o in form.owners], status="active", issued_at=utcnow())
    uow.session.add(certificate)
    announce_title(uow, certificate, prop, [TransferParty(sub=o.sub, name=o.name, uscc=o.uscc) for o in form.owners])
    await uow.session.flush()
    return prop, certificate


async def load_dev_data(uow_factory: Any, path: Path = DEV_DATA) -> int:
    """The dev data set of ``make run``: each property imported unless it is in the register already."""
    loaded = 0
    for entry in json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8")):
        form = PropertyImport.model_validate(entry)
        async with uow_factory() as uow:
            if await uow.session.get(RealProperty, form.unit_number) is None:
                try:
                    await import_property(uow, form)
                    await uow.commit()
                except (IntegrityError, Conflict):
                    # A replica of this service starting beside this one imported it first.
                    continue
                loaded += 1
    return loaded


async def register_seizure(uow: UnitOfWork, unit_number: str, authority: str, reference: str) -> PropertySeizure:
    """A court's or another authority's seizure (查封登记), as the registry enters it: from now on the property
    cannot change hands, and a transfer not entered yet is stopped at entry."""
    if await uow.session.get(RealProperty, unit_number) is None:
        raise NotFound("property_unknown", "no property with this unit number is in the register")
    seizure = PropertySeizure(unit_number=unit_number, authority=authority, reference=reference, status="active")
    uow.session.add(seizure)
    await uow.session.flush()
    return seizure


# --- 转移登记 -------------------------------------------------------------------------------------------------


async def _title_for(uow: UnitOfWork, unit_number: str) -> domain.Title:
    title = await title_of(uow.session, unit_number)
    if title is None:
        raise Invalid([domain.problem(["unit_number"], "property_unknown")])
    return title


async def submit_transfer(uow: UnitOfWork, form: TransferCreate, *, applicant: str,
                          submitted_by: str) -> RegistryApplication:
    """The owner files the transfer; the fee and taxes are assessed by the rates in force; the buyer is to
    confirm before any department starts."""
    today = local_today()
    refuse_if(domain.validate_transfer(form, today=today))
    prop = await uow.session.get(RealProperty, form.unit_number, with_for_update=True)
    title = await _title_for(uow, form.unit_number)
    if not title.is_owner(applicant):
        raise Forbidden("not_property_owner", f"only an owner of {form.unit_number} transfers it",
                        title="Not the owner")
    refuse_if(domain.title_problems(form, title))
    in_flight = (await uow.session.execute(select(RegistryApplication).where(
        RegistryApplication.unit_number == form.unit_number, RegistryApplication.kind == TRANSFER,
        col(RegistryApplication.status).not_in(Status.FINAL)))).scalars().first()
    if in_flight is not None:
        raise Conflict("transfer_in_flight", f"{form.unit_number} has transfer {in_flight.number} in progress",
                       title="Transfer in flight", application_number=in_flight.number)
    assessment = domain.assess(domain.facts_for(form, title), today, rates())
    now = utcnow()
    assert prop is not None
    app = RegistryApplication(
        number="", applicant=applicant, submitted_by=submitted_by, status=Status.awaiting_buyer,
        kind=TRANSFER, unit_number=form.unit_number, district_code=title.district_code, address=title.address,
        buyer_sub=form.buyer.sub, form=form.model_dump(mode="json"), linked_utilities=form.linked_utilities,
        assessment={c.value: fen for c, fen in assessment.items()}, created_at=now, updated_at=now,
    )
    await FLOW.submit(uow, app, district_code=title.district_code, request_now=False, now=now)
    return app


async def confirm_transfer(uow: UnitOfWork, application_id: str, principal: Principal) -> RegistryApplication:
    """The buyer confirms: nr, housing and tax start together."""
    app = await FLOW.readable(uow.session, application_id, principal)
    locked = await FLOW.lock(uow, app.id)
    assert locked is not None
    if locked.kind != TRANSFER:
        raise FLOW.not_found()
    if locked.buyer_sub != principal.sub:
        raise Forbidden("not_the_buyer", "only the buyer named in the transfer confirms it", title="Not the buyer")
    if locked.status != Status.awaiting_buyer:
        raise Conflict("not_awaiting_confirmation", f"the transfer is {locked.status}", title="Already confirmed",
                       status_now=locked.status)
    locked.confirmed_at = utcnow()
    await FLOW.start(uow, locked, now=locked.confirmed_at)
    return locked


async def supplement_transfer(uow: UnitOfWork, application_id: str, changes: Mapping[str, Any],
                              principal: Principal) -> RegistryApplication:
    """The seller's 补正: the form with the changes, checked again; the returning departments asked again."""
    app, form = await FLOW.open_supplement(uow, application_id, principal, changes)
    assert isinstance(form, TransferCreate)
    refuse_if(domain.validate_transfer(form, today=local_today()))
    if form.buyer.sub != app.buyer_sub or form.unit_number != app.unit_number:
        raise Conflict("parties_fixed", "the property and the buyer who confirmed cannot change in a supplement",
                       title="Parties fixed")
    await FLOW.resubmit(uow, app, form)
    return app


# --- 抵押权登记 (by a bank or a local financial organisation) ---------------------------------------------------


def _require_lender(principal: Principal) -> None:
    if not principal.is_officer_of(Department.bank):
        raise Forbidden("not_a_lender", "mortgages are filed by an officer of a bank or local financial organisation "
                        "(role dept:bank)", title="Forbidden")


async def submit_mortgage(uow: UnitOfWork, form: MortgageCreate, principal: Principal) -> RegistryApplication:
    """A lender files a mortgage registration; the registry reviews it."""
    _require_lender(principal)
    refuse_if(domain.validate_mortgage(form))
    title = await _title_for(uow, form.unit_number)
    refuse_if(domain.mortgage_title_problems(form, title))
    return await _lender_application(uow, MORTGAGE, form.unit_number, form.model_dump(mode="json"), title, principal)


async def release_mortgage(uow: UnitOfWork, form: MortgageRelease, principal: Principal) -> RegistryApplication:
    """A lender files the release of its mortgage (free of charge); the registry reviews it."""
    _require_lender(principal)
    refuse_if(domain.validate_release(form))
    title = await _title_for(uow, form.unit_number)
    number = domain.normalise_certificate_number(form.certificate_number)
    if not any(m.certificate_number == number and m.mortgagee_uscc == form.mortgagee_uscc for m in title.mortgages):
        raise Invalid([domain.problem(["certificate_number"], "mortgage_unknown")])
    return await _lender_application(uow, MORTGAGE_RELEASE, form.unit_number, form.model_dump(mode="json"), title,
                                     principal)


async def _lender_application(uow: UnitOfWork, kind: str, unit_number: str, form: dict[str, Any],
                              title: domain.Title, principal: Principal) -> RegistryApplication:
    now = utcnow()
    app = RegistryApplication(number="", applicant=principal.sub, submitted_by=principal.sub,
                              status=Status.in_progress, kind=kind, unit_number=unit_number,
                              district_code=title.district_code, address=title.address, form=form,
                              created_at=now, updated_at=now)
    await FLOW.submit(uow, app, district_code=title.district_code, now=now)
    return app
