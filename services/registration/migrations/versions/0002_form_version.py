"""Every registration application carries the version of its form's shape (rows already stored are version 1).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

# Released: only frozen helpers (shared.schema_history), so this revision does the same thing forever.
from shared.schema_history import add_form_version_v1, drop_form_version_v1

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_form_version_v1("registration_application")


def downgrade() -> None:
    drop_form_version_v1("registration_application")
