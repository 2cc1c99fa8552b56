"""The deregistration service process: its routes, its consumers, its sweepers (overdue tasks and timers)."""

from __future__ import annotations

from services.deregistration import handlers
from services.deregistration.api import router
from services.deregistration.domain import SERVICE
from shared.backoffice import department_router, task_answers_consumer
from shared.service import create_service_app
from shared.tasks import overdue_sweep
from shared.timers import timer_sweep

app = create_service_app(
    title="Deregistration service (套餐式注销, 歇业备案)",
    routers=[router, department_router(SERVICE, handlers.apply_decision)],
    consumers=lambda runtime: [
        task_answers_consumer(runtime, handlers.apply_decision),
        handlers.enterprise_registry_consumer(runtime),
    ],
    sweeps=[overdue_sweep(SERVICE), timer_sweep(handlers.TIMER_HANDLERS)],
)
