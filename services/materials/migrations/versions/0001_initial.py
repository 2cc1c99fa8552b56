"""Materials: the uploaded documents' metadata, and the common tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

# Once released, a revision does the same thing forever: only frozen helpers (shared.schema_history).
from shared.schema_history import (
    create_common_tables_v1,
    create_dead_letter_table_v1,
    drop_common_tables_v1,
    drop_dead_letter_table_v1,
    timestamp_column_v1,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_common_tables_v1()
    create_dead_letter_table_v1()
    op.create_table(
        "materials_material",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False, index=True),
        sa.Column("kind", sa.String(64)),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("pages", sa.Integer),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("storage_key", sa.String(200), nullable=False),
        timestamp_column_v1("created_at", False),
        sa.UniqueConstraint("owner", "sha256", name="uq_materials_owner_sha256"),
    )


def downgrade() -> None:
    op.drop_table("materials_material")
    drop_dead_letter_table_v1()
    drop_common_tables_v1()
