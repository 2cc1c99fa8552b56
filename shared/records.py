"""SQLModel tables every service owns a copy of, in its own database.

The migrations create them (``shared.schema_history``); the drift test holds these declarations to what the
migrations make, lengths and indexes included."""

from __future__ import annotations

import copy
import functools
import inspect
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class AwareDateTime(sa.TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone itself)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


T = TypeVar("T")


def row_default(make: Callable[[], T]) -> Callable[[], T]:
    """``make`` as a table column's ``default_factory``, its signature told up front.

    Each time a row object is built, pydantic asks of every default factory whether it takes the validated
    data, with ``inspect.signature``: for ``list`` that parses its text signature, about 65 µs a field, a
    millisecond of CPU per opening for its six tasks alone. A callable carrying ``__signature__`` is answered
    at once."""
    def made() -> T:
        return make()

    made.__signature__ = inspect.Signature()  # type: ignore[attr-defined]
    made.__name__ = made.__qualname__ = getattr(make, "__name__", "row_default")
    made.__doc__ = make.__doc__
    return made


# The defaults of JSON list and object columns (``Field(default_factory=empty_list, sa_type=sa.JSON)``).
empty_list: Callable[[], list[Any]] = row_default(list)
empty_dict: Callable[[], dict[str, Any]] = row_default(dict)


@row_default
def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (what every timestamp column stores)."""
    return datetime.now(UTC)


@row_default
def new_id() -> str:
    """A fresh internal id (UUID4 text)."""
    return str(uuid.uuid4())


M = TypeVar("M", bound=SQLModel)


@functools.cache
def _fields_of(model: type[SQLModel]) -> tuple[frozenset[str], tuple[tuple[str, Any, bool], ...]]:
    """A table model's field names, and for each field with a default: its name, the default (or its factory),
    and whether it is a factory. The mappers are configured first, as a model's constructor would: until they
    are, its attributes are not instrumented."""
    sa.orm.configure_mappers()
    defaults = []
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            defaults.append((name, field.default_factory, True))
        elif not field.is_required():
            defaults.append((name, field.default, False))
    return frozenset(model.model_fields), tuple(defaults)


def new_row(model: type[M], **values: Any) -> M:
    """A new row object of a table model, as ``model(**values)`` makes it: each field not given takes its
    default, and ``session.add`` makes it a pending INSERT.

    For rows built on the hot path (an application's tasks, its record, its enterprise and licence). The
    values go straight into the object's state, where the INSERT reads them, rather than one field at a
    time through pydantic's ``__setattr__`` and SQLAlchemy's attribute events: 80 of the 85 µs a task took.
    Not for an object already in a session. ``TypeError`` for a name that is not a field."""
    names, defaults = _fields_of(model)
    unknown = values.keys() - names
    if unknown:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    row: M = sa.inspect(model).class_manager.new_instance()
    state = row.__dict__
    for name, default, is_factory in defaults:
        if name in values:
            continue
        if is_factory:
            state[name] = default()
        else:
            # A mutable plain default is copied, as pydantic copies it: no two rows share one list.
            state[name] = copy.deepcopy(default) if isinstance(default, list | dict | set) else default
    state.update(values)
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    return row


def _ts(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=sa.Column(AwareDateTime(), nullable=nullable))


class ApplicationRecord(SQLModel):
    """The columns every service's application table has: identity, owner, state, and the clock.

    A service's table adds what its procedure needs: ``class X(ApplicationRecord, table=True)``."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    number: str = Field(unique=True, max_length=40)  # human-readable, e.g. QYKB-440703-20261126-000123
    applicant: str = Field(index=True, max_length=200)  # the applicant the application belongs to (token subject)
    submitted_by: str = Field(index=True, max_length=200)  # the applicant, or the clerk who acted for them
    status: str = Field(max_length=20)
    form: dict[str, Any] = Field(sa_type=sa.JSON)  # the request as accepted (after supplements)
    # The version of the form's shape it was stored under; read leniently, upgraded on read. Rows stored
    # before the column existed are version 1 (the server default of revision 0002).
    form_version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    reason: str | None = Field(default=None, sa_type=sa.Text)  # why it was stopped or rejected
    missing: list[str] = Field(default_factory=empty_list, sa_type=sa.JSON)  # what a returning department asks for
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    due_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=AwareDateTime)


class OutboxMessage(SQLModel, table=True):
    """An event written with the state change that caused it, waiting for the relay to publish it."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_unsent", "sent_at", "seq"),)  # the relay's scan for unsent rows

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=36)
    subject: str = Field(max_length=200)
    payload: str = Field(sa_type=sa.Text)
    request_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    sent_at: datetime | None = _ts()


class DeadLetter(SQLModel, table=True):
    """An event the relay can never publish (too large for the broker): kept for an operator, so it never
    blocks the events behind it. Shown by ``/readyz`` and ``GET /api/v1/admin/dead-letters``."""

    __tablename__ = "dead_letter"

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=36)
    subject: str = Field(max_length=200)
    size_bytes: int
    reason: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=AwareDateTime)
    dead_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class InboxMessage(SQLModel, table=True):
    """An event id a consumer has applied; recorded in the same transaction as the effect."""

    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=100)
    handled_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a creating POST, replayed for a retry with the same caller and key."""

    __tablename__ = "idempotency_record"

    caller: str = Field(primary_key=True, max_length=200)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: str = Field(sa_type=sa.Text)
    resource_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    expires_at: datetime = Field(sa_type=AwareDateTime)


class DepartmentTask(SQLModel, table=True):
    """One department's part of an application (waiting → requested → approved | rejected | returned)."""

    __tablename__ = "department_task"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "department", name="uq_task_application_department"),
        sa.Index("ix_task_department_status", "department", "status", "due_at"),  # a department's queue
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    application_id: str = Field(index=True, max_length=36)
    application_number: str = Field(max_length=40)
    service: str = Field(max_length=30)
    department: str = Field(max_length=20)
    kind: str = Field(max_length=60)
    status: str = Field(max_length=20)
    depends_on: list[str] = Field(default_factory=empty_list, sa_type=sa.JSON)
    working_days: int
    round: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    requested_at: datetime | None = _ts()
    due_at: datetime | None = _ts()
    due_provisional: bool = False
    resolved_at: datetime | None = _ts()
    overdue_at: datetime | None = _ts()
    comment: str | None = Field(default=None, sa_type=sa.Text)
    details: dict[str, Any] = Field(default_factory=empty_dict, sa_type=sa.JSON)  # what the department was sent
    outputs: dict[str, Any] = Field(default_factory=empty_dict, sa_type=sa.JSON)
    decided_by: str | None = Field(default=None, max_length=200)


class TaskDecision(SQLModel, table=True):
    """Append-only audit trail: who decided what on a task, when, and through which channel."""

    __tablename__ = "task_decision"
    __table_args__ = (sa.UniqueConstraint("task_id", "round", name="uq_decision_task_round"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    task_id: str = Field(index=True, max_length=36)
    application_id: str = Field(max_length=36)
    department: str = Field(max_length=20)
    round: int
    outcome: str = Field(max_length=20)
    comment: str | None = Field(default=None, sa_type=sa.Text)
    outputs: dict[str, Any] = Field(default_factory=empty_dict, sa_type=sa.JSON)
    decided_by: str | None = Field(default=None, max_length=200)
    channel: str = Field(max_length=20)  # "nats" or "http"
    decided_at: datetime = Field(sa_type=AwareDateTime)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class Timer(SQLModel, table=True):
    """A durable timer (public-notice period, suspension end): a row with a due time a sweeper acts on."""

    __tablename__ = "timer"
    __table_args__ = (sa.Index("ix_timer_due", "fired_at", "due_at"),)  # the sweeper's scan for due timers

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    kind: str = Field(max_length=60)
    target_id: str = Field(max_length=36)
    due_at: datetime = Field(sa_type=AwareDateTime)
    fired_at: datetime | None = _ts()
    cancelled_at: datetime | None = _ts()
    payload: dict[str, Any] = Field(default_factory=empty_dict, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


class NumberSequence(SQLModel, table=True):
    """The last sequence number used under a prefix (application numbers)."""

    __tablename__ = "number_sequence"

    prefix: str = Field(primary_key=True, max_length=60)
    last: int


class Escalation(SQLModel, table=True):
    """办不成事: an applicant's report that their application is stuck or was refused unfairly, kept beside the
    application (in its service's database) until a supervisor records the outcome."""

    __tablename__ = "escalation"
    __table_args__ = (sa.Index("ix_escalation_status_due", "status", "due_at"),)  # the supervisors' queue

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    application_id: str = Field(index=True, max_length=36)
    application_number: str = Field(max_length=40)
    service: str = Field(max_length=30)
    applicant: str = Field(max_length=200)
    raised_by: str = Field(max_length=200)  # the applicant, or the clerk who submitted for them
    reason: str = Field(max_length=20)  # stuck | unfair_refusal | other
    description: str = Field(sa_type=sa.Text)
    application_status: str = Field(max_length=20)  # the application's status when it was raised
    departments: list[str] = Field(default_factory=empty_list, sa_type=sa.JSON)  # the departments concerned
    status: str = Field(max_length=20)  # open | upheld | dismissed | resolved
    raised_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)
    due_at: datetime = Field(sa_type=AwareDateTime)
    due_provisional: bool = False
    outcome_note: str | None = Field(default=None, sa_type=sa.Text)
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = _ts()
    reannounced: list[str] = Field(default_factory=empty_list, sa_type=sa.JSON)  # task ids asked again on the outcome
