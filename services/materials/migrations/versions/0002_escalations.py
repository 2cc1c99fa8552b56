"""The common escalation table (办不成事), which every service's database holds beside the other common tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

# Released: only frozen helpers (shared.schema_history), so this revision does the same thing forever.
from shared.schema_history import create_escalation_table_v1, drop_escalation_table_v1

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_escalation_table_v1()


def downgrade() -> None:
    drop_escalation_table_v1()
