"""The starter's own tables, migrated by the app's own Alembic tree."""

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from riso_db import Model, PrimaryKeyMixin, TimestampMixin


class Note(PrimaryKeyMixin, TimestampMixin, Model):
    __tablename__ = "notes"

    owner_id: Mapped[int] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")


class Profile(TimestampMixin, Model):
    """What the app keeps about an account, next to riso-auth's ``auth_users`` row.

    riso-auth owns its tables; the app extends the user with its own table and a
    foreign key to ``riso_auth.User.id``. ``ON DELETE CASCADE``: deleting the
    account (``DELETE /auth/me``, the admin API, ``riso auth users delete``)
    deletes its profile in the same transaction.
    """

    __tablename__ = "profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True
    )
    display_name: Mapped[str] = mapped_column(String(100), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
