"""riso-auth 0.2.0: ``auth_identities`` (accounts of OpenID Connect / OAuth2 providers)
and ``auth_oidc_flows`` (their sign-ins in progress).

Expand only: two new tables, which the previous release never reads, so it can
keep serving while this runs.

Revision ID: auth_0003_identities
Revises: auth_0002_normalise_emails
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from riso_db import UtcDateTime

revision = "auth_0003_identities"
down_revision = "auth_0002_normalise_emails"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_identities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_auth_identities_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_identities")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_auth_identities_provider")),
    )
    op.create_index(op.f("ix_auth_identities_user_id"), "auth_identities", ["user_id"])
    op.create_table(
        "auth_oidc_flows",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("binding_hash", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("redirect_to", sa.String(2048), nullable=True),
        sa.Column("link_user_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_user_id"],
            ["auth_users.id"],
            name=op.f("fk_auth_oidc_flows_link_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_oidc_flows")),
    )
    op.create_index(op.f("ix_auth_oidc_flows_expires_at"), "auth_oidc_flows", ["expires_at"])


def downgrade() -> None:
    op.drop_table("auth_oidc_flows")
    op.drop_table("auth_identities")
