"""What the utilities service answers with: applications, the caller's accounts and open offers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.utilities.domain import Utility
from services.utilities.handlers import TRANSFER
from services.utilities.models import ConnectionApplication, ConnectionOffer, UtilityAccount
from services.utilities.schemas import AccountPublic, ConnectionPublic, FeePublic, LinkedTransferPublic, OfferPublic
from shared.applications import application_fields
from shared.auth import Principal
from shared.escalations import escalations_of
from shared.money import fen_to_yuan
from shared.pagination import PageQuery, fetch_page
from shared.records import utcnow
from shared.tasks import load_tasks


async def connection_public(session: AsyncSession, app: ConnectionApplication) -> ConnectionPublic:
    """One application as its applicant sees it: tasks, fees (one amount with its items), the transfer."""
    tasks = await load_tasks(session, app.id)
    proof = app.form.get("proof") or {}
    transfer = None
    if app.kind == TRANSFER:
        transfer = LinkedTransferPublic(transfer_number=app.transfer["number"], unit_number=app.transfer["unit_number"],
                                        accounts=[a["account_number"] for a in app.transfer["accounts"]])
    return ConnectionPublic(
        **application_fields(app, tasks), escalations=await escalations_of(session, app.id),
        kind=app.kind, district_code=app.district_code,
        premises_address=app.premises_address, uscc=app.uscc, utilities=app.utilities,
        fees=[FeePublic(utility=u, amount=fen_to_yuan(app.fees.get(u, 0))) for u in app.utilities],
        total_fee=fen_to_yuan(sum(app.fees.values())), proof_kind=proof.get("kind"), proof_number=proof.get("number"),
        proof_unit_number=proof.get("unit_number"),
        offer_id=app.offer_id, transfer=transfer,
    )


def account_public(account: UtilityAccount) -> AccountPublic:
    return AccountPublic(account_number=account.account_number, utility=account.utility,
                         utility_name=Utility(account.utility).name_zh, district_code=account.district_code,
                         premises_address=account.premises_address, uscc=account.uscc, opened_at=account.opened_at,
                         transferred_at=account.transferred_at)


async def accounts_of(session: AsyncSession, principal: Principal,
                      paging: PageQuery) -> tuple[int, list[AccountPublic]]:
    """The caller's accounts (an admin's: all), by utility, premises and account number."""
    query = select(UtilityAccount)
    if not principal.is_admin:
        query = query.where(UtilityAccount.owner == principal.sub)
    order = (col(UtilityAccount.utility), col(UtilityAccount.premises_address), col(UtilityAccount.account_number))
    total, rows = await fetch_page(session, query, order, paging)
    return total, [account_public(a) for a in rows]


def offer_public(offer: ConnectionOffer) -> OfferPublic:
    return OfferPublic(id=offer.id, uscc=offer.uscc, enterprise_name=offer.enterprise_name,
                       district_code=offer.district_code, premises_address=offer.premises_address,
                       status=offer.status, created_at=offer.created_at, expires_at=offer.expires_at)


async def open_offers(session: AsyncSession, principal: Principal) -> list[OfferPublic]:
    """The enterprise owner's offers still open (not accepted, withdrawn or expired), newest first."""
    rows = await session.execute(select(ConnectionOffer).where(
        ConnectionOffer.owner == principal.sub, ConnectionOffer.status == "open",
        col(ConnectionOffer.expires_at) > utcnow()).order_by(col(ConnectionOffer.created_at).desc()).limit(100))
    return [offer_public(o) for o in rows.scalars()]
