"""profiles: the app's data about an account, keyed by riso-auth's ``auth_users.id``.

``riso db upgrade`` runs every feature's tree before the app's, so
``auth_users`` exists when this runs.

Revision ID: starter_0002_profiles
Revises: starter_0001_notes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from riso_db import UtcDateTime

revision = "starter_0002_profiles"
down_revision = "starter_0001_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("bio", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_profiles_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profiles")),
    )


def downgrade() -> None:
    op.drop_table("profiles")
