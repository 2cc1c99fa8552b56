"""A small server-sent-events reader for the tests (what a browser's EventSource does, minus reconnecting)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class SseEvent:
    id: str | None
    event: str | None
    data: Any
    retry: int | None = None


@dataclass
class SseResult:
    status: int
    events: list[SseEvent]
    ended: bool  # the server ended the stream (rather than the reader stopping early)
    headers: httpx.Headers | None = None
    problem: dict[str, Any] | None = None


async def read_events(http: httpx.AsyncClient, path: str, headers: dict[str, str], *,
                      stop: Callable[[list[SseEvent]], bool] | None = None, timeout: float = 60.0) -> SseResult:
    """Read the stream at ``path`` until the server ends it or ``stop(events)`` is true."""
    events: list[SseEvent] = []
    async with http.stream("GET", path, headers={"accept": "text/event-stream", **headers},
                           timeout=httpx.Timeout(timeout)) as resp:
        if resp.status_code != 200:
            body = (await resp.aread()).decode()
            problem = json.loads(body) if body and resp.headers.get("content-type", "").startswith(
                "application/problem+json") else None
            return SseResult(resp.status_code, [], True, resp.headers, problem)
        assert resp.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        data: list[str] = []
        async for line in resp.aiter_lines():
            if line.startswith(":"):
                continue  # keep-alive comment
            if line:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    data.append(value)
                else:
                    fields[name] = value
                continue
            if data or fields:
                events.append(SseEvent(fields.get("id"), fields.get("event"),
                                       json.loads("\n".join(data)) if data else None,
                                       int(fields["retry"]) if "retry" in fields else None))
                fields, data = {}, []
                if stop is not None and stop(events):
                    return SseResult(200, events, False, resp.headers)
        return SseResult(200, events, True, resp.headers)
