"""What the registration service answers with: applications, their enterprise and licence, and the public
licence (read side; no changes here)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from services.registration import domain
from services.registration.domain import Status
from services.registration.models import Enterprise, Licence, RegistrationApplication
from services.registration.schemas import EnterpriseSummary, LicencePublic, LicenceSummary, RegistrationPublic
from shared.applications import application_fields
from shared.money import fen_to_yuan
from shared.refusals import NotFound
from shared.tasks import load_tasks


async def registration_public(session: AsyncSession, app: RegistrationApplication) -> RegistrationPublic:
    """One application as its applicant sees it, with the enterprise and licence once it completed."""
    tasks = await load_tasks(session, app.id)
    enterprise = licence = None
    if app.status == Status.completed and app.uscc:
        enterprise = await session.get(Enterprise, app.uscc)
        licence = (await session.execute(select(Licence).where(Licence.uscc == app.uscc))).scalar_one_or_none()
    return RegistrationPublic(
        **application_fields(app, tasks), enterprise_name=app.enterprise_name, district_code=app.district_code,
        enterprise=EnterpriseSummary(uscc=enterprise.uscc, name=enterprise.name, status=enterprise.status)
        if enterprise else None,
        license=LicenceSummary(verification_code=licence.verification_code) if licence else None,
    )


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
