"""``Idempotency-Key`` on creating POSTs, enforced in the owning service's transaction, keyed by caller + key.

A retry with the same key and body gets the first answer again and creates nothing; the same key with
another body is 422; a retry while the first request is still being processed is 409 (retry it later to get
the first answer). Records expire after ``RETENTION`` (stated in the API docs).

"Still being processed" is known without waiting: within a process by the keys its requests hold, and
across processes on PostgreSQL by a transaction-scoped advisory lock on the key, taken without waiting
(``pg_try_advisory_xact_lock``) and released by the commit or rollback, or when a crashed process's
connection drops. On SQLite, a second service process with the same database waits for the first
transaction instead (SQLite has one writer at a time) and then replays its answer. Either way the primary
key on (caller, key) is the last word: one creation per key, whatever the timing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import pydantic_core
import sqlalchemy as sa
from fastapi import Depends, Header
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from shared.outbox import UnitOfWork
from shared.problems import Problem
from shared.records import IdempotencyRecord, new_row, utcnow

RETENTION = timedelta(hours=24)
KEY_HEADER = "Idempotency-Key"
# On a replayed answer: the client can tell its retry created nothing, and the service counts replays.
REPLAYED_HEADER = "Idempotent-Replayed"


def _key(value: str | None) -> str:
    if not value:
        raise Problem(400, "Idempotency-Key required",
                      "send an Idempotency-Key header (a fresh UUID per submission) with every creating POST",
                      code="idempotency_key_missing")
    if len(value) > 200:
        raise Problem(400, "Idempotency-Key too long", "at most 200 characters", code="idempotency_key_invalid")
    return value


KEY_DESCRIPTION = (
    "A fresh UUID per submission, required (400 without). The same key with the same body replays the first "
    f"answer (marked `{REPLAYED_HEADER}: true`) and creates nothing; with another body it is 422; while the "
    "first request with it is still being processed it is 409 (retry shortly). Kept per caller for "
    f"{int(RETENTION.total_seconds() // 3600)} hours."
)


async def require_idempotency_key(
    idempotency_key: Annotated[str | None, Header(alias=KEY_HEADER, description=KEY_DESCRIPTION)] = None,
) -> str:
    """FastAPI dependency: the request's Idempotency-Key, or 400."""
    return _key(idempotency_key)


# The one way a route takes the key: ``key: IdempotencyKey``.
IdempotencyKey = Annotated[str, Depends(require_idempotency_key)]


def request_fingerprint(payload: Any) -> str:
    """A stable hash of the request body (key order does not matter)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


@dataclass
class Replay:
    status_code: int
    body: bytes  # the first answer's JSON, as it was sent


class EncodedJSONResponse(JSONResponse):
    """A JSON answer given already encoded (bytes), sent as it is."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


_RECORDS = IdempotencyRecord.__table__  # type: ignore[attr-defined]
_THIS_KEY = (_RECORDS.c.caller == sa.bindparam("caller")) & (_RECORDS.c.key == sa.bindparam("key"))
_RECORD_OF_KEY = sa.select(_RECORDS.c.request_hash, _RECORDS.c.status_code, _RECORDS.c.response_body,
                           _RECORDS.c.expires_at).where(_THIS_KEY)
_FORGET_KEY = sa.delete(_RECORDS).where(_THIS_KEY)


async def find_replay(session: Any, caller: str, key: str, fingerprint: str) -> Replay | None:
    """The stored first answer for this caller and key, or None; 422 when the key came with another body."""
    # On the connection: a row read, no object to track (most keys are new, and nothing is pending yet).
    connection = await session.connection()
    this_key = {"caller": caller, "key": key}
    record = (await connection.execute(_RECORD_OF_KEY, this_key)).first()
    if record is None:
        return None
    if record.expires_at <= utcnow():
        await connection.execute(_FORGET_KEY, this_key)
        return None
    if record.request_hash != fingerprint:
        raise Problem(422, "Idempotency-Key reused", "this Idempotency-Key was used with a different request body",
                      code="idempotency_key_reused")
    return Replay(record.status_code, record.response_body.encode())


def remember(session: Any, caller: str, key: str, fingerprint: str, status_code: int, body: bytes,
             resource_id: str | None) -> None:
    """Store the answer (its JSON, as sent) in the creating transaction, so the resource and its key commit
    together."""
    session.add(
        new_row(
            IdempotencyRecord,
            caller=caller,
            key=key,
            request_hash=fingerprint,
            status_code=status_code,
            response_body=body.decode(),
            resource_id=resource_id,
            expires_at=utcnow() + RETENTION,
        )
    )


async def purge_expired(session: Any, now: Any = None) -> int:
    """Delete the answers kept past ``RETENTION`` (a key that old counts as new anyway); returns how many."""
    result = await session.execute(sa.delete(IdempotencyRecord).where(
        IdempotencyRecord.expires_at < (now or utcnow())))  # type: ignore[arg-type]
    return int(result.rowcount or 0)


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

    A retry with the same key and body replays the first answer, and one while the first is still being
    processed is 409; ``create`` runs in a unit of work that already holds the key and may raise a Problem
    to refuse. When the commit hits a unique constraint, the attempt is repeated once — a concurrent twin
    with the same key is then replayed — and a second clash is answered with ``on_conflict()``.
    """
    fingerprint = request_fingerprint(payload)
    async with _held_here(caller, key):
        return await _create_once(uow_factory, caller, key, fingerprint, create, on_conflict)


async def _create_once(uow_factory: Callable[[], UnitOfWork], caller: str, key: str, fingerprint: str,
                       create: Callable[[UnitOfWork], Awaitable[Created]],
                       on_conflict: Callable[[], Problem]) -> JSONResponse:
    for attempt in range(2):
        async with uow_factory() as uow:
            await _hold_across_processes(uow.session, caller, key)
            replay = await find_replay(uow.session, caller, key, fingerprint)
            if replay is not None:
                return EncodedJSONResponse(replay.body, status_code=replay.status_code,
                                           headers={REPLAYED_HEADER: "true"})
            try:
                created = await create(uow)
                # The key is claimed by the answer itself, in one INSERT: the lock above (PostgreSQL) or the
                # write lock (SQLite) keeps a twin out meanwhile, and its primary key is the last word.
                # Encoded once, for the answer and for its replays alike.
                body = pydantic_core.to_json(created.body)
                remember(uow.session, caller, key, fingerprint, created.status_code, body, created.resource_id)
                await uow.commit()
            except IntegrityError:
                if attempt == 0:
                    continue
                raise on_conflict() from None
            return EncodedJSONResponse(body, status_code=created.status_code)
    raise on_conflict()


# (caller, key) of the creating requests this process is working on.
_in_flight: set[tuple[str, str]] = set()


def in_flight_problem() -> Problem:
    """The 409 for a retry that arrives while the first request with its key is still being processed."""
    return Problem(409, "Idempotency-Key in use",
                   "a request with this Idempotency-Key is still being processed; retry shortly to get its answer",
                   code="idempotency_key_in_flight", headers={"Retry-After": "1"})


@asynccontextmanager
async def _held_here(caller: str, key: str) -> AsyncIterator[None]:
    # Checked before any transaction starts: on SQLite a second request would otherwise queue for the
    # write lock behind the first and only find out afterwards.
    if (caller, key) in _in_flight:
        raise in_flight_problem()
    _in_flight.add((caller, key))
    try:
        yield
    finally:
        _in_flight.discard((caller, key))


def advisory_lock_id(caller: str, key: str) -> int:
    """The 64-bit PostgreSQL advisory lock id of a caller's key."""
    digest = hashlib.blake2b(f"idempotency\0{caller}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _hold_across_processes(session: Any, caller: str, key: str) -> None:
    if session.bind.dialect.name != "postgresql":
        return
    held = await session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(advisory_lock_id(caller, key))))
    if not held:
        raise in_flight_problem()
