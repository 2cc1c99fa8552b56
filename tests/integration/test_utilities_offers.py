"""主动办 offers on a real, migrated utilities database: a newly registered enterprise gets one open offer at its
registered address; a cancelled one loses its open offers; an accepted one keeps its record."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlmodel import select

from services.utilities.handlers import offer_or_withdraw
from services.utilities.models import ConnectionOffer, EnterpriseView
from shared.db import create_engine, create_sessionmaker, migrate_async
from shared.outbox import UnitOfWork
from shared.records import utcnow
from tests.support import Databases


@pytest.fixture
async def uow_factory(databases: Databases) -> AsyncIterator[Callable[[], UnitOfWork]]:
    url = databases.new("utilities_offers")
    await migrate_async("utilities", url)
    engine = create_engine(url)
    yield lambda: UnitOfWork(create_sessionmaker(engine))
    await engine.dispose()


def enterprise(uscc: str) -> EnterpriseView:
    return EnterpriseView(uscc=uscc, name="江门市蓬江区云帆软件科技有限公司", entity_type="limited_company",
                          district_code="440703", address="广东省江门市蓬江区环市街道建设三路88号1201室",
                          owner="offer-owner", legal_representative="张三", registered_at=utcnow())


async def offers(uow_factory: Callable[[], UnitOfWork]) -> list[tuple[str, str]]:
    async with uow_factory() as uow:
        rows = await uow.session.execute(select(ConnectionOffer).order_by(ConnectionOffer.uscc))
        return [(o.uscc, o.status) for o in rows.scalars()]


async def test_offer_on_registration_withdrawn_on_cancellation(uow_factory: Callable[[], UnitOfWork]) -> None:
    async with uow_factory() as uow:
        for uscc in ("91440703MA00000001", "91440703MA00000002"):
            ent = enterprise(uscc)
            uow.session.add(ent)
            await offer_or_withdraw(uow, ent, "registered")
        await uow.commit()
    assert await offers(uow_factory) == [("91440703MA00000001", "open"), ("91440703MA00000002", "open")]
    async with uow_factory() as uow:
        first = await uow.session.get(EnterpriseView, "91440703MA00000001")
        assert first is not None
        first.status = "cancelled"
        await offer_or_withdraw(uow, first, "cancelled")
        second = await uow.session.get(EnterpriseView, "91440703MA00000002")
        assert second is not None
        await offer_or_withdraw(uow, second, "suspended")  # a suspension withdraws nothing
        await uow.commit()
    assert await offers(uow_factory) == [("91440703MA00000001", "withdrawn"), ("91440703MA00000002", "open")]
