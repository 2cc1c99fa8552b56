"""What the deregistration service answers with: deregistrations with their notice and objections, the
public notices, an enterprise as known here, and suspensions (read side; no changes here)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.deregistration import domain, handlers
from services.deregistration.domain import Status
from services.deregistration.models import DeregistrationApplication, EnterpriseView, Objection, Suspension
from services.deregistration.schemas import (
    DeregistrationPublic,
    EligibilityCheck,
    EnterprisePublic,
    ExtensionPublic,
    InvestorOnRecord,
    NoticePublic,
    ObjectionPublic,
    PublicNotice,
    SuspensionList,
    SuspensionPublic,
)
from shared import timers
from shared.applications import application_fields, materials_fields, own_only, readable_or_404
from shared.auth import Principal
from shared.escalations import escalations_of
from shared.pagination import PageQuery, fetch_page
from shared.refusals import NotFound
from shared.tasks import load_tasks

SUSPENSION_NOT_FOUND = NotFound("not_found", "no such suspension filing")


async def deregistration_public(session: AsyncSession, app: DeregistrationApplication) -> DeregistrationPublic:
    """One deregistration as its applicant sees it: tasks, the notice period, objections."""
    tasks = await load_tasks(session, app.id)
    objections = list((await session.execute(
        select(Objection).where(Objection.application_id == app.id).order_by(Objection.created_at)  # type: ignore[arg-type]
    )).scalars())
    app_timers = await timers.timers_of(session, app.id)
    notice_timer = next((t for t in app_timers if t.kind == domain.TIMER_NOTICE_END), None)
    notice = None
    if notice_timer is not None:
        notice = NoticePublic(kind=handlers.notice_kind_of(app), starts_at=app.created_at,
                              ends_at=notice_timer.due_at, ended_at=notice_timer.fired_at,
                              cancelled_at=notice_timer.cancelled_at)
    return DeregistrationPublic(
        **application_fields(app, tasks), **await materials_fields(session, app),
        escalations=await escalations_of(session, app.id),
        procedure=app.procedure, uscc=app.uscc,
        enterprise_name=app.enterprise_name, district_code=app.district_code, stated_reason=app.stated_reason,
        notice=notice, objections=[objection_public(app, o, with_status=False) for o in objections],
        liquidation_filed_at=app.liquidation_filed_at,
        eligibility=[EligibilityCheck.model_validate(e) for e in app.eligibility or []],
    )


def objection_public(app: DeregistrationApplication, objection: Objection, *,
                     with_status: bool = True) -> ObjectionPublic:
    """An objection; a department's names it (``dept:<code>`` objectors), the public's only its reason."""
    department = objection.objector.removeprefix("dept:") if objection.objector.startswith("dept:") else None
    return ObjectionPublic(id=objection.id, application_id=app.id, reason=objection.reason, department=department,
                           created_at=objection.created_at, application_status=app.status if with_status else None)


async def public_notices(session: AsyncSession, paging: PageQuery) -> list[PublicNotice]:
    """Deregistrations in a published period: who may object or declare a claim (names only). A 个体工商户's
    objection window is not published."""
    published = [domain.NoticeKind.public_notice, domain.NoticeKind.creditor_notice]
    query = select(DeregistrationApplication).where(
        col(DeregistrationApplication.notice_kind).in_(published),
        col(DeregistrationApplication.notice_ended_at).is_(None),
        col(DeregistrationApplication.status).not_in(sorted(Status.FINAL)))
    _total, apps = await fetch_page(session, query, DeregistrationApplication.created_at.desc(), paging)  # type: ignore[attr-defined]
    notices = []
    for app in apps:
        due = await timers.pending(session, app.id, domain.TIMER_NOTICE_END)
        if not due:
            continue
        form = app.form
        people = (form.get("undertaking") or {}).get("signatories") or (form.get("liquidation") or {}).get(
            "members") or []
        notices.append(PublicNotice(
            application_id=app.id, number=app.number, procedure=app.procedure, kind=handlers.notice_kind_of(app),
            uscc=app.uscc,
            enterprise_name=app.enterprise_name, stated_reason=app.stated_reason, starts_at=app.created_at,
            ends_at=due[0].due_at, signatories=[p["name"] for p in people]))
    return notices


async def enterprise_public(session: AsyncSession, uscc: str, principal: Principal) -> EnterprisePublic:
    """An enterprise as known here; anyone but its applicant, a clerk or an admin is answered as if unknown."""
    ent = await session.get(EnterpriseView, uscc.strip().upper())
    if ent is None or not (principal.sub == ent.owner or principal.is_clerk or principal.is_admin):
        raise NotFound("enterprise_unknown", f"no enterprise {uscc} is known here")
    holdings = handlers.holdings_of(ent)
    return EnterprisePublic(
        uscc=ent.uscc, name=ent.name, district_code=ent.district_code, status=ent.status,
        status_changed_at=ent.status_changed_at, entity_type=ent.entity_type,
        departments={p.value: [str(d) for d in domain.departments_needed(holdings, p)] for p in domain.Procedure},
        investors=[InvestorOnRecord(name=i.name, id_number_masked=i.id_number_masked)
                   for i in domain.investors_from(ent.investors)],
        restrictions=list(ent.restrictions or []),
        deregistration_id=ent.deregistration_id, suspension_id=ent.suspension_id,
    )


async def suspension_public(session: AsyncSession, suspension: Suspension) -> SuspensionPublic:
    """One suspension filing, with what the enterprise used of its 3-year cap before it."""
    earlier = await handlers.filings_of(session, suspension.uscc, excluding=suspension.id)
    first = min([f.start for f in earlier] + [suspension.start_date])
    return SuspensionPublic(
        id=suspension.id, number=suspension.number, uscc=suspension.uscc, enterprise_name=suspension.enterprise_name,
        applicant=suspension.applicant, submitted_by=suspension.submitted_by, status=suspension.status,
        cause=suspension.cause, reason=suspension.reason, start_date=suspension.start_date,
        end_date=suspension.end_date, delivery_address=suspension.delivery_address, resumed_on=suspension.resumed_on,
        published_at=suspension.published_at,
        extensions=[ExtensionPublic.model_validate(e) for e in suspension.extensions],
        days_used_before=domain.total_days(earlier), days_allowed=domain.cap_days(first),
        created_at=suspension.created_at, updated_at=suspension.updated_at,
    )


async def readable_suspension(session: AsyncSession, suspension_id: str, principal: Principal) -> Suspension:
    """A suspension filing the caller may read (another applicant's answers as a missing one)."""
    return await readable_or_404(session, Suspension, suspension_id, principal, SUSPENSION_NOT_FOUND)


async def own_suspensions(session: AsyncSession, principal: Principal, paging: PageQuery) -> SuspensionList:
    """The caller's own suspension filings (a clerk's: those they submitted; an admin's: all), newest first."""
    query = own_only(select(Suspension), Suspension, principal)
    total, rows = await fetch_page(session, query, col(Suspension.created_at).desc(), paging)
    return SuspensionList(items=[await suspension_public(session, s) for s in rows], total=total,
                          limit=paging.limit, offset=paging.offset)
