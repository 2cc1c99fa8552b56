"""What the registration service answers with: openings and changes, their enterprise and licence, and the
public licence (read side; nothing is changed here)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from services.registration import domain
from services.registration.domain import Status
from services.registration.handlers import FLOW, OPENING, change_form_of, change_values
from services.registration.models import Enterprise, Licence, RegistrationApplication
from services.registration.schemas import (
    ChangePublic,
    ChangeValues,
    EnterpriseSummary,
    LicencePublic,
    LicenceSummary,
    RegistrationPublic,
)
from shared.applications import application_fields, materials_fields
from shared.auth import Principal
from shared.escalations import escalations_of
from shared.money import fen_to_yuan
from shared.pagination import Page, PageQuery
from shared.records import DepartmentTask
from shared.refusals import NotFound
from shared.tasks import load_tasks


async def registration_public(session: AsyncSession, app: RegistrationApplication,
                              tasks: Sequence[DepartmentTask] | None = None) -> RegistrationPublic:
    """One application as its applicant sees it, with the enterprise and licence once it completed; ``tasks``
    when the caller holds them all already (it has just created them)."""
    # In the order load_tasks reads them, so the first answer and a later read list them alike.
    tasks = await load_tasks(session, app.id) if tasks is None else sorted(
        tasks, key=lambda t: (t.created_at, t.department))
    enterprise = licence = None
    if app.status == Status.completed and app.uscc:
        enterprise = await session.get(Enterprise, app.uscc)
        licence = (await session.execute(select(Licence).where(Licence.uscc == app.uscc))).scalar_one_or_none()
    return RegistrationPublic(
        **application_fields(app, tasks), **await materials_fields(session, app),
        escalations=await escalations_of(session, app.id),
        enterprise_name=app.enterprise_name, district_code=app.district_code,
        enterprise=EnterpriseSummary(uscc=enterprise.uscc, name=enterprise.name, status=enterprise.status)
        if enterprise else None,
        license=LicenceSummary(verification_code=licence.verification_code) if licence else None,
    )


async def change_public(session: AsyncSession, app: RegistrationApplication) -> ChangePublic:
    """One change or move as its applicant sees it, with the enterprise as it is once the change completed."""
    tasks = await load_tasks(session, app.id)
    enterprise = licence = None
    if app.status == Status.completed and app.enterprise_uscc:
        enterprise = await session.get(Enterprise, app.enterprise_uscc)
        licence = (await session.execute(select(Licence).where(Licence.uscc == app.enterprise_uscc))
                   ).scalar_one_or_none()
    changes = ChangeValues.model_validate(change_values(app, change_form_of(app), full_ids=False))
    return ChangePublic(
        **application_fields(app, tasks), escalations=await escalations_of(session, app.id),
        kind=app.kind, uscc=app.enterprise_uscc or "",
        enterprise_name=app.enterprise_name, district_code=app.district_code, changes=changes,
        enterprise=EnterpriseSummary(uscc=enterprise.uscc, name=enterprise.name, status=enterprise.status)
        if enterprise else None,
        license=LicenceSummary(verification_code=licence.verification_code) if licence else None,
    )


async def own_registrations(session: AsyncSession, principal: Principal, paging: PageQuery) -> Page[RegistrationPublic]:
    """The caller's 企业开办 applications, newest first."""
    total, apps = await FLOW.own_page(session, principal, paging, RegistrationApplication.kind == OPENING)
    return Page[RegistrationPublic](items=[await registration_public(session, a) for a in apps], total=total,
                                    limit=paging.limit, offset=paging.offset)


async def own_changes(session: AsyncSession, principal: Principal, paging: PageQuery) -> Page[ChangePublic]:
    """The caller's changes and moves, newest first."""
    total, apps = await FLOW.own_page(session, principal, paging, RegistrationApplication.kind != OPENING)
    return Page[ChangePublic](items=[await change_public(session, a) for a in apps], total=total,
                              limit=paging.limit, offset=paging.offset)


async def readable(session: AsyncSession, application_id: str, principal: Principal, *,
                   opening: bool) -> RegistrationApplication:
    """The caller's application of the kind a path serves; another kind answers 404, as a missing one does."""
    app = await FLOW.readable(session, application_id, principal)
    if (app.kind == OPENING) != opening:
        raise FLOW.not_found()
    return app


async def licence_public(session: AsyncSession, verification_code: str) -> LicencePublic:
    """The public licence data behind a verification code (扫码亮证), or ``NotFound``."""
    licence = await session.get(Licence, verification_code.strip().upper())
    if licence is None:
        raise NotFound("licence_not_found", "no licence has this verification code")
    ent = await session.get(Enterprise, licence.uscc)
    assert ent is not None
    return LicencePublic(
        verification_code=licence.verification_code, status=licence.status, uscc=ent.uscc, name=ent.name,
        entity_type=ent.entity_type, entity_type_zh=domain.ENTITY_TYPES[ent.entity_type][0],
        legal_representative=ent.legal_representative,
        registered_capital=fen_to_yuan(ent.registered_capital_fen) if ent.registered_capital_fen is not None else None,
        address=ent.address, business_scope=ent.business_scope, registered_at=ent.registered_at,
        status_changed_at=licence.status_changed_at,
    )
