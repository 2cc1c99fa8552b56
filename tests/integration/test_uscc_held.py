"""A USCC samr assigns is refused when another opening holds it, whether that one is stored or was given the
code earlier in the same transaction (a batch of answers) and is not written yet."""

from __future__ import annotations

import pytest

from services.registration import domain
from services.registration.handlers import samr_answered
from services.registration.models import RegistrationApplication
from shared.db import create_engine, create_sessionmaker, migrate_async
from shared.identifiers import generate_uscc
from shared.outbox import UnitOfWork
from shared.records import DepartmentTask
from shared.refusals import Conflict
from tests.support import Databases

ENTITY_TYPE, DISTRICT = "limited_company", "440703"


def opening(number: int) -> tuple[RegistrationApplication, DepartmentTask]:
    """An opening in progress and its samr task, approved with no code yet."""
    app = RegistrationApplication(number=f"QYKB-440703-20261129-{number:06d}", applicant="a", submitted_by="a",
                                  status="in_progress", form={}, enterprise_name=f"江门测试{number}有限公司",
                                  district_code=DISTRICT, entity_type=ENTITY_TYPE, address="江门市蓬江区")
    task = DepartmentTask(application_id=app.id, application_number=app.number, service="registration",
                          department="samr", kind="establishment_registration", status="approved", working_days=1)
    return app, task


def approved_with(task: DepartmentTask, code: str) -> DepartmentTask:
    task.outputs = {"uscc": code}
    return task


async def test_a_code_held_in_the_same_transaction_or_stored_is_refused(databases: Databases) -> None:
    url = databases.new("uscc_held")
    await migrate_async("registration", url)
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    code = generate_uscc(domain.registration_division(ENTITY_TYPE, DISTRICT), domain.uscc_category(ENTITY_TYPE))
    (first, first_task), (second, second_task), (third, third_task) = opening(1), opening(2), opening(3)
    try:
        async with maker() as session, session.begin():
            session.add_all([first, first_task, second, second_task, third, third_task])

        async with UnitOfWork(maker) as uow:
            uow.savepoints = False  # a batch's first run
            apps = {a.id: await uow.session.get(RegistrationApplication, a.id) for a in (first, second)}
            await samr_answered(uow, apps[first.id], approved_with(first_task, code))
            assert apps[first.id].uscc == code  # given, not written yet
            with pytest.raises(Conflict) as refused:
                await samr_answered(uow, apps[second.id], approved_with(second_task, code))
            assert refused.value.code == "uscc_in_use"
            await uow.commit()

        async with UnitOfWork(maker) as uow:
            stored_elsewhere = await uow.session.get(RegistrationApplication, third.id)
            with pytest.raises(Conflict):
                await samr_answered(uow, stored_elsewhere, approved_with(third_task, code))
    finally:
        await engine.dispose()
