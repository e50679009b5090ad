"""riso-testfeat-widgets 2.0.0: v1 plus a column filled from the data (a riso-db test fixture)."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

import riso
import riso_db


class Widget(riso_db.PrimaryKeyMixin, riso_db.Model):
    __tablename__ = "testfeat_widget"

    name: Mapped[str] = mapped_column(String(50))
    slug: Mapped[str | None] = mapped_column(String(50))


feature = riso.Feature(
    name="widgets",
    core=">=0.1,<0.2",
    requires=("db",),
    migrations=riso.Migrations(
        versions="riso_testfeat_widgets.migrations", metadata=lambda: [Widget.__table__]
    ),
)
