"""What the real-estate service answers with: applications (with their amounts, payment and certificates),
titles as the query law allows each viewer to see them, and certificates verified by code."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.realestate import domain
from services.realestate.handlers import FLOW, TRANSFER, title_of, transfer_form
from services.realestate.models import PropertyCertificate, RealProperty, RegistryApplication
from services.realestate.schemas import (
    AllocationPublic,
    CertificatePublic,
    CertificateSummary,
    ChargePublic,
    PaymentPublic,
    RegistryApplicationPublic,
    TitlePublic,
)
from shared.applications import application_fields
from shared.auth import Principal
from shared.departments import Department
from shared.escalations import escalations_of
from shared.money import fen_to_yuan
from shared.pagination import Page, PageQuery
from shared.refusals import NotFound
from shared.tasks import load_tasks

TRANSFER_KINDS = ("transfer",)
MORTGAGE_KINDS = ("mortgage", "mortgage_release")


async def application_public(session: AsyncSession, app: RegistryApplication) -> RegistryApplicationPublic:
    """One application as its parties see it: the tasks, one amount due with its items, the payment and its
    split, what was undone, and the certificates issued at entry."""
    tasks = await load_tasks(session, app.id)
    charges = [ChargePublic(charge=c, amount=fen_to_yuan(f)) for c, f in app.assessment.items() if f]
    payment = None
    if app.payment:
        paid = app.payment.get("paid_fen")
        payment = PaymentPublic(
            paid=fen_to_yuan(paid) if paid is not None else None, reference=app.payment.get("reference"),
            allocations=[AllocationPublic(charge=a["charge"], account=a["account"], amount=fen_to_yuan(a["fen"]))
                         for a in app.payment.get("allocations", [])],
            refunded=bool(app.payment.get("refunded_at")), undone=app.payment.get("undone", []))
    certificates = []
    if app.entered_at is not None:
        rows = await session.execute(select(PropertyCertificate).where(PropertyCertificate.application_id == app.id)
                                     .order_by(col(PropertyCertificate.number)))
        certificates = [CertificateSummary(number=c.number, verification_code=c.verification_code)
                        for c in rows.scalars()]
    return RegistryApplicationPublic(
        **application_fields(app, tasks), escalations=await escalations_of(session, app.id),
        kind=app.kind, unit_number=app.unit_number,
        address=app.address, district_code=app.district_code,
        buyer_name=transfer_form(app).buyer.name if app.kind == TRANSFER else None, confirmed_at=app.confirmed_at,
        amount_due=fen_to_yuan(sum(app.assessment.values())) if app.kind == TRANSFER else None, charges=charges,
        payment=payment, entered_at=app.entered_at, certificates=certificates,
        linked_utilities=app.linked_utilities,
    )


async def own_applications(session: AsyncSession, principal: Principal, paging: PageQuery,
                           kinds: tuple[str, ...]) -> Page[RegistryApplicationPublic]:
    """The caller's applications of these kinds (as a seller, the buyer, or the lender that filed them)."""
    total, apps = await FLOW.own_page(session, principal, paging, col(RegistryApplication.kind).in_(kinds))
    return Page[RegistryApplicationPublic](items=[await application_public(session, a) for a in apps], total=total,
                                           limit=paging.limit, offset=paging.offset)


async def readable_application(session: AsyncSession, application_id: str, principal: Principal,
                               kinds: tuple[str, ...]) -> RegistryApplicationPublic:
    """One application of these kinds the caller may read, or ``NotFound``."""
    app = await FLOW.readable(session, application_id, principal)
    if app.kind not in kinds:
        raise FLOW.not_found()
    return await application_public(session, app)


async def title_public(session: AsyncSession, unit_number: str, principal: Principal) -> TitlePublic:
    """A title query (免费查询): the owner (and the registry, and admins) see everything; anyone else the
    natural state, co-ownership, mortgages and seizures, with personal data masked. Nobody searches by name:
    the query is by unit number only."""
    title = await title_of(session, unit_number.strip().upper())
    if title is None:
        raise NotFound("property_unknown", "no property with this unit number is in the register")
    full = title.is_owner(principal.sub) or principal.is_admin or principal.is_officer_of(Department.nr)
    return TitlePublic(**domain.title_view(title, viewer_is_owner=full), full_view=full)


async def certificate_public(session: AsyncSession, verification_code: str) -> CertificatePublic:
    """A certificate verified by its code (no login): valid or cancelled, the property, the holders masked."""
    certificate = await session.get(PropertyCertificate, verification_code.strip().upper())
    if certificate is None:
        raise NotFound("certificate_not_found", "no certificate has this verification code")
    prop = await session.get(RealProperty, certificate.unit_number)
    assert prop is not None
    return CertificatePublic(
        number=certificate.number, kind=certificate.kind, status=certificate.status,
        unit_number=prop.unit_number, address=prop.address, use=prop.use, area_m2=prop.area_m2,
        holders=[domain.mask_name(h) for h in certificate.holders], issued_at=certificate.issued_at,
        cancelled_at=certificate.cancelled_at)
