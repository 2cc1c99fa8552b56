"""Errors as ``application/problem+json`` (RFC 9457); a validation failure lists every problem at once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.messages import PYDANTIC_ZH
from shared.refusals import FieldProblem, Refusal
from shared.requestid import current_request_id

log = logging.getLogger("onestop.http")
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error answered as problem+json."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: Sequence[FieldProblem] = (),
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.errors = list(errors)
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://onestop.jiangmen.gov.cn/problems/{self.code or self.status}",
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.code:
            body["code"] = self.code
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [e.model_dump() for e in self.errors]
        body["request_id"] = current_request_id()
        body.update(self.extra)
        return body


def validation_problem(errors: Sequence[FieldProblem]) -> Problem:
    """The 422 that names every problem found."""
    return Problem(422, "The application has problems", f"{len(errors)} problem(s) found; fix all of them.",
                   code="validation", errors=errors)


def problem_of(refusal: Refusal) -> Problem:
    """The problem+json a domain refusal is answered with."""
    return Problem(refusal.status, refusal.title, refusal.detail, code=refusal.code, errors=refusal.errors,
                   **refusal.extra)


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    """Render a Problem."""
    return JSONResponse(
        problem.body(request.url.path if request else None),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def field_problems_from_validation(errors: Sequence[Any]) -> list[FieldProblem]:
    """Turn pydantic/FastAPI validation errors into FieldProblems."""
    problems = []
    for err in errors:
        loc = [p for p in err.get("loc", ()) if p != "body"]
        kind = err.get("type", "value_error")
        problems.append(
            FieldProblem(
                loc=list(loc),
                code=kind,
                message_zh=PYDANTIC_ZH.get(kind, "取值不正确"),
                message_en=str(err.get("msg", "invalid value")),
            )
        )
    return problems


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(Refusal)
    async def _refusal(request: Request, exc: Refusal) -> JSONResponse:
        return problem_response(problem_of(exc), request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(field_problems_from_validation(exc.errors())), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {401: "Not authenticated", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}
        problem = Problem(exc.status_code, titles.get(exc.status_code, str(exc.detail)),
                          str(exc.detail) if exc.detail else None, headers=dict(exc.headers or {}))
        return problem_response(problem, request)

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    @app.exception_handler(sqlalchemy.exc.InterfaceError)
    @app.exception_handler(sqlalchemy.exc.TimeoutError)
    @app.exception_handler(ConnectionError)
    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database refused a connection (too many clients, or none listening), dropped one, or the pool
        # had none free in time: nothing was committed, and the same request later (its Idempotency-Key too) is safe.
        log.warning("database unavailable", extra={"route": request.url.path, "error": repr(exc)[:500]})
        return problem_response(Problem(503, "Service unavailable", "The database is busy or unreachable; "
                                        "try again shortly.", code="database_unavailable",
                                        headers={"Retry-After": "1"}), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"route": request.url.path})
        return problem_response(Problem(500, "Internal error", "The error was logged with the request id."),
                                request)
