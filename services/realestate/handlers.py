"""The life of a real-estate application (its ``ApplicationFlow``): what nr, housing, tax and the bank are
sent; the tax assessment and the one payment, split to the fen; entry in the register (登簿) with the
certificate, the mortgages released and entered in the same step; and, before entry, what is undone when
any party fails (the payment refunded, the consents withdrawn, nothing entered)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from services.realestate import domain
from services.realestate.domain import NUMBER_PREFIX, SERVICE, Status
from services.realestate.forms import FORM, MortgageCreate, MortgageRelease, TransferCreate
from services.realestate.models import (
    PropertyCertificate,
    PropertyMortgage,
    PropertyOwner,
    PropertySeizure,
    RealProperty,
    RegistryApplication,
)
from shared.applications import ApplicationFlow, TaskDetails, stored_form
from shared.catalogue import guide_of, timed_plan
from shared.departments import Department
from shared.events import (
    MortgageChanged,
    PaymentAllocation,
    PaymentChanged,
    PropertyCertificateChanged,
    TransferCompleted,
    TransferParty,
    make_event,
    service_subject,
)
from shared.fanout import Plan, Step, TaskStatus
from shared.money import fen_to_yuan, yuan_to_fen
from shared.numbers import next_in_sequence
from shared.outbox import UnitOfWork
from shared.records import DepartmentTask, utcnow
from shared.refusals import Conflict
from shared.tasks import load_tasks, statuses_of
from shared.workdays import LOCAL_TZ

log = logging.getLogger("onestop.realestate")

TRANSFER = "transfer"
MORTGAGE = "mortgage"
MORTGAGE_RELEASE = "mortgage_release"
# The catalogue's service item of each lender's application (the registry's review: its time limit is the item's).
MORTGAGE_ITEMS = {MORTGAGE: "mortgage_registration", MORTGAGE_RELEASE: "mortgage_release"}


@lru_cache
def rates() -> domain.Rates:
    """The fee and tax rates, read once (a change of the data file takes a restart)."""
    return domain.load_rates()


def transfer_form(app: RegistryApplication) -> TransferCreate:
    """A transfer's form as today's model."""
    return stored_form(FORM, app)


# --- The register, read ---------------------------------------------------------------------------------------


async def title_of(session: AsyncSession, unit_number: str) -> domain.Title | None:
    """A property as the register holds it now, or None: owners, active mortgages and seizures."""
    prop = await session.get(RealProperty, unit_number)
    if prop is None:
        return None
    owners = (await session.execute(select(PropertyOwner).where(PropertyOwner.unit_number == unit_number)
                                    .order_by(PropertyOwner.name))).scalars()
    mortgages = (await session.execute(select(PropertyMortgage).where(
        PropertyMortgage.unit_number == unit_number, PropertyMortgage.status == "active"))).scalars()
    seizures = (await session.execute(select(PropertySeizure).where(
        PropertySeizure.unit_number == unit_number, PropertySeizure.status == "active"))).scalars()
    return domain.Title(
        unit_number=prop.unit_number, certificate_number=prop.certificate_number, district_code=prop.district_code,
        address=prop.address, use=domain.Use(prop.use), area_m2=Decimal(prop.area_m2),
        owners=tuple(domain.Owner(o.name, Decimal(o.share_percent), o.id_number, o.uscc, o.sub) for o in owners),
        mortgages=tuple(domain.Mortgage(m.mortgagee_uscc, m.mortgagee_name, m.amount_fen, m.certificate_number)
                        for m in mortgages),
        seizures=tuple(domain.Seizure(s.authority, s.reference) for s in seizures),
    )


# --- What each department is sent ------------------------------------------------------------------------------


def plan_of(app: RegistryApplication) -> Plan:
    """A transfer's plan (nr, housing and tax together, then the payment); a mortgage's: the registry's review.
    Timed by the application's catalogue entry in force the day it was filed."""
    if app.kind == TRANSFER:
        form = transfer_form(app)
        return domain.plan_for(form, guide_of(domain.catalogue_item(form), app.created_at))
    item = MORTGAGE_ITEMS[app.kind]
    return timed_plan((Step(Department.nr, item),), guide_of(item, app.created_at))


def amount_due(app: RegistryApplication) -> int:
    """What the one payment must be: the assessment's items together (fen)."""
    return sum(app.assessment.values())


def task_details(app: RegistryApplication, _tasks: Sequence[DepartmentTask] = ()) -> TaskDetails:
    """What each department is sent. The registry (nr) and tax need the parties' full identities (实名);
    housing files the contract; the bank collects the one payment and, with a mortgage part, hears from the
    lenders (``domain.bank_parts``)."""
    common: dict[str, Any] = {"unit_number": app.unit_number, "address": app.address,
                              "district_code": app.district_code, "kind": app.kind}

    def details(task: DepartmentTask) -> dict[str, Any]:
        if app.kind != TRANSFER:
            return {**common, "form": app.form}
        form = transfer_form(app)
        parties = {"seller": app.applicant, "buyer": form.buyer.model_dump(exclude={"sub"}),
                   "price_yuan": form.price_yuan}
        if task.department == Department.nr:
            return {**common, **parties, "mortgage": form.mortgage.model_dump() if form.mortgage else None}
        if task.department == Department.housing:
            return {**common, **parties}
        if task.department == Department.tax:
            # The service's own assessment by the rates in force: the tax bureau confirms or corrects it.
            return {**common, **parties, "acquired_on": form.acquired_on,
                    "assessment_preview": {k: fen_to_yuan(v) for k, v in app.assessment.items()}}
        parts = [{"role": p.role.value, "action": p.action.value, "uscc": p.uscc, "name": p.name,
                  "amount_yuan": fen_to_yuan(p.amount_fen) if p.amount_fen is not None else None}
                 for p in domain.bank_parts(form, ())]
        return {**common, "amount_due_yuan": fen_to_yuan(amount_due(app)),
                "items": {k: fen_to_yuan(v) for k, v in app.assessment.items()}, "parts": parts}

    return details


# --- Answers: the assessment and the payment -------------------------------------------------------------------


def _assessment_from_tax(outputs: dict[str, Any], preview: dict[str, int]) -> dict[str, int]:
    """Tax's figures where it gave them (yuan strings), the preview's elsewhere; the fee is the registry's."""
    assessed = dict(preview)
    for charge in (domain.Charge.deed_tax, domain.Charge.vat, domain.Charge.income_tax):
        if charge.value in outputs:
            assessed[charge.value] = yuan_to_fen(str(outputs[charge.value]))
    return assessed


def _payment_event(uow: UnitOfWork, app: RegistryApplication, event: str) -> None:
    data = PaymentChanged(
        application_id=app.id, number=app.number, amount=fen_to_yuan(app.payment["paid_fen"]),
        reference=app.payment.get("reference"),
        allocations=[PaymentAllocation(charge=a["charge"], account=a["account"], amount=fen_to_yuan(a["fen"]))
                     for a in app.payment.get("allocations", [])])
    uow.emit(service_subject(SERVICE, "payment", event),
             make_event(f"{SERVICE}.payment.{event}", data, source_service=SERVICE, subject=app.id))


def take_payment(uow: UnitOfWork, app: RegistryApplication, outputs: dict[str, Any]) -> None:
    """The payment channel's answer: exactly the amount due, split item by item (清分); anything else is
    refused (``Conflict``) and nothing is entered."""
    paid = outputs.get("paid_yuan")
    if paid is None:
        raise Conflict("payment_missing", "the bank's approval must carry paid_yuan, the amount taken",
                       title="Payment missing")
    try:
        paid_fen = yuan_to_fen(str(paid))
    except (ValueError, ArithmeticError):
        raise Conflict("payment_amount_wrong", f"{paid!r} is not an amount in yuan", title="Payment refused") from None
    assessment = domain.Assessment(**{c.value: app.assessment.get(c.value, 0) for c in domain.Charge})
    allocations = domain.split_payment(paid_fen, assessment)
    app.payment = {"paid_fen": paid_fen, "reference": outputs.get("reference"), "paid_at": utcnow().isoformat(),
                   "allocations": [{"charge": a.charge.value, "account": a.account.value, "fen": a.fen}
                                   for a in allocations]}
    _payment_event(uow, app, "split")


def on_answer(uow: UnitOfWork, app: RegistryApplication, task: DepartmentTask) -> None:
    """Tax's assessment sets the amount due; the bank's approval is the payment; a bank's refusal after taking
    the payment (a lender refused) records what was taken, so it is refunded with the rest of the undo."""
    if app.kind != TRANSFER:
        return
    if task.department == Department.tax and task.status == TaskStatus.approved:
        app.assessment = _assessment_from_tax(task.outputs, app.assessment)
        app.status = Status.awaiting_payment
    elif task.department == Department.bank and task.status == TaskStatus.approved:
        take_payment(uow, app, task.outputs)
        app.status = Status.in_progress
    elif task.department == Department.bank and task.status == TaskStatus.rejected and "paid_yuan" in task.outputs:
        with_payment = dict(task.outputs)
        app.payment = {"paid_fen": yuan_to_fen(str(with_payment["paid_yuan"])),
                       "reference": with_payment.get("reference"), "paid_at": utcnow().isoformat()}


async def undo_transfer(uow: UnitOfWork, app: RegistryApplication) -> None:
    """A transfer ended before entry: refund the payment, withdraw consents and requests, enter nothing.
    What was undone is kept on the application and each undo is announced."""
    if app.kind != TRANSFER or app.entered_at is not None:
        return
    tasks = await load_tasks(uow.session, app.id)
    undo = [{"department": str(d), "action": a} for d, a in domain.undo_before_entry(statuses_of(tasks))]
    payment = dict(app.payment)
    if payment.get("paid_fen") and not payment.get("refunded_at"):
        payment["refunded_at"] = utcnow().isoformat()
        app.payment = payment
        _payment_event(uow, app, "refunded")
        undo.append({"department": Department.bank.value, "action": "refund_payment"})
    form = transfer_form(app)
    if form.mortgage is not None and not any(u["department"] == Department.bank.value for u in undo):
        # The lenders' consent and loan lapse with the transfer: nothing was entered for them.
        undo.append({"department": Department.bank.value, "action": "withdraw_consent_and_loan"})
    app.payment = {**app.payment, "undone": undo}


# --- Entry in the register (登簿) -------------------------------------------------------------------------------


async def issue_certificate(uow: UnitOfWork, app: RegistryApplication, *, kind: str,
                            holders: list[str]) -> PropertyCertificate:
    """A new electronic certificate (title) or registration proof (mortgage) with its verification code."""
    year = utcnow().astimezone(LOCAL_TZ).year
    sequence = await next_in_sequence(uow.session, f"CERT-{kind}-{year}")
    number = domain.format_certificate_number(year, sequence, proof=kind == MORTGAGE)
    certificate = PropertyCertificate(verification_code=domain.new_verification_code(), number=number, kind=kind,
                                      unit_number=app.unit_number, holders=holders, status="active",
                                      application_id=app.id, issued_at=utcnow())
    uow.session.add(certificate)
    return certificate


def announce_title(uow: UnitOfWork, certificate: PropertyCertificate, prop: RealProperty,
                   holders: Sequence[TransferParty]) -> None:
    """Tell the other services of a title certificate issued or cancelled (一证通办: they accept its code), with
    its holders as parties (token subject, enterprise), not only the names printed on it."""
    event = "issued" if certificate.status == "active" else "cancelled"
    data = PropertyCertificateChanged(
        verification_code=certificate.verification_code, number=certificate.number, kind=certificate.kind,
        unit_number=certificate.unit_number, district_code=prop.district_code, address=prop.address,
        holders=list(holders), status=certificate.status, changed_at=certificate.cancelled_at or certificate.issued_at)
    uow.emit(service_subject(SERVICE, "certificate", event),
             make_event(f"{SERVICE}.certificate.{event}", data, source_service=SERVICE,
                        subject=certificate.verification_code))


def _mortgage_event(uow: UnitOfWork, mortgage: PropertyMortgage, event: str) -> None:
    data = MortgageChanged(mortgage_id=mortgage.id, unit_number=mortgage.unit_number,
                           mortgagee_uscc=mortgage.mortgagee_uscc, mortgagee_name=mortgage.mortgagee_name,
                           amount=fen_to_yuan(mortgage.amount_fen), certificate_number=mortgage.certificate_number,
                           application_id=mortgage.application_id)
    uow.emit(service_subject(SERVICE, "mortgage", event),
             make_event(f"{SERVICE}.mortgage.{event}", data, source_service=SERVICE, subject=mortgage.unit_number))


async def _active(uow: UnitOfWork, model: Any, unit_number: str) -> list[Any]:
    rows = await uow.session.execute(select(model).where(model.unit_number == unit_number, model.status == "active"))
    return list(rows.scalars())


async def enter_transfer(uow: UnitOfWork, app: RegistryApplication) -> None:
    """登簿, in one step: the buyer becomes the owner with a new certificate, the seller's is cancelled, the old
    mortgage is released (带押过户, repaid) or stays (art. 406), the buyer's new mortgage is entered; then the
    transfer is announced (with ``linked_utilities`` for the utilities service)."""
    form = transfer_form(app)
    now = utcnow()
    prop = await uow.session.get(RealProperty, app.unit_number)
    assert prop is not None
    sellers = list((await uow.session.execute(select(PropertyOwner).where(
        PropertyOwner.unit_number == app.unit_number))).scalars())
    for seller in sellers:
        await uow.session.delete(seller)
    buyer = form.buyer
    uow.session.add(PropertyOwner(unit_number=app.unit_number, sub=buyer.sub, name=buyer.name,
                                  id_number=buyer.id_number, uscc=buyer.uscc, share_percent="100"))
    for certificate in await _active(uow, PropertyCertificate, app.unit_number):
        if certificate.kind == "title":
            certificate.status = "cancelled"
            certificate.cancelled_at = now
            announce_title(uow, certificate, prop, [])
    title = await issue_certificate(uow, app, kind="title", holders=[buyer.name])
    prop.certificate_number = title.number
    announce_title(uow, title, prop, [TransferParty(sub=buyer.sub, name=buyer.name, uscc=buyer.uscc)])
    prop.updated_at = now
    choice = form.mortgage.existing if form.mortgage is not None else None
    for mortgage in await _active(uow, PropertyMortgage, app.unit_number):
        if choice == domain.ExistingMortgage.repay:
            mortgage.status = "released"
            mortgage.released_at = now
            _mortgage_event(uow, mortgage, "released")
        else:
            # 民法典 art. 406: the mortgage follows the property; its mortgagee is told of the new owner.
            _mortgage_event(uow, mortgage, "notified")
    loan = form.mortgage.new_loan if form.mortgage is not None else None
    if loan is not None:
        new = PropertyMortgage(unit_number=app.unit_number, mortgagee_uscc=loan.lender_uscc,
                               mortgagee_name=loan.lender_name, amount_fen=yuan_to_fen(loan.amount_yuan),
                               status="active", application_id=app.id, registered_at=now)
        new.certificate_number = (await issue_certificate(uow, app, kind=MORTGAGE, holders=[loan.lender_name])).number
        uow.session.add(new)
        _mortgage_event(uow, new, "registered")
    app.entered_at = now
    completed = TransferCompleted(
        transfer_id=app.id, number=app.number, unit_number=app.unit_number, district_code=app.district_code,
        address=app.address, sellers=[TransferParty(sub=s.sub, name=s.name, uscc=s.uscc) for s in sellers],
        buyers=[TransferParty(sub=buyer.sub, name=buyer.name, uscc=buyer.uscc)],
        linked_utilities=app.linked_utilities, completed_at=now)
    uow.emit(service_subject(SERVICE, "transfer", "completed"),
             make_event(f"{SERVICE}.transfer.completed", completed, source_service=SERVICE, subject=app.id))


async def enter_mortgage(uow: UnitOfWork, app: RegistryApplication) -> None:
    """A lender's mortgage registration or release, entered."""
    now = utcnow()
    if app.kind == MORTGAGE:
        form = MortgageCreate.model_validate(app.form)
        mortgage = PropertyMortgage(unit_number=app.unit_number, mortgagee_uscc=form.mortgagee_uscc,
                                    mortgagee_name=form.mortgagee_name, amount_fen=yuan_to_fen(form.amount_yuan),
                                    status="active", application_id=app.id, registered_at=now)
        mortgage.certificate_number = (await issue_certificate(uow, app, kind=MORTGAGE,
                                                                holders=[form.mortgagee_name])).number
        uow.session.add(mortgage)
        _mortgage_event(uow, mortgage, "registered")
    else:
        release = MortgageRelease.model_validate(app.form)
        for mortgage in await _active(uow, PropertyMortgage, app.unit_number):
            if mortgage.certificate_number == domain.normalise_certificate_number(release.certificate_number):
                mortgage.status = "released"
                mortgage.released_at = now
                _mortgage_event(uow, mortgage, "released")
    app.entered_at = now


async def complete(uow: UnitOfWork, app: RegistryApplication, tasks: list[DepartmentTask]) -> None:
    """Every department approved: enter it in the register — unless the register changed meanwhile (a seizure
    arrived): then nothing is entered, the payment is refunded and the application is rejected, saying why."""
    title = await title_of(uow.session, app.unit_number)
    if title is not None and title.seizures:
        seizure = title.seizures[0]
        app.status = Status.rejected
        app.completed_at = None
        app.reason = f"登簿前发现查封（{seizure.authority} {seizure.reference}），未予登记，已退款"
        await undo_transfer(uow, app)
        FLOW.emit(uow, app, tasks)
        return
    if app.kind == TRANSFER:
        await enter_transfer(uow, app)
    else:
        await enter_mortgage(uow, app)
    app.status = Status.completed
    FLOW.emit(uow, app, tasks)


FLOW: ApplicationFlow[RegistryApplication] = ApplicationFlow(
    service=SERVICE,
    model=RegistryApplication,
    number_prefix=NUMBER_PREFIX,
    shape=FORM,
    final_statuses=Status.FINAL,
    plan=plan_of,
    details=task_details,
    on_answer=on_answer,
    on_rejected=undo_transfer,
    on_completed=complete,
    co_party="buyer_sub",
)
