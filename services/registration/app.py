"""The registration service process: its routes, its consumers, its sweeper."""

from __future__ import annotations

from services.registration import handlers
from services.registration.api import router
from shared.kit import application_service

app = application_service(handlers.FLOW, routers=[router],
                          consumers=lambda runtime: [handlers.enterprise_changes_consumer(runtime)])
