"""``Idempotency-Key`` on creating POSTs, enforced in the owning service's transaction, keyed by caller + key.

A retry with the same key and body gets the first answer again and creates nothing; the same key with
another body is 422. Records expire after ``RETENTION`` (stated in the API docs)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from shared.outbox import UnitOfWork
from shared.problems import Problem
from shared.records import IdempotencyRecord, utcnow

RETENTION = timedelta(hours=24)
KEY_HEADER = "Idempotency-Key"


def _key(value: str | None) -> str:
    if not value:
        raise Problem(400, "Idempotency-Key required",
                      "send an Idempotency-Key header (a fresh UUID per submission) with every creating POST",
                      code="idempotency_key_missing")
    if len(value) > 200:
        raise Problem(400, "Idempotency-Key too long", "at most 200 characters", code="idempotency_key_invalid")
    return value


def require_idempotency_key(idempotency_key: Annotated[str | None, Header(alias=KEY_HEADER)] = None) -> str:
    """FastAPI dependency: the request's Idempotency-Key, or 400."""
    return _key(idempotency_key)


IdempotencyKey = Annotated[str, Header(alias=KEY_HEADER)]


def request_fingerprint(payload: Any) -> str:
    """A stable hash of the request body (key order does not matter)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


@dataclass
class Replay:
    status_code: int
    body: Any


async def find_replay(session: Any, caller: str, key: str, fingerprint: str) -> Replay | None:
    """The stored first answer for this caller and key, or None; 422 when the key came with another body."""
    record = await session.get(IdempotencyRecord, (caller, key))
    if record is None:
        return None
    if record.expires_at <= utcnow():
        await session.delete(record)
        await session.flush()
        return None
    if record.request_hash != fingerprint:
        raise Problem(422, "Idempotency-Key reused", "this Idempotency-Key was used with a different request body",
                      code="idempotency_key_reused")
    return Replay(record.status_code, json.loads(record.response_body))


def remember(session: Any, caller: str, key: str, fingerprint: str, status_code: int, body: Any,
             resource_id: str | None) -> None:
    """Store the answer in the creating transaction, so the resource and its key commit together."""
    session.add(
        IdempotencyRecord(
            caller=caller,
            key=key,
            request_hash=fingerprint,
            status_code=status_code,
            response_body=json.dumps(body, ensure_ascii=False, default=str),
            resource_id=resource_id,
            expires_at=utcnow() + RETENTION,
        )
    )


@dataclass
class Created:
    """What a creating POST answers: the status, the body, and the id of what it created."""

    status_code: int
    body: Any
    resource_id: str | None


async def create_once(
    uow_factory: Callable[[], UnitOfWork],
    caller: str,
    key: str,
    payload: Any,
    create: Callable[[UnitOfWork], Awaitable[Created]],
    *,
    on_conflict: Callable[[], Problem],
) -> JSONResponse:
    """Run a creating POST once per caller and ``Idempotency-Key``, in one transaction with its key.

    A retry with the same key and body replays the first answer; ``create`` runs in a unit of work that
    already holds the key (so a concurrent retry waits on it rather than racing) and may raise a Problem
    to refuse. When the commit hits a unique constraint, the attempt is repeated once — a concurrent twin
    with the same key is then replayed — and a second clash is answered with ``on_conflict()``.
    """
    fingerprint = request_fingerprint(payload)
    for attempt in range(2):
        async with uow_factory() as uow:
            replay = await find_replay(uow.session, caller, key, fingerprint)
            if replay is not None:
                return JSONResponse(replay.body, status_code=replay.status_code)
            try:
                await _hold_key(uow, caller, key, fingerprint)
                created = await create(uow)
                await _release_key(uow, caller, key)
                remember(uow.session, caller, key, fingerprint, created.status_code, created.body,
                         created.resource_id)
                await uow.commit()
            except IntegrityError:
                if attempt == 0:
                    continue
                raise on_conflict() from None
            return JSONResponse(created.body, status_code=created.status_code)
    raise on_conflict()


async def _hold_key(uow: UnitOfWork, caller: str, key: str, fingerprint: str) -> None:
    uow.session.add(IdempotencyRecord(caller=caller, key=key, request_hash=fingerprint, status_code=0,
                                      response_body="{}", expires_at=utcnow()))
    await uow.session.flush()


async def _release_key(uow: UnitOfWork, caller: str, key: str) -> None:
    record = await uow.session.get(IdempotencyRecord, (caller, key))
    assert record is not None
    await uow.session.delete(record)
    await uow.session.flush()
