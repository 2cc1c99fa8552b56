"""Schema code that released migration revisions call. RELEASED: NEVER EDIT A FUNCTION IN THIS MODULE.

A revision that has run against a database in the wild must do the same thing forever: a database migrated
by it last year and one migrated by it today have to be the same, or every later revision (and the drift
test) works against a schema nobody can name. So a revision may call only library code and the functions
here, and these functions never change (tests/integration/test_schema_history.py pins the source of each).

To change a shared table or column: write ``<name>_v2`` beside ``<name>_v1`` (copy, then edit the copy), a
new revision in every service that calls the new helper, and the matching change to ``shared.records``.
The ``_v1`` function stays, untouched, for the revisions that already use it. A function here may call only
``sa``, ``op`` and other functions of this module, so nothing it depends on can move either.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def timestamp_column_v1(name: str, nullable: bool = True) -> sa.Column:
    """A timezone-aware timestamp column, as every table keeps its times (released in revision 0001)."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def create_common_tables_v1() -> None:
    """Create the tables every service owns a copy of (released in every service's revision 0001)."""
    op.create_table(
        "outbox",
        # The integer key orders publication; the event id is the Nats-Msg-Id that deduplicates.
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(100)),
        timestamp_column_v1("created_at", False),
        timestamp_column_v1("sent_at"),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "seq"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(100), primary_key=True),
        timestamp_column_v1("handled_at", False),
    )
    op.create_table(
        "idempotency_record",
        sa.Column("caller", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response_body", sa.Text, nullable=False),
        sa.Column("resource_id", sa.String(36)),
        timestamp_column_v1("created_at", False),
        timestamp_column_v1("expires_at", False),
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
        timestamp_column_v1("created_at", False),
        timestamp_column_v1("requested_at"),
        timestamp_column_v1("due_at"),
        sa.Column("due_provisional", sa.Boolean, nullable=False),
        timestamp_column_v1("resolved_at"),
        timestamp_column_v1("overdue_at"),
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
        timestamp_column_v1("decided_at", False),
        timestamp_column_v1("recorded_at", False),
        sa.UniqueConstraint("task_id", "round", name="uq_decision_task_round"),
    )
    op.create_table(
        "timer",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("target_id", sa.String(36), nullable=False),
        timestamp_column_v1("due_at", False),
        timestamp_column_v1("fired_at"),
        timestamp_column_v1("cancelled_at"),
        sa.Column("payload", sa.JSON, nullable=False),
        timestamp_column_v1("created_at", False),
    )
    op.create_index("ix_timer_due", "timer", ["fired_at", "due_at"])
    op.create_table(
        "number_sequence",
        sa.Column("prefix", sa.String(60), primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )


def drop_common_tables_v1() -> None:
    """Drop what ``create_common_tables_v1`` made (released in every service's revision 0001)."""
    for table in ("number_sequence", "timer", "task_decision", "department_task", "idempotency_record",
                  "inbox", "outbox"):
        op.drop_table(table)


def form_version_column_v1() -> sa.Column:
    """The version of the form's shape an application was stored under (released in revision 0002).

    The server default stamps the rows that were written before the column existed as version 1."""
    return sa.Column("form_version", sa.Integer, nullable=False, server_default="1")


def application_columns_v1() -> list[sa.Column]:
    """Fresh columns every application table has (``shared.records.ApplicationRecord``), for the first
    revision of a new service: ``op.create_table("x_application", *application_columns_v1(), <own columns>)``.

    The same shape as the services released with revisions 0001 + 0002, form version included."""
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(40), nullable=False, unique=True),
        sa.Column("applicant", sa.String(200), nullable=False, index=True),
        sa.Column("submitted_by", sa.String(200), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("form", sa.JSON, nullable=False),
        form_version_column_v1(),
        sa.Column("reason", sa.Text),
        sa.Column("missing", sa.JSON, nullable=False),
        timestamp_column_v1("created_at", False),
        timestamp_column_v1("updated_at", False),
        timestamp_column_v1("due_at"),
        timestamp_column_v1("completed_at"),
    ]


def add_form_version_v1(table: str) -> None:
    """Add ``form_version`` to an application table (released in revision 0002 of the first services).

    Batch mode so SQLite, which cannot alter a column in place, takes the same script as PostgreSQL; adding a
    column with a constant default is a plain ALTER TABLE on both, with no copy of the table."""
    with op.batch_alter_table(table) as batch:
        batch.add_column(form_version_column_v1())


def drop_form_version_v1(table: str) -> None:
    """Undo ``add_form_version_v1`` (SQLite drops the column by batch mode's copy of the table)."""
    with op.batch_alter_table(table) as batch:
        batch.drop_column("form_version")


def enterprise_view_columns_v1() -> list[sa.Column]:
    """Fresh columns of an enterprise view kept from events (``shared.readmodels.EnterpriseRecord``), for
    the first revision of a service that acts for enterprises:
    ``op.create_table("enterprise_view", *enterprise_view_columns_v1(), <own columns>)``."""
    return [
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("entity_type", sa.String(40), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False, index=True),
        sa.Column("legal_representative", sa.String(100), nullable=False),
        sa.Column("registered_with", sa.JSON, nullable=False),
        sa.Column("has_tax_matters", sa.Boolean, nullable=False),
        sa.Column("customs_registered", sa.Boolean, nullable=False),
        sa.Column("licence_verification_code", sa.String(32)),
        timestamp_column_v1("registered_at", False),
        sa.Column("status", sa.String(20), nullable=False),
        timestamp_column_v1("status_changed_at"),
        timestamp_column_v1("updated_at", False),
    ]


def create_dead_letter_table_v1() -> None:
    """The ``dead_letter`` table (released in the revision after each service's form version): events the
    relay can never publish (too large for the broker), kept for an operator instead of blocking the rest."""
    op.create_table(
        "dead_letter",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        timestamp_column_v1("created_at", False),
        timestamp_column_v1("dead_at", False),
    )


def drop_dead_letter_table_v1() -> None:
    """Undo ``create_dead_letter_table_v1``."""
    op.drop_table("dead_letter")


def create_escalation_table_v1() -> None:
    """The ``escalation`` table (办不成事: an applicant's report that an application is stuck or was refused
    unfairly, and a supervisor's outcome), released in the revision after each service's dead letters."""
    op.create_table(
        "escalation",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("application_id", sa.String(36), nullable=False, index=True),
        sa.Column("application_number", sa.String(40), nullable=False),
        sa.Column("service", sa.String(30), nullable=False),
        sa.Column("applicant", sa.String(200), nullable=False),
        sa.Column("raised_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("application_status", sa.String(20), nullable=False),
        sa.Column("departments", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        timestamp_column_v1("raised_at", False),
        timestamp_column_v1("due_at", False),
        sa.Column("due_provisional", sa.Boolean, nullable=False),
        sa.Column("outcome_note", sa.Text),
        sa.Column("decided_by", sa.String(200)),
        timestamp_column_v1("decided_at"),
        sa.Column("reannounced", sa.JSON, nullable=False),
    )
    op.create_index("ix_escalation_status_due", "escalation", ["status", "due_at"])


def drop_escalation_table_v1() -> None:
    """Undo ``create_escalation_table_v1``."""
    op.drop_table("escalation")
