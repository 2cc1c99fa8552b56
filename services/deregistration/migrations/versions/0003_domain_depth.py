"""Domain depth: the enterprise's investors and restrictions (from registration's announcement); each
deregistration's period kind, the end of its notice (the gate before samr), when its liquidation group was
filed and what its eligibility checks found; a suspension's statutory cause and when its early end was
published.

Rows already stored are brought along: an application's period kind follows its procedure (there was no
个体工商户 window before), its notice ended when its notice timer fired, and a general deregistration's
liquidation group was filed with the application.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from shared.schema_history import timestamp_column_v1 as _ts

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enterprise_view") as batch:
        batch.add_column(sa.Column("investors", sa.JSON))
        batch.add_column(sa.Column("restrictions", sa.JSON))
    with op.batch_alter_table("deregistration_application") as batch:
        batch.add_column(sa.Column("notice_kind", sa.String(20)))
        batch.add_column(_ts("notice_ended_at"))
        batch.add_column(_ts("liquidation_filed_at"))
        batch.add_column(sa.Column("eligibility", sa.JSON))
    with op.batch_alter_table("suspension") as batch:
        batch.add_column(sa.Column("cause", sa.String(30)))
        batch.add_column(_ts("published_at"))
    op.execute(sa.text(
        "UPDATE deregistration_application SET notice_kind = CASE procedure "
        "WHEN 'simplified' THEN 'public_notice' ELSE 'creditor_notice' END"))
    op.execute(sa.text(
        "UPDATE deregistration_application SET notice_ended_at = ("
        " SELECT MIN(timer.fired_at) FROM timer WHERE timer.target_id = deregistration_application.id"
        " AND timer.kind = 'deregistration.notice_end')"))
    op.execute(sa.text(
        "UPDATE deregistration_application SET liquidation_filed_at = created_at WHERE procedure = 'general'"))


def downgrade() -> None:
    with op.batch_alter_table("suspension") as batch:
        batch.drop_column("published_at")
        batch.drop_column("cause")
    with op.batch_alter_table("deregistration_application") as batch:
        for column in ("eligibility", "liquidation_filed_at", "notice_ended_at", "notice_kind"):
            batch.drop_column(column)
    with op.batch_alter_table("enterprise_view") as batch:
        batch.drop_column("restrictions")
        batch.drop_column("investors")
