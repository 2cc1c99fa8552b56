"""The materials service process: its routes and its document store."""

from __future__ import annotations

from services.materials.api import router
from services.materials.storage import store_from
from shared import registry
from shared.service import ServiceRuntime, create_service_app
from shared.settings import get_settings

store = store_from(get_settings())


async def open_store(_runtime: ServiceRuntime) -> None:
    await store.start()


app = create_service_app(title=registry.service("materials").title, routers=[router], on_start=open_store)
app.state.store = store
