"""Forwarding to services over the gateway's ``Upstreams`` (kept-alive connections lent one request at a time):
no hop-by-hop headers, the request id and the gateway's trace context passed on, and a service that is slow or
down answered as 504 or 503 instead of a hang."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import quote

import httpx
from fastapi import Request, Response

from shared import tracing
from shared.problems import Problem, problem_response
from shared.requestid import REQUEST_ID_HEADER, current_request_id

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length", "content-encoding",
})
# What a client says about where it comes from is not passed on: the gateway says it (``upstream_headers``).
FORWARDING = frozenset({"forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip"})
# A client's trace context is not passed on either: the gateway's span is the root of a request's trace.
TRACE_CONTEXT = frozenset({tracing.TRACEPARENT, tracing.TRACESTATE})
# Characters a path keeps as they are when forwarded; everything else is percent-encoded again.
PATH_SAFE = "/:@!$&'()*+,;=-._~"
# A path segment holding an id (a uuid, an application number, a USCC, a verification code): they all have
# digits, the names of collections and actions have none.
ID_LIKE = re.compile(r"\d")


def forward_headers(headers: httpx.Headers | dict[str, str] | object) -> dict[str, str]:
    items = headers.items() if hasattr(headers, "items") else []
    return {k: v for k, v in items
            if k.lower() not in HOP_BY_HOP and k.lower() not in FORWARDING and k.lower() not in TRACE_CONTEXT
            and k.lower() != REQUEST_ID_HEADER.lower()}


def upstream_headers(request: Request) -> dict[str, str]:
    """The headers a request is passed on to a service with: its own, less hop-by-hop and forwarding headers,
    plus ``X-Forwarded-For`` naming the client (as ``services.gateway.guard`` found it)."""
    headers = forward_headers(request.headers)
    if request.client is not None:
        headers["x-forwarded-for"] = request.client.host
    return headers


def upstream_path(request: Request) -> str:
    """The path as the gateway routed it, encoded again so the service decodes exactly that path (a ``%2F``
    the client encoded twice stays one character for the service too)."""
    return quote(request.scope["path"], safe=PATH_SAFE)


def route_template(path: str) -> str:
    """A forwarded path as a template with its ids as ``{id}`` (``/api/v1/registrations/{id}/supplements``):
    what access logs and traces group forwarded requests by, instead of the catch-all route's pattern."""
    parts = path.split("/")
    # /api/v1/... : the version keeps its digit.
    return "/".join(p if i < 3 or not ID_LIKE.search(p) else "{id}" for i, p in enumerate(parts))


def unavailable(service: str) -> Problem:
    return Problem(503, "Service unavailable", f"the {service} service does not answer; try again shortly",
                   code="service_unavailable", service=service, headers={"Retry-After": "5"})


def timed_out(service: str) -> Problem:
    return Problem(504, "Service timed out", f"the {service} service did not answer in time",
                   code="upstream_timeout", service=service)


# How long an idle connection to a service is kept (the services close theirs after 5 s).
KEEPALIVE_EXPIRY_SECONDS = 2.0


class Upstreams:
    """The gateway's connections to the services: each one its own one-connection ``httpx.AsyncClient``, lent
    to one request at a time.

    httpx's pool looks through every connection it holds, and checks each socket, on every request: with a
    hundred requests in flight to one service that scan took a third of the gateway's time. Here a request
    takes an idle connection to its service from a list, or opens one while fewer than ``max_connections``
    are in use (else it waits, up to ``pool_timeout``, then ``UpstreamBusy``). Up to ``max_idle`` connections
    per service are kept alive between requests; a connection whose request failed or was cancelled is closed.
    """

    def __init__(self, make_client: Callable[[], httpx.AsyncClient], *, max_connections: int = 200,
                 max_idle: int = 100, pool_timeout: float = 10.0) -> None:
        self._make_client = make_client
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: defaultdict[str, list[httpx.AsyncClient]] = defaultdict(list)
        self._max_idle = max_idle
        self._pool_timeout = pool_timeout

    @asynccontextmanager
    async def lend(self, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
        """A client for one request to the service at ``base_url``, given back when the block ends."""
        try:
            await asyncio.wait_for(self._slots.acquire(), self._pool_timeout)
        except TimeoutError:
            raise UpstreamBusy(base_url) from None
        try:
            idle = self._idle[base_url]
            client = idle.pop() if idle else self._make_client()
            try:
                yield client
            except BaseException:
                await client.aclose()
                raise
            if len(idle) < self._max_idle:
                idle.append(client)
            else:
                await client.aclose()
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        """Close every idle connection (at shutdown; those lent out are closed by their requests' ends)."""
        clients = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        await asyncio.gather(*(c.aclose() for c in clients))


class UpstreamBusy(Exception):
    """Every connection the gateway may open is in use, and none came back in time."""


def upstream_clients(timeout: httpx.Timeout) -> Callable[[], httpx.AsyncClient]:
    """What ``Upstreams`` opens a connection with: a one-connection client, kept alive, sharing one TLS context
    (each client would otherwise load the CA store, about 20 ms of CPU)."""
    tls = httpx.create_ssl_context()
    # Idle connections are dropped well before the services' own keep-alive timeout (uvicorn's 5 s) closes
    # them: a request sent down a connection the service is closing at that moment fails (503).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS)
    return lambda: httpx.AsyncClient(timeout=timeout, limits=limits, verify=tls)


async def call(upstreams: Upstreams, base_url: str, service: str, method: str, path: str, *,
               headers: dict[str, str], params: list[tuple[str, str]] | None = None,
               content: bytes | AsyncIterator[bytes] | None = None) -> httpx.Response:
    """One request to a service; Problem 503/504 when it is down or slow."""
    headers = {**headers, REQUEST_ID_HEADER: current_request_id() or ""}
    if tracing.enabled():
        # The service's SERVER span continues the gateway's (no client span between them: one hop, one span).
        tracing.inject(headers)
    # httpx reads a tuple of pairs as it reads a list; its type for a list (``list[tuple[str, str | int | ...]]``)
    # is invariant and would refuse our ``list[tuple[str, str]]``, its type for a tuple is not.
    query = None if params is None else tuple(params)
    try:
        async with upstreams.lend(base_url) as client:
            return await client.request(method, base_url + path, headers=headers, params=query, content=content)
    except (httpx.TimeoutException, UpstreamBusy) as exc:
        raise timed_out(service) from exc
    except httpx.TransportError as exc:
        raise unavailable(service) from exc


async def forward(request: Request, upstreams: Upstreams, base_url: str, service: str,
                  body: bytes | AsyncIterator[bytes]) -> Response:
    """Forward the request as is and return the service's answer as is (less hop-by-hop headers). A body
    given as a stream (an upload) is sent as it arrives; one the body limit stops midway is answered 413."""
    try:
        upstream = await call(upstreams, base_url, service, request.method, upstream_path(request),
                              headers=upstream_headers(request),
                              params=list(request.query_params.multi_items()),
                              content=body if not isinstance(body, bytes) else body or None)
    except Problem as problem:
        return problem_response(problem, request)
    return Response(upstream.content, status_code=upstream.status_code, headers=forward_headers(upstream.headers))
