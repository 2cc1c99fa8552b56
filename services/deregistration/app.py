"""The deregistration service process: its routes, its consumers, its sweepers (overdue tasks and timers)."""

from __future__ import annotations

from services.deregistration import handlers
from services.deregistration.api import router
from shared.kit import application_service
from shared.timers import timer_sweep

app = application_service(handlers.FLOW, routers=[router],
                          consumers=handlers.enterprise_registry_consumer,
                          sweeps=[timer_sweep(handlers.TIMER_HANDLERS)])
