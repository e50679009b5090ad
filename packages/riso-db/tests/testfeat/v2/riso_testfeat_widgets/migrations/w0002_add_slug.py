"""add slug, filled from name

Revision ID: w0002
Revises: w0001
"""

import sqlalchemy as sa
from alembic import op

revision = "w0002"
down_revision = "w0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("testfeat_widget") as batch:
        batch.add_column(sa.Column("slug", sa.String(50), nullable=True))
    # the data migration: every stored row gets its slug
    op.execute("UPDATE testfeat_widget SET slug = lower(name)")


def downgrade() -> None:
    with op.batch_alter_table("testfeat_widget") as batch:
        batch.drop_column("slug")
