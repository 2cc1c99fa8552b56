"""Events that can never be published wait in a dead letter for an operator, instead of blocking the rest.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

# Released: only frozen helpers (shared.schema_history), so this revision does the same thing forever.
from shared.schema_history import create_dead_letter_table_v1, drop_dead_letter_table_v1

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_dead_letter_table_v1()


def downgrade() -> None:
    drop_dead_letter_table_v1()
