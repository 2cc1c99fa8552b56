"""Registration tables and the common tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

# Released: only frozen helpers (shared.schema_history), so this revision does the same thing forever.
from shared.schema_history import create_common_tables_v1, drop_common_tables_v1
from shared.schema_history import timestamp_column_v1 as _ts

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_common_tables_v1()
    op.create_table(
        "registration_application",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(40), nullable=False, unique=True),
        sa.Column("applicant", sa.String(200), nullable=False, index=True),
        sa.Column("submitted_by", sa.String(200), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("enterprise_name", sa.String(200), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("entity_type", sa.String(40), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("form", sa.JSON, nullable=False),
        sa.Column("uscc", sa.String(18), unique=True),
        sa.Column("reason", sa.Text),
        sa.Column("missing", sa.JSON, nullable=False),
        _ts("created_at", False),
        _ts("updated_at", False),
        _ts("due_at"),
        _ts("completed_at"),
    )
    op.create_table(
        "enterprise_name",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_table(
        "enterprise",
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("entity_type", sa.String(40), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False, index=True),
        sa.Column("legal_representative", sa.String(100), nullable=False),
        sa.Column("registered_capital_fen", sa.BigInteger),
        sa.Column("business_scope", sa.JSON, nullable=False),
        sa.Column("registered_with", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("application_id", sa.String(36), nullable=False),
        _ts("registered_at", False),
        _ts("status_changed_at"),
    )
    op.create_table(
        "licence",
        sa.Column("verification_code", sa.String(32), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        _ts("issued_at", False),
        _ts("status_changed_at"),
    )


def downgrade() -> None:
    for table in ("licence", "enterprise", "enterprise_name", "registration_application"):
        op.drop_table(table)
    drop_common_tables_v1()
