"""Utilities tables (enterprise view, applications, accounts, offers) and the common tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

# Released: only frozen helpers (shared.schema_history), so this revision does the same thing forever.
from shared.schema_history import (
    application_columns_v1,
    create_common_tables_v1,
    drop_common_tables_v1,
    enterprise_view_columns_v1,
    timestamp_column_v1,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_common_tables_v1()
    op.create_table("utilities_enterprise_view", *enterprise_view_columns_v1())
    op.create_table(
        "connection_application",
        *application_columns_v1(),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("premises_address", sa.String(300), nullable=False, index=True),
        sa.Column("uscc", sa.String(18)),
        sa.Column("utilities", sa.JSON, nullable=False),
        sa.Column("fees", sa.JSON, nullable=False),
        sa.Column("offer_id", sa.String(36)),
        sa.Column("transfer", sa.JSON, nullable=False),
    )
    op.create_table(
        "utility_account",
        sa.Column("account_number", sa.String(40), primary_key=True),
        sa.Column("utility", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False, index=True),
        sa.Column("uscc", sa.String(18)),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("premises_address", sa.String(300), nullable=False, index=True),
        sa.Column("application_id", sa.String(36), nullable=False),
        sa.Column("previous_owner", sa.String(200)),
        timestamp_column_v1("transferred_at"),
        timestamp_column_v1("opened_at", False),
    )
    op.create_table(
        "connection_offer",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("owner", sa.String(200), nullable=False, index=True),
        sa.Column("enterprise_name", sa.String(200), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("premises_address", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("application_id", sa.String(36)),
        timestamp_column_v1("created_at", False),
        timestamp_column_v1("expires_at", False),
        timestamp_column_v1("updated_at", False),
    )


def downgrade() -> None:
    for table in ("connection_offer", "utility_account", "connection_application", "utilities_enterprise_view"):
        op.drop_table(table)
    drop_common_tables_v1()
