"""riso-auth: stored emails in the canonical form of ``riso_auth._emails`` (data only).

Rows stored before the canonical form (NFKC, lower case, IDNA A-labels
decoded) are rewritten to it, unless that would merge accounts: rows that
become equal, or equal to another stored row, are left as they are and
reported (a warning on the ``riso.auth.migrations`` logger, with their ids),
as are rows with invisible or control characters, which cannot be
normalised. No schema change, one conditional UPDATE per row, so the previous
release can keep serving while it runs; running it again changes nothing
more. The operator resolves the reported accounts (see the CHANGELOG).

Revision ID: auth_0002_normalise_emails
Revises: auth_0001_initial
"""

from __future__ import annotations

import logging
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from riso_auth._emails import normalize_email
from riso_auth._exceptions import InvalidEmailError

revision = "auth_0002_normalise_emails"
down_revision = "auth_0001_initial"
branch_labels = None
depends_on = None

logger = logging.getLogger("riso.auth.migrations")

_users = sa.table("auth_users", sa.column("id", sa.Integer()), sa.column("email", sa.String(320)))


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(_users.c.id, _users.c.email)).all()
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    invalid: list[int] = []
    for user_id, email in rows:
        try:
            groups[normalize_email(email)].append((user_id, email))
        except InvalidEmailError:
            invalid.append(user_id)
    collisions = [
        (canonical, sorted(i for i, _ in group))
        for canonical, group in groups.items()
        if len(group) > 1
    ]
    normalised = 0
    for canonical, group in groups.items():
        if len(group) != 1 or group[0][1] == canonical:
            continue
        user_id, email = group[0]
        # a row registered meanwhile by the previous release with the canonical form wins:
        # this row is then left alone (the derived table lets MySQL read the updated table)
        taken = sa.select(sa.literal(1)).select_from(
            sa.select(_users.c.id).where(_users.c.email == canonical).subquery()
        )
        result = connection.execute(
            _users.update()
            .where(_users.c.id == user_id, _users.c.email == email, ~taken.exists())
            .values(email=canonical)
        )
        normalised += result.rowcount
    if normalised:
        logger.info("auth_0002_normalise_emails: %d stored emails normalised", normalised)
    for canonical, ids in collisions:
        logger.warning(
            "auth_0002_normalise_emails: accounts %s have emails that are one address "
            "once normalised (%r); they were left unchanged: keep one, deactivate or "
            "delete the others, then set the kept one's email to that address "
            "(riso-auth's CHANGELOG, Migrations)",
            ", ".join(str(i) for i in ids),
            canonical,
        )
    if invalid:
        logger.warning(
            "auth_0002_normalise_emails: accounts %s have an email with an invisible or "
            "control character, which can no longer log in; change or delete them",
            ", ".join(str(i) for i in sorted(invalid)),
        )


def downgrade() -> None:
    # a no-op on purpose: the original spellings are not kept, and a normalised
    # email is lower case, which the previous release looks up as it is
    pass
