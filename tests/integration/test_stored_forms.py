"""A stored form survives a change of the form's shape: an application accepted under an older shape (a
field since removed, a section since added with defaults) still completes after the upgrade, and the plan
it was accepted with is the one it runs, whatever its form now reads as."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa
from sqlmodel import select

from services.registration import commands
from services.registration.forms import RegistrationCreate
from services.registration.handlers import FLOW
from services.registration.models import Enterprise, RegistrationApplication
from shared.db import create_engine, create_sessionmaker, migrate_async
from shared.events import TaskOutcome, TaskResolved
from shared.identifiers import generate_uscc
from shared.outbox import UnitOfWork
from shared.records import DepartmentTask
from tests.support import EXAMPLE_REGISTRATION, Databases


@pytest.fixture
async def uow_factory(databases: Databases) -> AsyncIterator[Callable[[], UnitOfWork]]:
    url = databases.new("stored_forms")
    await migrate_async("registration", url)
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    yield lambda: UnitOfWork(maker)
    await engine.dispose()


async def approve_every_requested_task(uow_factory: Callable[[], UnitOfWork], application_id: str) -> None:
    async with uow_factory() as uow:
        rows = await uow.session.execute(select(DepartmentTask).where(
            DepartmentTask.application_id == application_id, DepartmentTask.status == "requested"))
        requested = [(t.id, t.department, t.round) for t in rows.scalars()]
    for task_id, department, round_ in requested:
        async with uow_factory() as uow:
            # samr's approval carries the USCC it assigns (赋码), as a real samr's does.
            outputs = {"uscc": generate_uscc("440703", "1")} if department == "samr" else {}
            await FLOW.apply_decision(uow, TaskResolved(
                task_id=task_id, application_id=application_id, service="registration", department=department,
                outcome=TaskOutcome.approved, outputs=outputs, round=round_), "nats")  # type: ignore[arg-type]
            await uow.commit()


async def test_an_application_stored_under_an_older_form_shape_completes(
        uow_factory: Callable[[], UnitOfWork]) -> None:
    body = copy.deepcopy(EXAMPLE_REGISTRATION)
    body["enterprise"]["name"] = "江门市蓬江区旧版表单测试科技有限公司"
    async with uow_factory() as uow:
        app, _submitted = await commands.submit(uow, RegistrationCreate.model_validate(body), applicant="old-form",
                                            submitted_by="old-form", found={})
        await uow.commit()
    tasks_before = {department for department, _status in await _tasks(uow_factory, app.id)}

    # As an older release stored it: a field this release no longer has, and no "package" section at all
    # (this release's defaults would plan other departments than the ones the application was accepted with).
    old = copy.deepcopy(body)
    old["enterprise"]["capital_currency"] = "CNY"
    del old["package"]
    async with uow_factory() as uow:
        await uow.session.execute(sa.update(RegistrationApplication).where(RegistrationApplication.id == app.id)
                                  .values(form=old, form_version=1))  # type: ignore[arg-type]
        await uow.commit()

    for _ in range(3):  # samr, then the package departments
        await approve_every_requested_task(uow_factory, app.id)
    async with uow_factory() as uow:
        stored = await uow.session.get(RegistrationApplication, app.id)
        assert stored is not None and stored.status == "completed", stored
        enterprise = await uow.session.get(Enterprise, stored.uscc)
        assert enterprise is not None and enterprise.registered_capital_fen == 100_000_000
    after = await _tasks(uow_factory, app.id)
    assert {department for department, _status in after} == tasks_before
    assert {status for _department, status in after} == {"approved"}


async def _tasks(uow_factory: Callable[[], UnitOfWork], application_id: str) -> list[tuple[str, str]]:
    async with uow_factory() as uow:
        rows = await uow.session.execute(select(DepartmentTask).where(DepartmentTask.application_id == application_id))
        return [(t.department, t.status) for t in rows.scalars()]
