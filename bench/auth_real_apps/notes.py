"""The riso app's own table: notes with an owner, as the starter has."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from riso_db import Model, PrimaryKeyMixin, TimestampMixin


class Note(PrimaryKeyMixin, TimestampMixin, Model):
    __tablename__ = "bench_notes"

    owner_id: Mapped[int] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
