"""riso-auth's Alembic revisions (version table ``riso_auth_alembic_version``).

Released revisions are never edited; changes come as new revisions.
"""
