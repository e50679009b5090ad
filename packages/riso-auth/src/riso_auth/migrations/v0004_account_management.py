"""riso-auth 0.2.0: roles, the accounts holding them, and API keys (personal access tokens).

Expand only: three new tables, which the previous release never reads, so it
can keep serving while this runs. An email change needs no column: its
pending address travels in a signed one-time token (``auth_one_time_tokens``).

Revision ID: auth_0004_account_management
Revises: auth_0003_identities
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from riso_db import UtcDateTime

revision = "auth_0004_account_management"
down_revision = "auth_0003_identities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_roles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("scopes", sa.String(1024), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_roles")),
        sa.UniqueConstraint("name", name=op.f("uq_auth_roles_name")),
    )
    op.create_table(
        "auth_user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_auth_user_roles_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["auth_roles.id"],
            name=op.f("fk_auth_user_roles_role_id_auth_roles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role_id", name=op.f("pk_auth_user_roles")),
    )
    op.create_index(op.f("ix_auth_user_roles_role_id"), "auth_user_roles", ["role_id"])
    op.create_table(
        "auth_api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(48), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(1024), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_auth_api_keys_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_api_keys")),
    )
    op.create_index(op.f("ix_auth_api_keys_user_id"), "auth_api_keys", ["user_id"])


def downgrade() -> None:
    op.drop_table("auth_api_keys")
    op.drop_table("auth_user_roles")
    op.drop_table("auth_roles")
