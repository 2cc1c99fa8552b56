"""The life of a 水电气网 application (its ``ApplicationFlow``): what the suppliers and permit authorities are
sent, the account each completed connection opens, the accounts a linked transfer moves; and what the
service learns from other services' events: new enterprises (an offer, 主动办), cancelled ones (offers
withdrawn), and completed property transfers (联动过户)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from nats.aio.msg import Msg
from sqlmodel import col, select

from services.utilities import domain
from services.utilities.domain import NUMBER_PREFIX, SERVICE, Status, Utility
from services.utilities.forms import FORM, ConnectionCreate
from services.utilities.models import (
    CertificateView,
    ConnectionApplication,
    ConnectionOffer,
    EnterpriseView,
    UtilityAccount,
)
from shared.applications import ApplicationFlow, TaskDetails, lock_row, stored_form
from shared.bus import ConsumerSpec
from shared.catalogue import guide_of
from shared.departments import Department
from shared.events import (
    CloudEvent,
    PropertyCertificateChanged,
    TransferCompleted,
    UtilityAccountChanged,
    make_event,
    service_subject,
    stream_for_service,
)
from shared.fanout import Plan, Step
from shared.outbox import UnitOfWork
from shared.readmodels import enterprise_view_consumers
from shared.records import DepartmentTask, utcnow
from shared.service import ServiceRuntime
from shared.settings import get_settings

log = logging.getLogger("onestop.utilities")

CONNECTION = "connection"
TRANSFER = "transfer"  # 联动过户: a property's accounts move to its new owner
TRANSFER_WORKING_DAYS = 3  # parameter: a supplier's time to move an account to the new owner
ACCOUNT_PREFIXES = {"power": "DL", "water": "GS", "gas": "RQ", "telecom": "TX", "cabletv": "GD"}
TRANSFERS_CONSUMER = "utilities-property-transfers"
CERTIFICATES_CONSUMER = "utilities-property-certificates"


def form_of(app: ConnectionApplication) -> ConnectionCreate:
    """A connection application's form as today's model."""
    return stored_form(FORM, app)


def connection_plan(form: ConnectionCreate, submitted_at: datetime) -> Plan:
    """A connection's plan with the time limits of the catalogue's items in force the day it was submitted
    (限时办结: a new catalogue changes them without a code change)."""
    low_voltage_max_kw = get_settings().low_voltage_max_kw
    items = domain.catalogue_items(form, low_voltage_max_kw=low_voltage_max_kw)
    guide = {utility: guide_of(code, submitted_at) for utility, code in items.items()}
    return domain.plan_for(form, low_voltage_max_kw=low_voltage_max_kw, guide=guide)


def plan_of(app: ConnectionApplication) -> Plan:
    """A connection's plan from its form and the catalogue of the day it was received; a transfer's: one task per
    utility with accounts to move."""
    if app.kind == TRANSFER:
        return Plan(tuple(Step(Department(u), "account_transfer", (), TRANSFER_WORKING_DAYS) for u in app.utilities),
                    TRANSFER_WORKING_DAYS)
    return connection_plan(form_of(app), app.created_at)


def task_details(app: ConnectionApplication, _tasks: Sequence[DepartmentTask] = ()) -> TaskDetails:
    """What each department is sent: the premises and who applies; a supplier its utility's parameters, fee
    and stages; a permit authority the works; for a transfer, the accounts and the new holder."""
    common: dict[str, Any] = {"premises_address": app.premises_address, "district_code": app.district_code,
                              "applicant": app.applicant, "uscc": app.uscc}
    if app.kind == TRANSFER:
        def transfer_details(task: DepartmentTask) -> dict[str, Any]:
            accounts = [a for a in app.transfer.get("accounts", []) if a["utility"] == task.department]
            return {**common, "transfer_number": app.transfer.get("number"),
                    "unit_number": app.transfer.get("unit_number"), "new_holder": app.applicant,
                    "accounts": [a["account_number"] for a in accounts]}
        return transfer_details
    form = form_of(app)
    zero_power = domain.is_zero_approval_power(form.utilities.power, get_settings().low_voltage_max_kw)

    def details(task: DepartmentTask) -> dict[str, Any]:
        if task.department in set(Utility):
            utility = Utility(task.department)
            chosen = getattr(form.utilities, utility.value)
            return {**common, "utility": utility.value, "parameters": chosen.model_dump() if chosen else {},
                    "fee_fen": app.fees.get(utility.value, 0),
                    "stages": [s.value for s in domain.stages_for(utility, zero_approval_power=zero_power)],
                    "proof": form.proof.model_dump(),
                    "zero_approval": utility == Utility.power and zero_power}
        return {**common, "external_works": form.external_works.model_dump(),
                "utilities": [u for u in app.utilities if not (u == "power" and zero_power)]}

    return details


def new_account_number(utility: str) -> str:
    """An account number when the supplier did not hand one back: its prefix and 12 random digits."""
    return ACCOUNT_PREFIXES.get(utility, "ZH") + "".join(secrets.choice("0123456789") for _ in range(12))


def announce_account(uow: UnitOfWork, account: UtilityAccount, event: str) -> None:
    data = UtilityAccountChanged(
        account_number=account.account_number, utility=account.utility,
        owner=account.owner, uscc=account.uscc, district_code=account.district_code,
        premises_address=account.premises_address, application_id=account.application_id,
        previous_owner=account.previous_owner)
    uow.emit(service_subject(SERVICE, "account", event),
             make_event(f"{SERVICE}.account.{event}", data, source_service=SERVICE, subject=account.account_number))


async def open_account(uow: UnitOfWork, app: ConnectionApplication, task: DepartmentTask) -> None:
    """A supplier connected its utility: the account is open, held by the applicant."""
    if app.kind != CONNECTION or task.status != "approved" or task.department not in set(Utility):
        return
    number = str(task.outputs.get("account_number") or new_account_number(task.department))[:40]
    if await uow.session.get(UtilityAccount, number) is not None:
        number = new_account_number(task.department)  # a supplier's number already used here: ours instead
    account = UtilityAccount(account_number=number, utility=task.department, owner=app.applicant, uscc=app.uscc,
                             district_code=app.district_code, premises_address=app.premises_address,
                             application_id=app.id)
    uow.session.add(account)
    task.outputs = {**task.outputs, "account_number": number}
    announce_account(uow, account, "opened")


async def complete(uow: UnitOfWork, app: ConnectionApplication, tasks: list[DepartmentTask]) -> None:
    """Every department approved: a connection is done (its accounts opened one by one); a transfer moves
    the accounts to the new holder now."""
    if app.kind == TRANSFER:
        now = utcnow()
        for entry in app.transfer.get("accounts", []):
            account = await uow.session.get(UtilityAccount, entry["account_number"])
            if account is None or account.owner != entry["owner"]:
                continue  # moved or closed meanwhile: never taken from someone it no longer belongs to
            account.previous_owner = account.owner
            account.owner = app.applicant
            account.uscc = app.uscc
            account.transferred_at = now
            announce_account(uow, account, "transferred")
    app.status = Status.completed
    FLOW.emit(uow, app, tasks)


FLOW: ApplicationFlow[ConnectionApplication] = ApplicationFlow(
    service=SERVICE,
    model=ConnectionApplication,
    number_prefix=NUMBER_PREFIX,
    shape=FORM,
    final_statuses=Status.FINAL,
    plan=plan_of,
    details=task_details,
    on_answer=open_account,
    on_completed=complete,
)


# --- What the service learns from other services ------------------------------------------------------------


async def offer_or_withdraw(uow: UnitOfWork, enterprise: EnterpriseView, what: str) -> None:
    """主动办: a new enterprise is offered connections at its registered address; a cancelled one loses its
    open offers."""
    now = utcnow()
    if what == "registered":
        days = get_settings().connection_offer_days
        uow.session.add(ConnectionOffer(uscc=enterprise.uscc, owner=enterprise.owner, enterprise_name=enterprise.name,
                                        district_code=enterprise.district_code,
                                        premises_address=enterprise.address, status="open", created_at=now,
                                        updated_at=now, expires_at=now + timedelta(days=days)))
    elif what == "cancelled":
        rows = await uow.session.execute(select(ConnectionOffer).where(
            ConnectionOffer.uscc == enterprise.uscc, ConnectionOffer.status == "open"))
        for offer in rows.scalars():
            offer.status = "withdrawn"
            offer.updated_at = now


def enterprise_consumers(runtime: ServiceRuntime) -> list[ConsumerSpec]:
    """Enterprises from registration (with an offer each) and their status from deregistration."""
    return enterprise_view_consumers(runtime, EnterpriseView, after=offer_or_withdraw)


async def start_linked_transfer(uow: UnitOfWork, transfer: TransferCompleted) -> ConnectionApplication | None:
    """联动过户: the accounts the sellers hold at the transferred property move to the buyer, as one application
    owned by the buyer, without a second application of theirs. None when there is nothing to move."""
    buyer = next((b for b in transfer.buyers if b.sub), None)
    sellers = {s.sub for s in transfer.sellers if s.sub}
    if not transfer.linked_utilities or buyer is None or not sellers:
        return None
    rows = await uow.session.execute(select(UtilityAccount).where(
        UtilityAccount.premises_address == transfer.address, col(UtilityAccount.owner).in_(sellers)))
    accounts = sorted(rows.scalars(), key=lambda a: (a.utility, a.account_number))
    if not accounts:
        return None
    now = utcnow()
    utilities = sorted({a.utility for a in accounts}, key=lambda u: list(Utility).index(Utility(u)))
    assert buyer.sub is not None
    app = ConnectionApplication(
        number="", applicant=buyer.sub, submitted_by=f"{SERVICE}:linked-transfer", status=Status.in_progress,
        kind=TRANSFER, district_code=transfer.district_code, premises_address=transfer.address, uscc=buyer.uscc,
        utilities=utilities, fees={u: 0 for u in utilities}, form={}, created_at=now, updated_at=now,
        transfer={"transfer_id": transfer.transfer_id, "number": transfer.number, "unit_number": transfer.unit_number,
                  "accounts": [{"account_number": a.account_number, "utility": a.utility, "owner": a.owner}
                               for a in accounts]},
    )
    await FLOW.submit(uow, app, district_code=transfer.district_code, now=now)
    return app


def property_transfers_consumer(runtime: ServiceRuntime) -> ConsumerSpec:
    """Completed property transfers announced by real estate (``realestate.transfer.completed``)."""

    async def handle(event: CloudEvent, _msg: Msg) -> None:
        async with runtime.uow() as uow:
            if await uow.already_handled(TRANSFERS_CONSUMER, event.id):
                return
            app = await start_linked_transfer(uow, event.data_as(TransferCompleted))
            if app is None:
                log.info("transfer with no accounts to move", extra={"event_id": event.id})
            await uow.commit()

    return ConsumerSpec(durable=TRANSFERS_CONSUMER, stream=stream_for_service("realestate"),
                        filter_subjects=["realestate.transfer.completed"], handler=handle)


async def remember_certificate(uow: UnitOfWork, data: PropertyCertificateChanged) -> None:
    """Keep a title certificate real estate announced (一证通办); a cancelled one never becomes active again."""
    if data.kind != "title":
        return
    known = await lock_row(uow.session, CertificateView, data.verification_code)
    if known is None:
        known = CertificateView(verification_code=data.verification_code, number=data.number, kind=data.kind,
                                unit_number=data.unit_number, district_code=data.district_code, address=data.address,
                                holders=[], status=data.status, changed_at=data.changed_at)
        uow.session.add(known)
    if data.holders:
        known.holders = [h.model_dump(mode="json") for h in data.holders]
    if known.status != "cancelled":
        known.status = data.status
        known.changed_at = data.changed_at


def certificates_consumer(runtime: ServiceRuntime) -> ConsumerSpec:
    """Electronic property certificates issued and cancelled, announced by real estate."""

    async def handle(event: CloudEvent, _msg: Msg) -> None:
        async with runtime.uow() as uow:
            if await uow.already_handled(CERTIFICATES_CONSUMER, event.id):
                return
            await remember_certificate(uow, event.data_as(PropertyCertificateChanged))
            await uow.commit()

    return ConsumerSpec(durable=CERTIFICATES_CONSUMER, stream=stream_for_service("realestate"),
                        filter_subjects=["realestate.certificate.>"], handler=handle)
