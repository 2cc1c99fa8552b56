"""What every FastAPI app shares: request ids, the access log, problem+json errors, health checks."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.problems import Problem, install_problem_handlers, problem_response
from shared.requestid import REQUEST_ID_HEADER, accept_request_id, request_id_var

access_log = logging.getLogger("onestop.access")
ReadinessCheck = Callable[[], Awaitable[None]]


class RequestContextMiddleware:
    """Takes ``X-Request-ID`` in (or makes one), returns it, and writes one access-log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = accept_request_id(headers.get(REQUEST_ID_HEADER.lower()))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((REQUEST_ID_HEADER.encode(), request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            state = scope.get("state") or {}
            principal = state.get("principal")
            # The route's template keeps ids out of what dashboards group by; the path is kept beside it.
            route = getattr(scope.get("route"), "path", None)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route or scope["path"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "caller": getattr(principal, "sub", None),
                },
            )
            request_id_var.reset(token)


def health_router(checks: dict[str, ReadinessCheck]) -> APIRouter:
    """``/healthz`` (the process runs) and ``/readyz`` (every dependency really answers)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(response: Response) -> dict[str, object]:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"unavailable: {exc.__class__.__name__}"
        ready = all(v == "ok" for v in results.values())
        if not ready:
            response.status_code = 503
        return {"status": "ready" if ready else "unavailable", "checks": results}

    return router


def install_common(app: FastAPI) -> None:
    """Problem handlers and the request-context middleware."""
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware)


__all__ = ["Problem", "ReadinessCheck", "health_router", "install_common", "problem_response"]
