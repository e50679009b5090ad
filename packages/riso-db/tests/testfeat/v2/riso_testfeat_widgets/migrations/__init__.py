"""Alembic revisions of riso-testfeat-widgets."""
