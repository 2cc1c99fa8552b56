"""Durable timers: a period (public notice, creditor announcement, suspension end) is a ``timer`` row with a
due time, written in the same transaction as the state that started it, and fired by a sweeper.

A timer fires in its own transaction together with its effect and the ``fired_at`` mark, after locking and
re-reading the row: however many sweepers run and however often a process dies, each timer's effect is
committed exactly once. A handler that fails leaves the timer due, so the next sweep tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from shared.outbox import UnitOfWork
from shared.records import Timer, new_row, utcnow

if TYPE_CHECKING:
    from shared.service import ServiceRuntime, Sweep

log = logging.getLogger("onestop.timers")

# What a timer does when it comes due; runs inside the unit of work that marks it fired.
TimerHandler = Callable[[UnitOfWork, Timer], Awaitable[None]]


def schedule(session: AsyncSession, kind: str, target_id: str, due_at: datetime,
             payload: Mapping[str, Any] | None = None) -> Timer:
    """Add a timer in the caller's transaction (it exists only if that transaction commits)."""
    timer = new_row(Timer, kind=kind, target_id=target_id, due_at=due_at, payload=dict(payload or {}))
    session.add(timer)
    return timer


async def pending(session: AsyncSession, target_id: str, kind: str | None = None) -> list[Timer]:
    """The timers of a target that have neither fired nor been cancelled, soonest first."""
    query = select(Timer).where(
        Timer.target_id == target_id,
        Timer.fired_at.is_(None),  # type: ignore[union-attr]
        Timer.cancelled_at.is_(None),  # type: ignore[union-attr]
    )
    if kind is not None:
        query = query.where(Timer.kind == kind)
    return list((await session.execute(query.order_by(Timer.due_at))).scalars())  # type: ignore[arg-type]


async def cancel(session: AsyncSession, target_id: str, kind: str | None = None,
                 *, now: datetime | None = None) -> int:
    """Cancel a target's pending timers (of one kind, or all) in the caller's transaction; returns how many."""
    now = now or utcnow()
    timers = await pending(session, target_id, kind)
    for timer in timers:
        timer.cancelled_at = now
    return len(timers)


_TIMERS_OF = select(Timer).where(Timer.target_id == sa.bindparam("target_id")).order_by(
    Timer.created_at)  # type: ignore[arg-type]


async def timers_of(session: AsyncSession, target_id: str) -> list[Timer]:
    """Every timer a target ever had, oldest first (what an application shows of its periods)."""
    rows = await session.execute(_TIMERS_OF, {"target_id": target_id})
    return list(rows.scalars())


async def fire_due(uow_factory: Callable[[], UnitOfWork], handlers: Mapping[str, TimerHandler], *,
                   now: datetime | None = None, limit: int = 100) -> int:
    """Fire every due timer whose kind has a handler, each in its own transaction; returns how many fired."""
    now = now or utcnow()
    async with uow_factory() as uow:
        rows = await uow.session.execute(
            select(Timer.id)
            .where(
                Timer.fired_at.is_(None),  # type: ignore[union-attr]
                Timer.cancelled_at.is_(None),  # type: ignore[union-attr]
                Timer.due_at <= now,
                Timer.kind.in_(list(handlers)),  # type: ignore[attr-defined]
            )
            .order_by(Timer.due_at)  # type: ignore[arg-type]
            .limit(limit)
        )
        due_ids = list(rows.scalars())
    fired = 0
    for timer_id in due_ids:
        try:
            fired += await _fire_one(uow_factory, handlers, timer_id)
        except Exception:
            # One broken timer must not hold back the others; it stays due and is retried next sweep.
            log.exception("timer failed, will retry", extra={"timer_id": timer_id})
    return fired


async def _fire_one(uow_factory: Callable[[], UnitOfWork], handlers: Mapping[str, TimerHandler],
                    timer_id: str) -> int:
    async with uow_factory() as uow:
        # Re-read under a row lock: another sweeper (or this one before a crash) may have fired it already.
        # skip_locked lets a second replica move on instead of waiting; SQLite ignores it and serialises writers.
        timer = (await uow.session.execute(
            select(Timer).where(Timer.id == timer_id).with_for_update(skip_locked=True)
        )).scalar_one_or_none()
        if timer is None or timer.fired_at is not None or timer.cancelled_at is not None:
            return 0
        # Marked first, in the same transaction: a handler that cancels its target's pending timers then
        # leaves this one alone.
        timer.fired_at = utcnow()
        await uow.session.flush()
        await handlers[timer.kind](uow, timer)
        await uow.commit()
        log.info("timer fired", extra={"timer_id": timer.id, "kind": timer.kind, "target_id": timer.target_id})
        return 1


def timer_sweep(handlers: Mapping[str, TimerHandler]) -> Sweep:
    """A sweep for ``create_service_app(sweeps=...)`` that fires this service's due timers."""

    async def fire_due_timers(runtime: ServiceRuntime) -> int:
        return await fire_due(runtime.uow, handlers)

    return fire_due_timers
