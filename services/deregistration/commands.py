"""What a request to the deregistration service does: load, apply the rules, store, emit (in the caller's
unit of work, which the route commits)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.deregistration import domain, handlers
from services.deregistration.domain import SUSPENSION_NUMBER_PREFIX, Status, SuspensionStatus
from services.deregistration.forms import DeregistrationCreate, SuspensionCreate
from services.deregistration.handlers import FLOW
from services.deregistration.models import DeregistrationApplication, EnterpriseView, Objection, Suspension
from services.deregistration.views import readable_suspension
from shared import timers
from shared.applications import lock_row
from shared.auth import Principal, require_write
from shared.identifiers import is_valid_uscc
from shared.materials import MaterialInfo, PendingMaterial
from shared.numbers import next_application_number
from shared.outbox import UnitOfWork
from shared.records import utcnow
from shared.refusals import Conflict, Invalid, refuse_if
from shared.settings import Settings
from shared.tasks import load_tasks
from shared.validation import Checks
from shared.workdays import local_today


class PeriodSettings(BaseSettings):
    """This service's own parameters (``ONESTOP_`` environment, beside ``shared.settings``): the 个体工商户
    objection window and the 个人独资企业 creditors' announcement, in calendar days."""

    model_config = SettingsConfigDict(env_prefix="ONESTOP_", extra="ignore")

    individual_objection_days: float = 10
    sole_proprietorship_notice_days: float = 60


@lru_cache
def _period_settings() -> PeriodSettings:
    return PeriodSettings()


def periods(settings: Settings) -> domain.Periods:
    """Every notice period as configured (the common ones in ``Settings``, the entity types' ones here)."""
    own = _period_settings()
    return domain.Periods(public_notice_days=settings.public_notice_days,
                          objection_window_days=own.individual_objection_days,
                          creditor_notice_days=settings.creditor_notice_days,
                          sole_proprietorship_notice_days=own.sole_proprietorship_notice_days)


async def enterprise_state(uow: UnitOfWork, ent: EnterpriseView) -> domain.EnterpriseState:
    """The read model row as the refusal rules see it (with the numbers of what is in flight)."""
    session = uow.session
    dereg = await session.get(DeregistrationApplication, ent.deregistration_id) if ent.deregistration_id else None
    suspension = await session.get(Suspension, ent.suspension_id) if ent.suspension_id else None
    return domain.EnterpriseState(uscc=ent.uscc, owner=ent.owner, status=ent.status,
                                  deregistration_number=dereg.number if dereg else None,
                                  suspension_number=suspension.number if suspension else None)


async def _locked_enterprise(uow: UnitOfWork, uscc: str, checks: Checks) -> EnterpriseView | None:
    """The enterprise, locked so two requests about it apply one after the other; a problem when unknown
    (a malformed USCC was already reported by the form's checks)."""
    if any(p.loc == ["uscc"] for p in checks.problems):
        return None
    enterprise = await lock_row(uow.session, EnterpriseView, uscc)
    if enterprise is None:
        checks.add(["uscc"], "enterprise_unknown", uscc=uscc)
    return enterprise


async def _may_act(uow: UnitOfWork, enterprise: EnterpriseView, applicant: str, *, suspension: bool) -> None:
    state = await enterprise_state(uow, enterprise)
    refusal = (domain.suspension_refusal if suspension else domain.deregistration_refusal)(state, applicant)
    if refusal is not None:
        raise refusal


# --- 套餐式注销 ------------------------------------------------------------------------------------------------


async def submit(uow: UnitOfWork, form: DeregistrationCreate, *, applicant: str, submitted_by: str,
                 settings: Settings, found: Mapping[str, MaterialInfo | None]) -> DeregistrationApplication:
    """Accept a deregistration: its form and its materials checked (the catalogue item of its procedure says
    which are key and which may come later; ``found`` is what the materials service says of the documents it
    names), its notice period starts (public notice, a 个体工商户's objection window, or the creditors'
    announcement). In the simplified procedure the departments that may object are asked at once; samr, and
    what follows it, when the period is over and nobody objected."""
    now = utcnow()
    checks = Checks()
    checks.problems.extend(domain.validate(form, local_today()))
    enterprise = await _locked_enterprise(uow, form.uscc, checks)
    notes: list[domain.EligibilityNote] = []
    if enterprise is not None:
        # Who may act first (403/409 before anything about the enterprise is said), then every problem at once.
        await _may_act(uow, enterprise, applicant, suspension=False)
        investors = domain.investors_from(enterprise.investors)
        problems, notes = domain.simplified_eligibility(form, investors, enterprise.restrictions or [])
        checks.problems.extend(problems)
    deferred: list[PendingMaterial] = []
    if form.procedure in set(domain.Procedure):
        kind = domain.notice_kind(form.procedure, enterprise.entity_type if enterprise else "")
        try:
            deferred = FLOW.check_materials(form, found, now=now,
                                            items=[domain.catalogue_item(form.procedure, kind)])
        except Invalid as invalid:
            checks.problems.extend(invalid.errors)
    refuse_if(checks.problems)
    assert enterprise is not None
    holdings = handlers.holdings_of(enterprise)
    kind = domain.notice_kind(form.procedure, enterprise.entity_type)
    app = DeregistrationApplication(
        number="", uscc=enterprise.uscc, enterprise_name=enterprise.name, district_code=enterprise.district_code,
        applicant=applicant, submitted_by=submitted_by, procedure=form.procedure, status=kind, notice_kind=kind,
        stated_reason=form.reason, form=form.model_dump(mode="json"), reason=None, created_at=now, updated_at=now,
        holdings={"registered_with": sorted(holdings.registered_with), "has_tax_matters": holdings.has_tax_matters,
                  "customs_registered": holdings.customs_registered},
        eligibility=[{"check": n.check, "outcome": n.outcome, "note": n.note} for n in notes],
        liquidation_filed_at=now if form.procedure == domain.Procedure.general else None,
    )
    enterprise.deregistration_id = app.id
    enterprise.updated_at = now
    # Announced as .public_notice / .objection_window / .creditor_notice (its "submitted").
    tasks = await FLOW.submit(uow, app, district_code=enterprise.district_code, request_now=False, now=now,
                              deferred=deferred)
    ends = now + domain.notice_length(form.procedure, enterprise.entity_type, periods(settings))
    notice = timers.schedule(uow.session, domain.TIMER_NOTICE_END, app.id, ends)
    notice.created_at = now
    await handlers.ask_during_notice(uow, app, tasks, now=now, until=ends)
    return app


async def object_to(uow: UnitOfWork, application_id: str, *, objector: str, reason: str,
                    contact: str | None) -> tuple[DeregistrationApplication, Objection]:
    """An objection during a simplified deregistration's public notice: the deregistration stops."""
    app = await FLOW.lock(uow, application_id)
    if app is None:
        raise FLOW.not_found()
    kind = handlers.notice_kind_of(app)
    if app.status in Status.FINAL or handlers.notice_over(app) or not domain.publicly_objectable(kind):
        raise Conflict("not_in_public_notice",
                       f"{app.number} is {app.status}: objections are taken during a simplified deregistration's "
                       "public notice (creditors of a general one declare their claims to the liquidation group; "
                       "a 个体工商户's objection window is the departments')",
                       title="Not in public notice", status_now=app.status)
    now = utcnow()
    objection = Objection(application_id=app.id, objector=objector, reason=reason, contact=contact, created_at=now)
    uow.session.add(objection)
    app.status = Status.objected
    app.reason = f"公示期内收到异议：{reason}"
    app.updated_at = now
    await timers.cancel(uow.session, app.id, domain.TIMER_NOTICE_END, now=now)
    await handlers.release_enterprise(uow, app)
    FLOW.emit(uow, app, await load_tasks(uow.session, app.id))
    return app, objection


async def supplement(uow: UnitOfWork, application_id: str, changes: Mapping[str, Any],
                     principal: Principal) -> DeregistrationApplication:
    """The applicant's 补正: the form with the changes, checked again; the returning departments asked again."""
    app, form = await FLOW.open_supplement(uow, application_id, principal, changes)
    assert isinstance(form, DeregistrationCreate)
    refuse_if(domain.validate(form, local_today()))
    app.stated_reason = form.reason
    await FLOW.resubmit(uow, app, form)
    return app


# --- 歇业备案 ------------------------------------------------------------------------------------------------


async def _schedule_end(uow: UnitOfWork, suspension: Suspension, day_seconds: float) -> None:
    """Resumed automatically at the end date, or when the enterprise's suspensions reach 3 years in total."""
    others = await handlers.filings_of(uow.session, suspension.uscc, excluding=suspension.id)
    last = domain.automatic_end(domain.Filing(suspension.start_date, suspension.end_date), others)
    due = domain.scaled_due(domain.suspension_ends_at(last), utcnow(), day_seconds)
    timers.schedule(uow.session, domain.TIMER_SUSPENSION_END, suspension.id, due)


async def file_suspension(uow: UnitOfWork, form: SuspensionCreate, *, applicant: str, submitted_by: str,
                          settings: Settings) -> Suspension:
    """File a suspension (歇业备案): it starts now or by timer, and ends by timer."""
    checks = Checks()
    enterprise = await _locked_enterprise(uow, form.uscc, checks) if is_valid_uscc(form.uscc) else None
    previous = await handlers.filings_of(uow.session, form.uscc) if enterprise else []
    today = local_today()
    form_problems, filing = domain.validate_suspension(form, today, previous)
    refuse_if(form_problems + checks.problems)
    assert enterprise is not None and filing is not None
    await _may_act(uow, enterprise, applicant, suspension=True)
    now = utcnow()
    number = await next_application_number(uow.session, SUSPENSION_NUMBER_PREFIX, enterprise.district_code, today)
    suspension = Suspension(
        number=number, uscc=enterprise.uscc, enterprise_name=enterprise.name, applicant=applicant,
        submitted_by=submitted_by, status=SuspensionStatus.filed, cause=form.cause, reason=form.reason or "",
        start_date=filing.start, end_date=filing.end, delivery_address=form.delivery_address,
        created_at=now, updated_at=now,
    )
    uow.session.add(suspension)
    enterprise.suspension_id = suspension.id
    if filing.start <= today:
        await handlers.start_suspension(uow, enterprise, suspension)
    else:
        due = domain.scaled_due(domain.suspension_starts_at(filing), now, settings.suspension_day_seconds)
        timers.schedule(uow.session, domain.TIMER_SUSPENSION_START, suspension.id, due)
    await uow.session.flush()
    await _schedule_end(uow, suspension, settings.suspension_day_seconds)
    return suspension


async def _locked_suspension(uow: UnitOfWork, suspension_id: str,
                             principal: Principal) -> tuple[EnterpriseView, Suspension]:
    """The suspension and its enterprise, both locked (enterprise first, as everywhere)."""
    found = await readable_suspension(uow.session, suspension_id, principal)
    require_write(principal, found.applicant, found.submitted_by)
    enterprise = await lock_row(uow.session, EnterpriseView, found.uscc)
    suspension = await lock_row(uow.session, Suspension, suspension_id)
    assert enterprise is not None and suspension is not None
    return enterprise, suspension


def _not_current(suspension: Suspension) -> Conflict:
    return Conflict("suspension_not_current", f"{suspension.number} is {suspension.status}",
                    title="Suspension not current", status_now=suspension.status)


async def resume(uow: UnitOfWork, suspension_id: str, principal: Principal,
                 resumed_on: str | None = None) -> Suspension:
    """End a suspension early, published now (the enterprise resumed business today, or on ``resumed_on``
    within the last 30 days), or withdraw one not started yet."""
    enterprise, suspension = await _locked_suspension(uow, suspension_id, principal)
    if suspension.status == SuspensionStatus.active:
        filing = domain.Filing(suspension.start_date, suspension.end_date)
        problems, day = domain.early_end_problems(filing, resumed_on, local_today())
        refuse_if(problems)
        await handlers.end_suspension(uow, enterprise, suspension, status=SuspensionStatus.resumed, resumed_on=day)
    elif suspension.status == SuspensionStatus.filed:
        await handlers.end_suspension(uow, enterprise, suspension, status=SuspensionStatus.withdrawn)
    else:
        raise _not_current(suspension)
    return suspension


async def extend(uow: UnitOfWork, suspension_id: str, new_end: str, principal: Principal,
                 settings: Settings) -> Suspension:
    """Extend a suspension: filed within the 30 days before its end, still within 3 years in total."""
    enterprise, suspension = await _locked_suspension(uow, suspension_id, principal)
    if suspension.status not in SuspensionStatus.CURRENT:
        raise _not_current(suspension)
    others = await handlers.filings_of(uow.session, suspension.uscc, excluding=suspension.id)
    current = domain.Filing(suspension.start_date, suspension.end_date)
    problems, end = domain.extension_problems(current, new_end, local_today(), others)
    refuse_if(problems)
    assert end is not None
    now = utcnow()
    extension: dict[str, Any] = {"previous_end_date": suspension.end_date.isoformat(),
                                 "end_date": end.isoformat(), "filed_at": now.isoformat()}
    suspension.extensions = [*suspension.extensions, extension]  # a new list, so the JSON column is saved
    suspension.end_date = end
    suspension.updated_at = now
    await timers.cancel(uow.session, suspension.id, domain.TIMER_SUSPENSION_END, now=now)
    await _schedule_end(uow, suspension, settings.suspension_day_seconds)
    if suspension.status == SuspensionStatus.active:
        handlers.announce_suspended(uow, enterprise, suspension)  # the same status, announced with its new end
    return suspension
