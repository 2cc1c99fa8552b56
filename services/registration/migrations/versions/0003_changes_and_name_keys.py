"""Changes and moves of registered enterprises share the application table (its kind, and the enterprise a
change changes); the enterprise keeps its officers, its legal representative's ID and when it last changed;
names are found by the application that holds them; and name keys fold look-alike characters (TR39 skeletons).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The look-alike characters folded into name keys from this revision on (services/registration/names.py as it
# was written with this revision; spelled out so the revision does the same thing forever). Keys stored before
# were NFKC without white space, which these characters survive; nothing else in them changes.
_FOLDED = str.maketrans({
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "l", "Ј": "J", "Ү": "Y", "Ӏ": "l", "Ԝ": "W",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i",
    "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ү": "y", "ӏ": "i", "ѵ": "v", "Ѵ": "V",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "l", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "α": "a", "γ": "y", "ι": "i", "ν": "v",
    "ο": "o", "ρ": "p", "σ": "o", "υ": "u",
    "0": "O", "1": "l", "I": "l", "|": "l",
})


def upgrade() -> None:
    with op.batch_alter_table("registration_application") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="opening"))
        batch.add_column(sa.Column("enterprise_uscc", sa.String(18)))
    op.create_index("ix_registration_application_enterprise_uscc", "registration_application", ["enterprise_uscc"])
    with op.batch_alter_table("enterprise") as batch:
        batch.add_column(sa.Column("legal_representative_id", sa.String(40)))
        batch.add_column(sa.Column("officers", sa.JSON))
        batch.add_column(sa.Column("changed_at", sa.DateTime(timezone=True)))
    op.create_index("ix_enterprise_name_application_id", "enterprise_name", ["application_id"])

    # Re-key the names held: a key that now folds to another is moved to it, unless another name holds that key
    # already (two names registered before look-alikes were folded both stay; a new one collides with either).
    names = sa.table("enterprise_name", sa.column("name", sa.String))
    bind = op.get_bind()
    held = {row.name for row in bind.execute(sa.select(names.c.name))}
    for key in sorted(held):
        folded = key.translate(_FOLDED)
        if folded != key and folded not in held:
            bind.execute(sa.update(names).where(names.c.name == key).values(name=folded))
            held.discard(key)
            held.add(folded)


def downgrade() -> None:
    # Name keys stay folded: the fold cannot be undone, and an older release finds names by the same key
    # for every name without look-alike characters.
    op.drop_index("ix_enterprise_name_application_id", table_name="enterprise_name")
    with op.batch_alter_table("enterprise") as batch:
        batch.drop_column("changed_at")
        batch.drop_column("officers")
        batch.drop_column("legal_representative_id")
    op.drop_index("ix_registration_application_enterprise_uscc", table_name="registration_application")
    with op.batch_alter_table("registration_application") as batch:
        batch.drop_column("enterprise_uscc")
        batch.drop_column("kind")
