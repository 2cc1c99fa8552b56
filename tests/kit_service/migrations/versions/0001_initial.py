"""The throwaway service's table and the common tables.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.schema_history import application_columns_v1, create_common_tables_v1, drop_common_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_common_tables_v1()
    op.create_table("kitdemo_application", *application_columns_v1(),
                    sa.Column("title", sa.String(200), nullable=False))


def downgrade() -> None:
    op.drop_table("kitdemo_application")
    drop_common_tables_v1()
