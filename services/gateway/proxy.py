"""Forwarding to services with one shared ``httpx.AsyncClient``: no hop-by-hop headers, the request id
passed on, and a service that is slow or down answered as 504 or 503 instead of a hang."""

from __future__ import annotations

import httpx
from fastapi import Request, Response

from shared.problems import Problem, problem_response
from shared.requestid import REQUEST_ID_HEADER, current_request_id

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length", "content-encoding",
})


def forward_headers(headers: httpx.Headers | dict[str, str] | object) -> dict[str, str]:
    items = headers.items() if hasattr(headers, "items") else []
    return {k: v for k, v in items if k.lower() not in HOP_BY_HOP and k.lower() != REQUEST_ID_HEADER.lower()}


def unavailable(service: str) -> Problem:
    return Problem(503, "Service unavailable", f"the {service} service does not answer; try again shortly",
                   code="service_unavailable", service=service, headers={"Retry-After": "5"})


def timed_out(service: str) -> Problem:
    return Problem(504, "Service timed out", f"the {service} service did not answer in time",
                   code="upstream_timeout", service=service)


async def call(client: httpx.AsyncClient, base_url: str, service: str, method: str, path: str, *,
               headers: dict[str, str], params: list[tuple[str, str]] | None = None,
               content: bytes | None = None) -> httpx.Response:
    """One request to a service; Problem 503/504 when it is down or slow."""
    headers = {**headers, REQUEST_ID_HEADER: current_request_id() or ""}
    # httpx reads a tuple of pairs as it reads a list; its type for a list (``list[tuple[str, str | int | ...]]``)
    # is invariant and would refuse our ``list[tuple[str, str]]``, its type for a tuple is not.
    query = None if params is None else tuple(params)
    try:
        return await client.request(method, base_url + path, headers=headers, params=query, content=content)
    except httpx.TimeoutException as exc:
        raise timed_out(service) from exc
    except httpx.TransportError as exc:
        raise unavailable(service) from exc


async def forward(request: Request, client: httpx.AsyncClient, base_url: str, service: str, body: bytes) -> Response:
    """Forward the request as is and return the service's answer as is (less hop-by-hop headers)."""
    try:
        upstream = await call(client, base_url, service, request.method, request.url.path,
                              headers=forward_headers(request.headers),
                              params=list(request.query_params.multi_items()), content=body or None)
    except Problem as problem:
        return problem_response(problem, request)
    return Response(upstream.content, status_code=upstream.status_code, headers=forward_headers(upstream.headers))
