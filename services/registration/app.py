"""The registration service process: its routes, its consumers, its sweeper."""

from __future__ import annotations

from services.registration import handlers
from services.registration.api import router
from services.registration.domain import SERVICE
from shared.backoffice import department_router, task_answers_consumer
from shared.service import create_service_app
from shared.tasks import overdue_sweep

app = create_service_app(
    title="Registration service (企业开办)",
    routers=[router, department_router(SERVICE, handlers.apply_decision)],
    consumers=lambda runtime: [
        task_answers_consumer(runtime, handlers.apply_decision),
        handlers.enterprise_changes_consumer(runtime),
    ],
    sweeps=[overdue_sweep(SERVICE)],
)
