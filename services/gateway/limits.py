"""Per-caller rate limits at the gateway on writes and reads (429 with Retry-After), answered as problem+json
before anything reaches a service. The body limit (413) is ``shared.web.BodyLimitMiddleware``, which every
service applies as well."""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable

from fastapi import Request

from shared.auth import Principal, bearer_token, verifier_of
from shared.problems import Problem
from shared.settings import Settings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
        # Requests refused with 429, by kind ("writes", "reads"): what the gateway's /metrics report.
        self.refused: collections.Counter[str] = collections.Counter()

    def check(self, method: str, caller: str) -> None:
        """Raise a Problem 429 with ``Retry-After`` when ``caller`` is over the limit for ``method``."""
        writing = method.upper() in WRITE_METHODS
        limiter = self.writes if writing else self.reads
        wait = limiter.take(caller)
        if wait > 0:
            kind = "writes" if writing else "reads"
            self.refused[kind] += 1
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
        principal = await verifier_of(request).verify(bearer_token(request))
    except Problem:
        return None
    request.state.principal = principal
    return principal


async def enforce_rate_limit(request: Request) -> None:
    """App-wide dependency: count the request against its caller's bucket (the token's subject, or the
    client address for requests without a valid token, so guessing tokens is limited too). The address is the
    peer's, or the client a trusted proxy names (``services.gateway.guard``)."""
    if not request.url.path.startswith("/api/"):
        return
    principal = await verified_caller(request)
    caller = f"sub:{principal.sub}" if principal else f"addr:{request.client.host if request.client else '-'}"
    request.app.state.limits.check(request.method, caller)
