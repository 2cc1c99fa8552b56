"""The real-estate service process: its routes, the department back office, and (in dev) the data set."""

from __future__ import annotations

from services.realestate import commands, handlers
from services.realestate.api import router
from shared.kit import application_service
from shared.service import ServiceRuntime


async def load_dev_data(runtime: ServiceRuntime) -> None:
    """``make run`` starts with the registry's sample data (idempotent: imported once per database)."""
    if runtime.settings.env == "dev":
        await commands.load_dev_data(runtime.uow)


app = application_service(handlers.FLOW, routers=[router], on_start=load_dev_data)
