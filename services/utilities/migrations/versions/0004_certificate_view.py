"""一证通办: the electronic property certificates real estate announces, kept to accept their verification code.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

# Released: only frozen helpers (shared.schema_history), so this revision does the same thing forever.
from shared.schema_history import timestamp_column_v1

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "utilities_certificate_view",
        sa.Column("verification_code", sa.String(32), primary_key=True),
        sa.Column("number", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("unit_number", sa.String(40), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("holders", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        timestamp_column_v1("changed_at", False),
    )


def downgrade() -> None:
    op.drop_table("utilities_certificate_view")
