"""The throwaway service: a two-department plan (samr, then tax), one table, one submit route."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from shared.applications import ApplicationFlow, ApplicationPublic, TaskDetails, application_fields
from shared.auth import CurrentPrincipal
from shared.departments import Department
from shared.fanout import Plan, Step
from shared.forms import FormModel, FormShape
from shared.idempotency import Created, IdempotencyKey, create_once
from shared.kit import add_application_reads, application_service
from shared.outbox import UnitOfWork
from shared.problems import Problem
from shared.records import DepartmentTask
from shared.service import Runtime
from shared.tasks import load_tasks
from tests.kit_service.models import KitDemoApplication


class KitDemoCreate(FormModel):
    title: str = Field(min_length=1, max_length=200)


class KitDemoPublic(ApplicationPublic):
    title: str


async def complete(uow: UnitOfWork, app: KitDemoApplication, tasks: list[DepartmentTask]) -> None:
    app.status = "completed"
    FLOW.emit(uow, app, tasks)


def details(app: KitDemoApplication, _tasks: Sequence[DepartmentTask]) -> TaskDetails:
    return lambda _task: {"title": app.title}


FLOW: ApplicationFlow[KitDemoApplication] = ApplicationFlow(
    service="kitdemo", model=KitDemoApplication, number_prefix="KIT", shape=FormShape(KitDemoCreate),
    final_statuses=frozenset({"completed", "rejected"}),
    plan=lambda _app: Plan((Step(Department.samr, "kit_check"),
                            Step(Department.tax, "kit_tax", (Department.samr,))), 1),
    details=details, on_completed=complete,
)
router = APIRouter(prefix="/api/v1")


async def public(session: AsyncSession, app: KitDemoApplication) -> KitDemoPublic:
    return KitDemoPublic(**application_fields(app, await load_tasks(session, app.id)), service="kitdemo",
                         title=app.title)


@router.post("/kit-demos", status_code=202, response_model=KitDemoPublic)
async def submit(form: KitDemoCreate, principal: CurrentPrincipal, runtime: Runtime,
                 key: IdempotencyKey) -> JSONResponse:
    async def create(uow: UnitOfWork) -> Created:
        app = KitDemoApplication(number="", applicant=principal.sub, submitted_by=principal.sub,
                                 status="in_progress", form=form.model_dump(mode="json"), title=form.title)
        await FLOW.submit(uow, app, district_code="440703")
        return Created(202, (await public(uow.session, app)).model_dump(mode="json"), app.id)

    return await create_once(runtime.uow, principal.sub, key, form.model_dump(mode="json"), create,
                             on_conflict=lambda: Problem(409, "Conflict", code="conflict"))


add_application_reads(router, FLOW, "/kit-demos", KitDemoPublic, public)
app = application_service(FLOW, routers=[router])
