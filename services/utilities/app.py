"""The utilities service process: its routes, its consumers (enterprises, property transfers and certificates),
its sweeper."""

from __future__ import annotations

from services.utilities import handlers
from services.utilities.api import router
from shared.kit import application_service

app = application_service(
    handlers.FLOW, routers=[router],
    consumers=lambda runtime: [*handlers.enterprise_consumers(runtime), handlers.property_transfers_consumer(runtime),
                               handlers.certificates_consumer(runtime)],
)
