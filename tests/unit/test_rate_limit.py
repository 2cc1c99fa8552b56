"""The gateway's per-caller token buckets."""

from __future__ import annotations

import pytest

from services.gateway.limits import RateLimiter, RateLimits
from shared.problems import Problem
from shared.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_limit_passes_then_retry_after_says_when() -> None:
    clock = Clock()
    limiter = RateLimiter(6, clock=clock)  # one token every 10 s
    assert [limiter.take("a") for _ in range(6)] == [0.0] * 6
    assert limiter.take("a") == pytest.approx(10.0)
    assert limiter.take("b") == 0.0  # per caller
    clock.now += 5
    assert limiter.take("a") == pytest.approx(5.0)
    clock.now += 5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(10.0)
    clock.now += 3600  # refills to the limit, never beyond
    assert [limiter.take("a") for _ in range(7)][-2:] == [0.0, pytest.approx(10.0)]


def test_zero_switches_a_limit_off() -> None:
    limiter = RateLimiter(0)
    assert not limiter.enabled
    assert all(limiter.take("a") == 0.0 for _ in range(10_000))


def test_idle_callers_are_forgotten_when_there_are_too_many() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock, max_callers=10)
    for i in range(10):
        limiter.take(f"old-{i}")
    clock.now += 120
    limiter.take("new")
    assert set(limiter._buckets) == {"new"}


def test_writes_and_reads_are_counted_apart_and_refused_with_429() -> None:
    clock = Clock()
    limits = RateLimits(Settings(rate_limit_writes_per_minute=2, rate_limit_reads_per_minute=3), clock=clock)
    limits.check("POST", "sub:a")
    limits.check("PATCH", "sub:a")
    for _ in range(3):
        limits.check("GET", "sub:a")
    with pytest.raises(Problem) as info:
        limits.check("DELETE", "sub:a")
    assert info.value.status == 429 and info.value.code == "rate_limited"
    assert info.value.headers["Retry-After"] == "30"
    with pytest.raises(Problem) as info:
        limits.check("GET", "sub:a")
    assert info.value.headers["Retry-After"] == "20"
