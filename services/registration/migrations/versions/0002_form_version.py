"""Every registration application carries the version of its form's shape (rows already stored are version 1).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

# Released: only frozen helpers (shared.schema_history), so this revision does the same thing forever.
from shared.schema_history import form_version_column_v1

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode so SQLite, which cannot alter a column in place, takes the same script as PostgreSQL; adding a
    # column with a constant default is a plain ALTER TABLE on both, with no copy of the table.
    with op.batch_alter_table("registration_application") as batch:
        batch.add_column(form_version_column_v1())


def downgrade() -> None:
    # SQLite drops the column by batch mode's copy of the table (indexes and constraints recreated with it).
    with op.batch_alter_table("registration_application") as batch:
        batch.drop_column("form_version")
