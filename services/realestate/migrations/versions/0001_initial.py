"""Real-estate tables (the register and its applications) and the common tables.

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
    timestamp_column_v1,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_common_tables_v1()
    op.create_table(
        "realestate_property",
        sa.Column("unit_number", sa.String(40), primary_key=True),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("address", sa.String(300), nullable=False, index=True),
        sa.Column("use", sa.String(20), nullable=False),
        sa.Column("area_m2", sa.String(20), nullable=False),
        sa.Column("certificate_number", sa.String(60), nullable=False),
        timestamp_column_v1("updated_at", False),
    )
    op.create_table(
        "realestate_owner",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("unit_number", sa.String(40), nullable=False, index=True),
        sa.Column("sub", sa.String(200), index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("id_number", sa.String(40)),
        sa.Column("uscc", sa.String(18)),
        sa.Column("share_percent", sa.String(20), nullable=False),
    )
    op.create_table(
        "realestate_mortgage",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("unit_number", sa.String(40), nullable=False, index=True),
        sa.Column("mortgagee_uscc", sa.String(18), nullable=False),
        sa.Column("mortgagee_name", sa.String(200), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("certificate_number", sa.String(60)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("application_id", sa.String(36)),
        timestamp_column_v1("registered_at", False),
        timestamp_column_v1("released_at"),
    )
    op.create_table(
        "realestate_seizure",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("unit_number", sa.String(40), nullable=False, index=True),
        sa.Column("authority", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        timestamp_column_v1("registered_at", False),
    )
    op.create_table(
        "realestate_certificate",
        sa.Column("verification_code", sa.String(32), primary_key=True),
        sa.Column("number", sa.String(60), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("unit_number", sa.String(40), nullable=False, index=True),
        sa.Column("holders", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("application_id", sa.String(36)),
        timestamp_column_v1("issued_at", False),
        timestamp_column_v1("cancelled_at"),
    )
    op.create_table(
        "realestate_application",
        *application_columns_v1(),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("unit_number", sa.String(40), nullable=False, index=True),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("buyer_sub", sa.String(200), index=True),
        timestamp_column_v1("confirmed_at"),
        sa.Column("assessment", sa.JSON, nullable=False),
        sa.Column("payment", sa.JSON, nullable=False),
        timestamp_column_v1("entered_at"),
        sa.Column("linked_utilities", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    for table in ("realestate_application", "realestate_certificate", "realestate_seizure", "realestate_mortgage",
                  "realestate_owner", "realestate_property"):
        op.drop_table(table)
    drop_common_tables_v1()
