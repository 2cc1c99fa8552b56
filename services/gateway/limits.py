"""Resource limits at the gateway: per-caller rate limits on writes and reads (429 with Retry-After) and a
maximum request body (413), both answered as problem+json before anything reaches a service."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Principal, bearer_token, get_verifier
from shared.problems import PROBLEM_JSON, Problem
from shared.settings import Settings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A body refused for its size is still read (and dropped) up to this many times the limit.
DRAIN_FACTOR = 8


class RateLimiter:
    """A token bucket per caller: it holds ``per_minute`` tokens and refills at ``per_minute`` a minute.

    Buckets live in this process only: with several gateway replicas each enforces its own share.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic,
                 max_callers: int = 100_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.max_callers = max_callers
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def take(self, caller: str) -> float:
        """Spend one token of ``caller``: 0.0 when allowed, else the seconds until a token is back."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        tokens, at = self._buckets.get(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[caller] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_callers:
                self._forget_idle(now)
            return 0.0
        self._buckets[caller] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled completely carries no information: dropping it changes nothing.
        full = [c for c, (tokens, at) in self._buckets.items() if tokens + (now - at) * self.rate >= self.capacity]
        for caller in full:
            del self._buckets[caller]


class RateLimits:
    """The gateway's two limits: submissions and other writes, and reads."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.writes = RateLimiter(settings.rate_limit_writes_per_minute, clock=clock)
        self.reads = RateLimiter(settings.rate_limit_reads_per_minute, clock=clock)

    def check(self, method: str, caller: str) -> None:
        """Raise a Problem 429 with ``Retry-After`` when ``caller`` is over the limit for ``method``."""
        writing = method.upper() in WRITE_METHODS
        limiter = self.writes if writing else self.reads
        wait = limiter.take(caller)
        if wait > 0:
            kind = "writes" if writing else "reads"
            limit = int(limiter.capacity)
            raise Problem(429, "Too many requests",
                          f"at most {limit} {kind} a minute per caller; try again in {math.ceil(wait)} s",
                          code="rate_limited", headers={"Retry-After": str(max(1, math.ceil(wait)))},
                          limit_per_minute=limit)


async def verified_caller(request: Request) -> Principal | None:
    """The caller of a request that carries a valid token (cached for the route), else None.

    A bad token is not refused here: the route refuses it with its own 401.
    """
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    if not request.headers.get("authorization"):
        return None
    try:
        principal = await get_verifier(request).verify(bearer_token(request))
    except Problem:
        return None
    request.state.principal = principal
    return principal


async def enforce_rate_limit(request: Request) -> None:
    """App-wide dependency: count the request against its caller's bucket (the token's subject, or the
    client address for requests without a valid token, so guessing tokens is limited too)."""
    if not request.url.path.startswith("/api/"):
        return
    principal = await verified_caller(request)
    caller = f"sub:{principal.sub}" if principal else f"addr:{request.client.host if request.client else '-'}"
    request.app.state.limits.check(request.method, caller)


def _too_large(max_bytes: int) -> Problem:
    return Problem(413, "Request too large", f"the body may be at most {max_bytes} bytes", code="body_too_large")


class BodyLimitMiddleware:
    """Refuses a body over ``max_bytes`` with 413: at once by its Content-Length, or while reading a chunked
    body, which it holds (at most ``max_bytes``) and then hands on to the app unchanged."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, read: int, more: bool) -> None:
        # Most clients only read an answer once they have sent their body: read on (and drop) up to a
        # bound so they see the 413, and beyond it just answer and close.
        while more and read <= DRAIN_FACTOR * self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            read += len(message.get("body", b""))
            more = message.get("more_body", False)
        problem = _too_large(self.max_bytes)
        response = JSONResponse(problem.body(scope.get("path")), status_code=413, media_type=PROBLEM_JSON,
                                headers={"connection": "close"})
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send, read=0,
                               more=declared.isdigit() and int(declared) <= DRAIN_FACTOR * self.max_bytes)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app sees it on its first receive
            body.extend(message.get("body", b""))
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send, read=len(body), more=message.get("more_body", False))
                return
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": bytes(body), "more_body": False}
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return message
            return await receive()

        await self.app(scope, replay, send)
