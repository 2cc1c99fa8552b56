"""What a request to the utilities service does: load, apply the rules, store, emit (in the caller's unit of
work, which the route commits)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

from services.utilities import domain
from services.utilities.domain import Status
from services.utilities.forms import ConnectionCreate, PremisesIn
from services.utilities.handlers import CONNECTION, FLOW
from services.utilities.models import CertificateView, ConnectionApplication, ConnectionOffer, EnterpriseView
from services.utilities.schemas import OfferAcceptance
from shared.applications import lock_row
from shared.auth import Principal
from shared.catalogue import catalogue_for
from shared.divisions import resolve_address
from shared.identifiers import is_valid_uscc
from shared.outbox import UnitOfWork
from shared.records import utcnow
from shared.refusals import Conflict, Forbidden, NotFound, refuse_if
from shared.settings import Settings
from shared.validation import Checks
from shared.workdays import local_today


@lru_cache
def fee_table() -> domain.FeeTable:
    """The connection fees, read once (a change of the data file takes a restart)."""
    return domain.load_fee_table()


async def _enterprise(uow: UnitOfWork, form: ConnectionCreate, checks: Checks) -> EnterpriseView | None:
    """The enterprise the form names, as known from events; a problem when none is known."""
    if form.uscc is None or not is_valid_uscc(form.uscc):
        return None
    enterprise = await lock_row(uow.session, EnterpriseView, form.uscc)
    if enterprise is None:
        checks.add(["uscc"], "enterprise_unknown", uscc=form.uscc)
    return enterprise


def _may_apply_for(enterprise: EnterpriseView, applicant: str) -> None:
    if enterprise.owner != applicant:
        raise Forbidden("not_enterprise_owner", f"only the applicant who holds enterprise {enterprise.uscc} "
                        "(or a clerk acting for them) may apply for it", title="Not the enterprise's applicant",
                        uscc=enterprise.uscc)
    if enterprise.status != "active":
        # A cancelled enterprise holds nothing any more, and a suspended one (歇业) has no business premises.
        raise Conflict("enterprise_not_active", f"enterprise {enterprise.uscc} is {enterprise.status}",
                       title="Enterprise not active", uscc=enterprise.uscc, status_now=enterprise.status)


PROPERTY_CERTIFICATE = "property_certificate"  # the material (and the electronic certificate) of the catalogue


async def certified(uow: UnitOfWork, form: ConnectionCreate, checks: Checks, *, applicant: str, settings: Settings,
                    day: date) -> ConnectionCreate:
    """一证通办: a form whose proof is an electronic certificate's verification code, with the certificate's number
    and unit filled in — when every chosen item's guide lets that certificate replace the property certificate,
    the code is known and active, and the applicant (or the enterprise) holds it; else the problems are added to
    ``checks``. A form without a code is returned as it is (a unit number it brought is not taken)."""
    proof = form.proof
    if proof.kind != domain.ProofKind.property_certificate or proof.verification_code is None:
        return form.model_copy(update={"proof": proof.model_copy(update={"unit_number": None})})
    code = proof.verification_code.strip().upper()
    catalogue = catalogue_for(settings)
    items = domain.catalogue_items(form, low_voltage_max_kw=settings.low_voltage_max_kw)
    not_recognised = []
    for item in dict.fromkeys(items.values()):
        replaces = catalogue.recognised_certificates(item, day).get(PROPERTY_CERTIFICATE)
        if replaces is None or replaces.code != PROPERTY_CERTIFICATE:
            not_recognised.append(catalogue.entry(item, day).name_zh)
    found = await uow.session.get(CertificateView, code) if code else None
    held = None if found is None else domain.HeldCertificate(
        number=found.number, unit_number=found.unit_number, active=found.status == "active",
        holder_subjects=frozenset(h["sub"] for h in found.holders if h.get("sub")),
        holder_usccs=frozenset(h["uscc"] for h in found.holders if h.get("uscc")))
    problems = domain.certificate_problems(code, held, applicant=applicant, uscc=form.uscc,
                                           not_recognised_by=not_recognised)
    checks.problems.extend(problems)
    if problems or held is None:
        return form
    return form.model_copy(update={"proof": proof.model_copy(update={
        "number": held.number, "unit_number": held.unit_number, "verification_code": code})})


async def submit(uow: UnitOfWork, form: ConnectionCreate, *, applicant: str, submitted_by: str, settings: Settings,
                 offer: ConnectionOffer | None = None) -> ConnectionApplication:
    """Accept one joint application: premises resolved, fees assessed, the permits and suppliers asked."""
    now = utcnow()
    today = local_today(now)
    checks = Checks()
    checks.problems.extend(domain.validate(
        form, credit_report_districts=domain.parse_district_switch(settings.credit_report_districts), today=today))
    enterprise = await _enterprise(uow, form, checks)
    checks.problems.extend(domain.credit_report_problems(form, enterprise.status if enterprise else None))
    form = await certified(uow, form, checks, applicant=applicant, settings=settings, day=today)
    refuse_if(checks.problems)
    if enterprise is not None:
        _may_apply_for(enterprise, applicant)
    p = form.premises
    resolved, _ = resolve_address(p.district_code, p.town_code, p.road, p.number, building=p.building, room=p.room,
                                  text=p.text)
    assert resolved is not None
    chosen = domain.chosen_utilities(form.utilities)
    zero_power = domain.is_zero_approval_power(form.utilities.power, settings.low_voltage_max_kw)
    app = ConnectionApplication(
        number="", applicant=applicant, submitted_by=submitted_by, status=Status.in_progress, kind=CONNECTION,
        district_code=resolved.district_code, premises_address=resolved.full_text, uscc=form.uscc,
        utilities=[u.value for u in chosen], form=form.model_dump(mode="json"),
        fees=domain.fees_for(chosen, today, fee_table(), zero_approval_power=zero_power),
        offer_id=offer.id if offer else None, created_at=now, updated_at=now,
    )
    await FLOW.submit(uow, app, district_code=resolved.district_code, now=now)
    return app


async def accept_offer(uow: UnitOfWork, offer_id: str, acceptance: OfferAcceptance, principal: Principal,
                       settings: Settings) -> ConnectionApplication:
    """主动办: the offer becomes an application with the enterprise and its premises filled in."""
    offer = await lock_row(uow.session, ConnectionOffer, offer_id)
    if offer is None or offer.owner != principal.sub:
        raise NotFound("offer_not_found", "no such open offer of yours")
    if offer.status != "open" or offer.expires_at <= utcnow():
        status = offer.status if offer.status != "open" else "expired"
        raise Conflict("offer_not_open", f"the offer is {status}", title="Offer not open", status_now=status)
    form = ConnectionCreate(
        premises=PremisesIn(district_code=offer.district_code, text=offer.premises_address), uscc=offer.uscc,
        proof=acceptance.proof, utilities=acceptance.utilities, external_works=acceptance.external_works)
    app = await submit(uow, form, applicant=principal.sub, submitted_by=principal.sub, settings=settings, offer=offer)
    offer.status = "accepted"
    offer.application_id = app.id
    offer.updated_at = utcnow()
    return app


async def supplement(uow: UnitOfWork, application_id: str, changes: Mapping[str, Any], principal: Principal,
                     settings: Settings) -> ConnectionApplication:
    """The applicant's 补正 of a connection: the form with the changes, checked again; the returning
    departments asked again. The premises and utilities may be corrected, not the enterprise."""
    app, form = await FLOW.open_supplement(uow, application_id, principal, changes)
    assert isinstance(form, ConnectionCreate)
    if app.kind != CONNECTION:
        raise Conflict("not_supplementable", "a linked transfer takes no supplement", title="Not supplementable")
    checks = Checks()
    checks.problems.extend(domain.validate(
        form, credit_report_districts=domain.parse_district_switch(settings.credit_report_districts)))
    if not checks.problems:
        checks.problems.extend(domain.supplement_problems(FLOW.form(app), form,
                                                          low_voltage_max_kw=settings.low_voltage_max_kw))
    form = await certified(uow, form, checks, applicant=app.applicant, settings=settings, day=local_today())
    refuse_if(checks.problems)
    p = form.premises
    resolved, _ = resolve_address(p.district_code, p.town_code, p.road, p.number, building=p.building, room=p.room,
                                  text=p.text)
    assert resolved is not None
    app.district_code = resolved.district_code
    app.premises_address = resolved.full_text
    await FLOW.resubmit(uow, app, form)
    return app
