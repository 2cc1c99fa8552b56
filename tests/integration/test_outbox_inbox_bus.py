"""The outbox relay, the inbox and the bus against a real nats-server and a real database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
import sqlalchemy as sa
from nats.aio.msg import Msg

from shared.bus import Bus, ConsumerSpec, PoisonMessage, TransientError
from shared.db import create_engine, create_sessionmaker, migrate_async
from shared.events import TASKS_STREAM, CloudEvent, TaskOverdue, make_event
from shared.outbox import MAX_EVENT_BYTES, OutboxRelay, UnitOfWork
from shared.records import DeadLetter, InboxMessage, OutboxMessage, TaskDecision
from shared.refusals import TooLarge
from tests.support import Databases, NatsServer, eventually


def overdue_event() -> CloudEvent:
    data = TaskOverdue(task_id=str(uuid.uuid4()), application_id=str(uuid.uuid4()), service="registration",
                       department="samr", due_at=datetime(2026, 11, 30, tzinfo=UTC))
    return make_event("registration.task.overdue", data, source_service="registration")


@pytest.fixture
async def maker(databases: Databases) -> AsyncIterator[object]:
    url = databases.new("outbox")
    await migrate_async("registration", url)
    engine = create_engine(url)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    bus = Bus(nats_server.url, name=f"test-{uuid.uuid4().hex[:6]}", seed=nats_server.seed())
    await bus.connect()
    yield bus
    await bus.close()


async def stream_ids(bus: Bus, subject: str) -> list[str]:
    """Event ids stored in the stream under ``subject`` (read with an ephemeral consumer)."""
    sub = await bus.js.subscribe(subject, ordered_consumer=True)
    ids = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            ids.append(CloudEvent.model_validate_json(msg.data).id)
    except nats.errors.TimeoutError:
        pass
    await sub.unsubscribe()
    return ids


async def test_relay_publishes_committed_events_only_and_resumes(maker, bus: Bus) -> None:
    subject = f"registration.task.overdue.{uuid.uuid4().hex[:8]}"
    committed = [overdue_event() for _ in range(5)]
    async with UnitOfWork(maker) as uow:
        for event in committed:
            uow.emit(subject, event)
        await uow.commit()
    async with UnitOfWork(maker) as uow:  # rolled back: never published
        uow.emit(subject, overdue_event())

    relay = OutboxRelay(maker, bus, batch_size=2)
    relay.start()
    await eventually(lambda: _unsent(maker), what="the outbox to drain")
    await relay.stop()
    assert await stream_ids(bus, subject) == [e.id for e in committed]

    # A relay that died after publishing but before marking: the rows go out again, JetStream drops them.
    async with maker() as session, session.begin():
        await session.execute(sa.update(OutboxMessage).values(sent_at=None))
    relay = OutboxRelay(maker, bus)
    assert await relay.publish_pending() == 5
    assert await stream_ids(bus, subject) == [e.id for e in committed]


async def test_two_relays_on_one_outbox_publish_each_event_once_and_in_order(maker, bus: Bus) -> None:  # type: ignore[no-untyped-def]
    # Two replicas of a service: two relays on one database, woken by commits while the other publishes.
    subject = f"registration.task.overdue.{uuid.uuid4().hex[:8]}"
    relays = [OutboxRelay(maker, bus, batch_size=3, idle_seconds=0.05) for _ in range(2)]
    committed = []

    async def commit(count: int) -> None:
        for i in range(count):
            async with UnitOfWork(maker, relays[i % 2]) as uow:
                for _ in range(2):
                    event = overdue_event()
                    uow.emit(subject, event)
                    committed.append(event.id)
                await uow.commit()

    await commit(30)  # a backlog both find when they start (as after a broker outage)...
    try:
        for relay in relays:
            relay.start()
        await commit(30)  # ...and new events while they work through it
        await eventually(lambda: _unsent(maker), what="the outbox to drain")
    finally:
        for relay in relays:
            await relay.stop()
    # On the stream in the order they were committed, each once.
    assert await stream_ids(bus, subject) == committed


async def _unsent(maker) -> bool:
    async with maker() as session:
        count = (await session.execute(
            sa.select(sa.func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        )).scalar_one()
    return count == 0


async def test_inbox_applies_each_event_once(maker) -> None:
    async with UnitOfWork(maker) as uow:
        assert await uow.already_handled("consumer-a", "event-1") is False
        await uow.commit()
    async with UnitOfWork(maker) as uow:
        assert await uow.already_handled("consumer-a", "event-1") is True
        assert await uow.already_handled("consumer-b", "event-1") is False
        await uow.commit()
    async with maker() as session:
        rows = (await session.execute(sa.select(InboxMessage))).scalars().all()
    assert sorted((r.consumer, r.event_id) for r in rows) == [("consumer-a", "event-1"), ("consumer-b", "event-1")]


async def test_a_failed_savepoint_takes_back_its_events_and_inbox_rows(maker, bus: Bus) -> None:  # type: ignore[no-untyped-def]
    """What a savepoint that raised emitted or recorded in the inbox is undone with it; what came before and
    after it in the same transaction is published, in the order emitted."""
    subject = f"registration.task.overdue.{uuid.uuid4().hex[:8]}"
    before, inside, after = overdue_event(), overdue_event(), overdue_event()
    async with UnitOfWork(maker) as uow:
        uow.emit(subject, before)
        with pytest.raises(TransientError):
            async with uow.savepoint():
                assert await uow.already_handled("consumer-s", inside.id) is False
                uow.emit(subject, inside)
                raise TransientError("undone")
        async with uow.savepoint():
            uow.emit(subject, after)
        await uow.commit()
    assert await OutboxRelay(maker, bus).publish_pending() == 2
    assert await stream_ids(bus, subject) == [before.id, after.id]
    async with UnitOfWork(maker) as uow:  # the event is new to the inbox: its first recording was undone
        assert await uow.already_handled("consumer-s", inside.id) is False
        assert await uow.already_handled("consumer-s", inside.id) is True


async def test_appended_rows_are_written_at_commit_and_undone_with_their_savepoint(maker) -> None:  # type: ignore[no-untyped-def]
    """Rows appended to an audit table (``UnitOfWork.append``) are written with the commit, one statement for
    all; those appended in a savepoint that raised are not; a unit left without commit writes none."""
    task_id = uuid.uuid4().hex
    decisions: sa.Table = TaskDecision.__table__  # type: ignore[attr-defined]

    def decision(round_: int, outcome: str) -> dict[str, object]:
        now = datetime.now(UTC)
        return {"id": uuid.uuid4().hex, "task_id": task_id, "application_id": "app", "department": "tax",
                "round": round_, "outcome": outcome, "comment": None, "outputs": {"round": round_},
                "decided_by": "officer", "channel": "nats", "decided_at": now, "recorded_at": now}

    async with UnitOfWork(maker) as uow:
        uow.append(decisions, decision(9, "approved"))  # never committed
    async with UnitOfWork(maker) as uow:
        uow.append(decisions, decision(1, "returned"))
        with pytest.raises(TransientError):
            async with uow.savepoint():
                uow.append(decisions, decision(2, "rejected"))
                raise TransientError("undone")
        async with uow.savepoint():
            uow.append(decisions, decision(3, "approved"))
        await uow.commit()
    async with maker() as session:  # type: ignore[operator]
        rows = (await session.execute(sa.select(decisions.c["round"], decisions.c.outcome, decisions.c.outputs)
                                      .where(decisions.c.task_id == task_id)
                                      .order_by(decisions.c["round"]))).all()
    assert [tuple(r) for r in rows] == [(1, "returned", {"round": 1}), (3, "approved", {"round": 3})]


async def test_consumer_retries_transient_and_terminates_poison(bus: Bus, nats_server: NatsServer) -> None:
    tag = uuid.uuid4().hex[:8]
    attempts: dict[str, int] = {}
    handled: list[str] = []

    async def handler(event: CloudEvent, _msg: Msg) -> None:
        attempts[event.id] = attempts.get(event.id, 0) + 1
        if event.data.get("kind") == "poison":
            raise PoisonMessage("never valid")
        if event.data.get("kind") == "flaky" and attempts[event.id] < 3:
            raise TransientError("database busy")
        handled.append(event.id)

    bus.consume(ConsumerSpec(durable=f"test-{tag}", stream=TASKS_STREAM, filter_subjects=[f"task.test.{tag}.>"],
                             handler=handler, nak_delay=0.05))
    nc = await nats_server.connect()
    js = nc.jetstream()
    events = {kind: CloudEvent(source="/test", type="test", data={"kind": kind}) for kind in ("ok", "flaky", "poison")}
    for kind, event in events.items():
        await js.publish(f"task.test.{tag}.{kind}", event.model_dump_json().encode(),
                         headers={"Nats-Msg-Id": event.id})
    await js.publish(f"task.test.{tag}.garbage", b"not json at all")

    async def settled() -> bool:
        info = await js.consumer_info(TASKS_STREAM, f"test-{tag}")
        return len(handled) == 2 and info.num_ack_pending == 0 and info.num_pending == 0

    await eventually(settled, what="the consumer to settle")
    await nc.close()
    assert sorted(handled) == sorted([events["ok"].id, events["flaky"].id])
    assert attempts[events["flaky"].id] == 3  # redelivered after each nak, then done
    assert attempts[events["poison"].id] == 1  # terminated, never redelivered


async def test_publish_is_deduplicated_by_event_id(bus: Bus) -> None:
    subject = f"registration.task.overdue.{uuid.uuid4().hex[:8]}"
    event = overdue_event()
    for _ in range(3):
        await bus.publish(subject, event.model_dump_json().encode(), event.id)
    await asyncio.sleep(0)
    assert await stream_ids(bus, subject) == [event.id]


@pytest.mark.parametrize("claimed", [False, True], ids=["inbox-per-message", "inbox-claimed-per-batch"])
async def test_a_batch_commits_once_and_one_bad_message_fails_only_itself(maker, bus: Bus,  # type: ignore[no-untyped-def]
                                                                           nats_server: NatsServer,
                                                                           claimed: bool) -> None:
    """Batch mode: the messages of one fetch share one transaction, each in its own savepoint; the effects of
    the good ones commit although a poison and a flaky one sit in the same batch (their own effects are rolled
    back to their savepoints); the flaky one is applied once; the poison one never, and is not delivered again.
    The same when the batch records its events in the inbox in one statement first (``inbox``)."""
    tag = uuid.uuid4().hex[:8]
    consumer = f"batch-{tag}"
    attempts: dict[str, int] = {}
    deliveries: dict[str, int] = {}

    async def in_unit(uow: UnitOfWork, event: CloudEvent, msg: Msg) -> None:
        attempts[event.id] = attempts.get(event.id, 0) + 1
        deliveries[event.id] = max(deliveries.get(event.id, 0), msg.metadata.num_delivered or 0)
        if await uow.already_handled(consumer, event.id):  # the effect: an inbox row, rolled back on failure
            return
        if event.data.get("kind") == "poison":
            raise PoisonMessage("never valid")
        if event.data.get("kind") == "flaky" and attempts[event.id] < 2:
            raise TransientError("database busy")

    async def single(event: CloudEvent, msg: Msg) -> None:
        async with UnitOfWork(maker) as uow:
            await in_unit(uow, event, msg)
            await uow.commit()

    bus.consume(ConsumerSpec(durable=consumer, stream=TASKS_STREAM, filter_subjects=[f"task.test.{tag}.>"],
                             handler=single, unit=lambda: UnitOfWork(maker), in_unit=in_unit, nak_delay=0.05,
                             inbox=consumer if claimed else None))
    nc = await nats_server.connect()
    js = nc.jetstream()
    events = [CloudEvent(source="/test", type="test", data={"kind": kind})
              for kind in ("ok", "poison", "ok", "flaky", "ok")]
    for event in events:
        await js.publish(f"task.test.{tag}.{event.data['kind']}", event.model_dump_json().encode(),
                         headers={"Nats-Msg-Id": event.id})

    async def settled() -> bool:
        info = await js.consumer_info(TASKS_STREAM, consumer)
        return info.num_ack_pending == 0 and info.num_pending == 0 and len(attempts) == len(events)

    await eventually(settled, what="the batch consumer to settle")
    await nc.close()
    async with maker() as session:
        rows = (await session.execute(sa.select(InboxMessage.event_id).where(InboxMessage.consumer == consumer)))
        applied = set(rows.scalars())
    good = {e.id for e in events if e.data["kind"] in ("ok", "flaky")}
    assert applied == good
    poison = next(e for e in events if e.data["kind"] == "poison")
    assert deliveries[poison.id] == 1


async def test_an_error_caught_inside_a_batch_handler_still_undoes_its_savepoint(  # type: ignore[no-untyped-def]
        maker, bus: Bus, nats_server: NatsServer) -> None:
    """A handler that catches the error of its own savepoint block (a late department answer) keeps what it
    wrote outside the block and loses what it wrote inside, for that message only, in a batch of several:
    the batch's first run, without savepoints, must not commit the block's half-done writes."""
    tag = uuid.uuid4().hex[:8]
    consumer = f"caught-{tag}"

    async def in_unit(uow: UnitOfWork, event: CloudEvent, _msg: Msg) -> None:
        if await uow.already_handled(consumer, event.id):
            return
        try:
            async with uow.savepoint():
                await uow.already_handled(f"{consumer}-inside", event.id)
                uow.emit(f"task.test.{tag}.effect", CloudEvent(source="/test", type="effect", data={}))
                if event.data["kind"] == "conflict":
                    raise ValueError("the task is no longer open")
        except ValueError:
            pass

    async def single(event: CloudEvent, msg: Msg) -> None:
        async with UnitOfWork(maker) as uow:
            await in_unit(uow, event, msg)
            await uow.commit()

    bus.consume(ConsumerSpec(durable=consumer, stream=TASKS_STREAM, filter_subjects=[f"task.test.{tag}.in.>"],
                             handler=single, unit=lambda: UnitOfWork(maker), in_unit=in_unit, own_savepoint=True))
    nc = await nats_server.connect()
    js = nc.jetstream()
    events = [CloudEvent(source="/test", type="test", data={"kind": kind}) for kind in ("ok", "conflict", "ok")]
    for event in events:
        await js.publish(f"task.test.{tag}.in.{event.data['kind']}", event.model_dump_json().encode(),
                         headers={"Nats-Msg-Id": event.id})

    async def settled() -> bool:
        info = await js.consumer_info(TASKS_STREAM, consumer)
        return info.num_ack_pending == 0 and info.num_pending == 0

    await eventually(settled, what="the batch consumer to settle")
    await nc.close()
    async with maker() as session:
        def handled(name: str) -> sa.Select[tuple[str]]:
            return sa.select(InboxMessage.event_id).where(InboxMessage.consumer == name)  # type: ignore[arg-type]

        outside = set((await session.execute(handled(consumer))).scalars())
        inside = set((await session.execute(handled(f"{consumer}-inside"))).scalars())
        effects = (await session.execute(sa.select(sa.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.subject == f"task.test.{tag}.effect"))).scalar_one()  # type: ignore[arg-type]
    assert outside == {e.id for e in events}
    assert inside == {e.id for e in events if e.data["kind"] == "ok"}
    assert effects == 2


async def test_an_event_too_large_is_refused_at_emit_and_one_already_stored_is_dead_lettered(  # type: ignore[no-untyped-def]
        maker, bus: Bus) -> None:
    """An oversized event never blocks the ones behind it: refused when emitted (413), and one stored before
    the cap existed is moved to the dead letters while the next event is published."""
    subject = f"registration.task.overdue.{uuid.uuid4().hex[:8]}"
    huge = CloudEvent(source="/onestop/registration", type="cn.gov.jiangmen.onestop.registration.task.overdue",
                      data={"blob": "x" * (MAX_EVENT_BYTES + 1)})
    async with UnitOfWork(maker) as uow:
        with pytest.raises(TooLarge):
            uow.emit(subject, huge)
    behind = overdue_event()
    async with maker() as session, session.begin():  # as an older release (without the cap) stored it
        session.add(OutboxMessage(event_id=huge.id, subject=subject, payload=huge.model_dump_json()))
    async with UnitOfWork(maker) as uow:
        uow.emit(subject, behind)
        await uow.commit()

    assert await OutboxRelay(maker, bus).publish_pending() >= 2
    assert await stream_ids(bus, subject) == [behind.id]
    async with maker() as session:
        dead = (await session.execute(sa.select(DeadLetter))).scalars().all()
    assert [(d.event_id, d.subject) for d in dead] == [(huge.id, subject)]
    assert dead[0].size_bytes > MAX_EVENT_BYTES and "limit" in dead[0].reason
    assert await _unsent(maker)


async def test_a_bus_whose_first_attempts_failed_publishes_once_connected(  # type: ignore[no-untyped-def]
        tmp_path, caplog) -> None:
    """The streams cannot be created at first (here a stream of someone else's holds the subjects; in a cluster,
    JetStream not ready yet): the bus connects, fails, closes and tries again. Once it gets through, publishing
    works at once; the closed attempts must not leave it believing the connection is down."""
    with NatsServer(tmp_path / "nats") as server:
        nc = await server.connect()
        js = nc.jetstream()
        await js.add_stream(name="SOMEONE_ELSES", subjects=["registration.>"])
        bus = Bus(server.url, name="late-streams", seed=server.seed())
        connecting = asyncio.create_task(bus.connect())
        try:
            async def refused_at_least_twice() -> bool:
                failed = [r for r in caplog.records if r.getMessage() == "bus connect failed, retrying"]
                return connecting.done() or len(failed) >= 2

            await eventually(refused_at_least_twice, what="the bus to try and fail to create its streams")
            assert not connecting.done()
            await js.delete_stream("SOMEONE_ELSES")
            await asyncio.wait_for(connecting, 30)
            event = CloudEvent(source="/test", type="test", data={})
            await asyncio.wait_for(bus.publish_many([("registration.application.in_progress",
                                                      event.model_dump_json().encode(), event.id, None)]), 10)
            assert await stream_ids(bus, "registration.application.in_progress") == [event.id]
        finally:
            connecting.cancel()
            await bus.close()
            await nc.close()


async def test_a_claimed_batch_hands_each_new_event_out_once(maker) -> None:  # type: ignore[no-untyped-def]
    """``claim`` records a batch's events in one statement; ``already_handled`` then says new exactly once for
    each event not handled before (a copy of it later in the batch is old), and old for one handled before."""
    consumer = f"claim-{uuid.uuid4().hex[:8]}"
    async with UnitOfWork(maker) as uow:
        assert not await uow.already_handled(consumer, "handled-before")
        await uow.commit()
    async with UnitOfWork(maker) as uow:
        uow.savepoints = False
        await uow.claim(consumer, ["handled-before", "new", "new", "also-new"])
        seen = [await uow.already_handled(consumer, e) for e in ("handled-before", "new", "new", "also-new")]
        # An event the batch did not claim is recorded by a statement of its own, as without a claim.
        assert not await uow.already_handled(consumer, "unclaimed")
        assert await uow.already_handled(consumer, "unclaimed")
        await uow.commit()
    assert seen == [True, False, True, False]
    async with maker() as session:
        rows = await session.execute(sa.select(InboxMessage.event_id).where(InboxMessage.consumer == consumer))
        assert sorted(rows.scalars()) == ["also-new", "handled-before", "new", "unclaimed"]
