"""A service whose applications fan out to departments, assembled from its flow: its routes, the department
back office for its tasks, the consumer of the departments' answers and the overdue sweep."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI

from shared import registry
from shared.applications import ApplicationFlow
from shared.backoffice import department_router, task_answers_consumer
from shared.bus import ConsumerSpec
from shared.service import ServiceRuntime, Sweep, create_service_app
from shared.tasks import overdue_sweep


def application_service(
    flow: ApplicationFlow[Any],
    *,
    routers: Sequence[APIRouter],
    consumers: Callable[[ServiceRuntime], Sequence[ConsumerSpec]] = lambda _: (),
    sweeps: Sequence[Sweep] = (),
) -> FastAPI:
    """The FastAPI app of the service that owns ``flow``: its own routes, consumers and sweeps, plus what
    every application service has (department queue and decisions, answers over NATS, overdue tasks)."""
    return create_service_app(
        title=registry.service(flow.service).title,
        routers=[*routers, department_router(flow.service, flow.apply_decision)],
        consumers=lambda runtime: [task_answers_consumer(runtime, flow.apply_decision), *consumers(runtime)],
        sweeps=[overdue_sweep(flow.service), *sweeps],
    )
