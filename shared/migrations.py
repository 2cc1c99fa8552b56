"""What every service's Alembic environment shares: running migrations on the async engine, and the
tables every service has (outbox, inbox, idempotency records, department tasks, timers, sequences)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.engine import Connection

from shared.settings import async_database_url, get_settings


def run_env(target_metadata: sa.MetaData, service: str) -> None:
    """Body of a service's ``migrations/env.py``: the URL comes from the caller or from settings."""
    cfg = context.config
    url = cfg.attributes.get("database_url") or get_settings().db_url
    url = async_database_url(url)
    version_table = cfg.get_main_option("version_table") or f"alembic_version_{service}"

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, version_table=version_table,
                          literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    async def run_async() -> None:
        from shared.db import create_engine

        engine = create_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run_async())


def timestamp_column(name: str, nullable: bool = True) -> sa.Column:
    """A timezone-aware timestamp column, as every table keeps its times."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def create_common_tables() -> None:
    """Create the tables every service owns a copy of (first version of the common tables)."""
    op.create_table(
        "outbox",
        # The integer key orders publication; the event id is the Nats-Msg-Id that deduplicates.
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(100)),
        timestamp_column("created_at", False),
        timestamp_column("sent_at"),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "seq"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(100), primary_key=True),
        timestamp_column("handled_at", False),
    )
    op.create_table(
        "idempotency_record",
        sa.Column("caller", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response_body", sa.Text, nullable=False),
        sa.Column("resource_id", sa.String(36)),
        timestamp_column("created_at", False),
        timestamp_column("expires_at", False),
    )
    op.create_table(
        "department_task",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("application_id", sa.String(36), nullable=False, index=True),
        sa.Column("application_number", sa.String(40), nullable=False),
        sa.Column("service", sa.String(30), nullable=False),
        sa.Column("department", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("depends_on", sa.JSON, nullable=False),
        sa.Column("working_days", sa.Integer, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        timestamp_column("created_at", False),
        timestamp_column("requested_at"),
        timestamp_column("due_at"),
        sa.Column("due_provisional", sa.Boolean, nullable=False),
        timestamp_column("resolved_at"),
        timestamp_column("overdue_at"),
        sa.Column("comment", sa.Text),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.UniqueConstraint("application_id", "department", name="uq_task_application_department"),
    )
    op.create_index("ix_task_department_status", "department_task", ["department", "status", "due_at"])
    op.create_table(
        "task_decision",  # append-only audit trail of every decision on a task
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("task_id", sa.String(36), nullable=False, index=True),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("department", sa.String(20), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("channel", sa.String(20), nullable=False),
        timestamp_column("decided_at", False),
        timestamp_column("recorded_at", False),
        sa.UniqueConstraint("task_id", "round", name="uq_decision_task_round"),
    )
    op.create_table(
        "timer",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("target_id", sa.String(36), nullable=False),
        timestamp_column("due_at", False),
        timestamp_column("fired_at"),
        timestamp_column("cancelled_at"),
        sa.Column("payload", sa.JSON, nullable=False),
        timestamp_column("created_at", False),
    )
    op.create_index("ix_timer_due", "timer", ["fired_at", "due_at"])
    op.create_table(
        "number_sequence",
        sa.Column("prefix", sa.String(60), primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )


def drop_common_tables() -> None:
    """Drop what ``create_common_tables`` made."""
    for table in ("number_sequence", "timer", "task_decision", "department_task", "idempotency_record",
                  "inbox", "outbox"):
        op.drop_table(table)
