"""主动办 offers on a real, migrated utilities database: a newly registered enterprise gets one open offer at its
registered address; a cancelled one loses its open offers; an accepted one keeps its record."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import select

from services.utilities.handlers import offer_or_withdraw
from services.utilities.models import ConnectionOffer, EnterpriseView
from shared.db import create_engine, create_sessionmaker, migrate_async
from shared.departments import Department
from shared.events import CloudEvent, EnterpriseChanged, EnterpriseRegistered, EnterpriseStatusChanged, make_event
from shared.outbox import UnitOfWork
from shared.readmodels import enterprise_view_consumers
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


async def test_a_batch_of_announcements_about_one_enterprise_applies_each_in_turn(
        uow_factory: Callable[[], UnitOfWork]) -> None:
    """Batch mode (one unit, no savepoints): an enterprise announced twice, then changed, in one batch is kept
    once, with the change and one offer; a suspension and its resumption in one batch end resumed. Each event
    sees what the earlier ones of its batch left, though nothing was flushed between them."""
    runtime = SimpleNamespace(name="utilities", uow=uow_factory)
    registry, status = enterprise_view_consumers(runtime, EnterpriseView, after=offer_or_withdraw)
    assert registry.in_unit is not None and status.in_unit is not None
    uscc, other = "91440703MA00000003", "91440703MA00000004"
    now = utcnow()

    def registered(code: str) -> CloudEvent:
        data = EnterpriseRegistered(uscc=code, name="江门市蓬江区云帆软件科技有限公司", entity_type="limited_company",
                                    district_code="440703", address="广东省江门市蓬江区环市街道建设三路88号1201室",
                                    owner="offer-owner", legal_representative="张三", registered_at=now,
                                    licence_verification_code="V1", registered_with=[Department.samr])
        return make_event("registration.enterprise.registered", data, source_service="registration", subject=code)

    changed = make_event("registration.enterprise.changed", EnterpriseChanged(
        uscc=uscc, kind="change", application_id="app-1", number="QYBG-1", changed=["name"],
        name="江门市蓬江区云帆信息科技有限公司", address="广东省江门市蓬江区环市街道建设三路88号1201室",
        district_code="440703", changed_at=now), source_service="registration", subject=uscc)
    batch = [registered(uscc), registered(uscc), registered(other), changed]  # the second: announced again
    async with uow_factory() as uow:
        uow.savepoints = False
        for event in batch:
            await registry.in_unit(uow, event, None)  # type: ignore[arg-type]
        await uow.commit()
    statuses = [make_event(f"deregistration.enterprise.{s}", EnterpriseStatusChanged(
        uscc=uscc, status=s, at=now + timedelta(seconds=i)), source_service="deregistration", subject=uscc)
        for i, s in enumerate(["suspended", "active"], start=1)]
    async with uow_factory() as uow:
        uow.savepoints = False
        for event in statuses:
            await status.in_unit(uow, event, None)  # type: ignore[arg-type]
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.session.get(EnterpriseView, uscc)
        assert found is not None
        assert (found.name, found.status, found.status_changed_at) == ("江门市蓬江区云帆信息科技有限公司", "active",
                                                                      now + timedelta(seconds=2))
    assert await offers(uow_factory) == [(uscc, "open"), (other, "open")]
