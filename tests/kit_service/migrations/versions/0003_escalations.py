"""办不成事: an applicant's escalation of a stuck or unfairly refused application, and its outcome.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

# Released: only frozen helpers (shared.schema_history), so this revision does the same thing forever.
from shared.schema_history import create_escalation_table_v1, drop_escalation_table_v1

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_escalation_table_v1()


def downgrade() -> None:
    drop_escalation_table_v1()
