"""The starter's own table, migrated by the app's own Alembic tree."""

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from riso_db import Model, PrimaryKeyMixin, TimestampMixin


class Note(PrimaryKeyMixin, TimestampMixin, Model):
    __tablename__ = "notes"

    owner_id: Mapped[int] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
