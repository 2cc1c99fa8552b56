"""The registration service process: its routes, its consumers, its sweeper."""

from __future__ import annotations

from services.registration import handlers
from services.registration.api import router
from services.registration.domain import SERVICE
from shared.backoffice import department_router, task_answers_consumer
from shared.service import ServiceRuntime, create_service_app
from shared.tasks import flag_overdue


async def flag_overdue_tasks(runtime: ServiceRuntime) -> int:
    """限时办结: flag and announce tasks past their due time."""
    async with runtime.uow() as uow:
        count = await flag_overdue(uow, SERVICE)
        await uow.commit()
    return count


app = create_service_app(
    title="Registration service (企业开办)",
    routers=[router, department_router(SERVICE, handlers.apply_decision)],
    consumers=lambda runtime: [
        task_answers_consumer(runtime, handlers.apply_decision),
        handlers.enterprise_changes_consumer(runtime),
    ],
    sweeps=[flag_overdue_tasks],
)
