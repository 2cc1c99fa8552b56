"""``Idempotency-Key`` on creating POSTs, enforced in the owning service's transaction, keyed by caller + key.

A retry with the same key and body gets the first answer again and creates nothing; the same key with
another body is 422. Records expire after ``RETENTION`` (stated in the API docs)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header

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
