"""Tables, accounts, rows and bearer tokens for ``auth_real.py``: one database per app family.

Every family gets the same shape: ``users`` accounts, 20 rows owned by each,
and tokens that stay valid for a day (a long run must not outlive them):

* riso: its tables through its own migrations (``riso_db.upgrade``), one
  account made by ``create_user`` (one argon2 hash), the others inserted with
  that hash, and ``tokens_per_user`` logins per account through the public
  ``riso_auth.runtime(app).login`` (a refresh chain each, as real logins);
* the template-like app and fastapi-users: their tables from their models,
  accounts and rows inserted, tokens signed as each app signs them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
import uuid
from collections.abc import Sequence

import jwt
import psycopg
from auth_real_apps import fu_models, template_models
from auth_real_apps.notes import Note
from fastapi import FastAPI
from sqlalchemy import create_engine, insert, select

import riso
import riso_auth
import riso_db

ROWS_PER_USER = 20
TOKEN_LIFETIME = 86400
PASSWORD = "a bench password that is long"
#: any string works as a stored hash where nothing logs in with a password
UNUSED_HASH = "$argon2id$v=19$m=19456,t=2,p=1$unused$unused"


def email(n: int) -> str:
    return f"user{n}@bench.example"


def _copy_rows(
    url: str, table: str, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    """Insert many rows with COPY (seconds for 40,000 rows, not minutes)."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()


def _plain(url: str) -> str:
    """``url`` as libpq reads it (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


async def _logins(app: FastAPI, users: Sequence[riso_auth.User], per_user: int) -> list[str]:
    runtime = riso_auth.runtime(app)
    limit = asyncio.Semaphore(8)

    async def login(user: riso_auth.User) -> str:
        async with limit:
            return (await runtime.login(user)).access_token

    # token i belongs to user i % len(users): consecutive requests come from different accounts
    ordered = [user for _ in range(per_user) for user in users]
    return list(await asyncio.gather(*(login(user) for user in ordered)))


def seed_riso(url: str, secret: str, users: int, per_user: int) -> list[str]:
    """riso's database: migrated, filled; the access tokens, in the order to use them."""
    os.environ.update(
        RISO_DB_URL=url,
        RISO_AUTH_SECRET_KEY=secret,
        RISO_AUTH_ACCESS_TOKEN_LIFETIME=str(TOKEN_LIFETIME),
    )
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])
    riso_db.upgrade(app)
    db = riso_db.database(app)
    riso_db.Model.metadata.create_all(db.sync_engine, tables=[Note.__table__])  # type: ignore[list-item]

    async def accounts() -> list[str]:
        first = await riso_auth.runtime(app).create_user(email(0), PASSWORD)
        rows = [
            {
                "email": email(n),
                "hashed_password": first.hashed_password,
                "security_stamp": secrets.token_hex(16),
            }
            for n in range(1, users)
        ]
        async with db.sessionmaker() as session:
            if rows:
                await session.execute(insert(riso_auth.User), rows)
                await session.commit()
            found = list(await session.scalars(select(riso_auth.User).order_by(riso_auth.User.id)))
        tokens = await _logins(app, found, per_user)
        await db.dispose()
        return tokens

    tokens = asyncio.run(accounts())
    with db.sync_engine.connect() as conn:
        ids = list(conn.scalars(select(riso_auth.User.id)))
    db.sync_engine.dispose()
    notes = [
        (owner, f"note {n}", "a bench note body") for owner in ids for n in range(ROWS_PER_USER)
    ]
    _copy_rows(url, Note.__tablename__, ("owner_id", "title", "body"), notes)
    return tokens


def seed_template(url: str, secret: str, users: int) -> list[str]:
    """The template-like app's database; one token per account, as its login signs them."""
    engine = create_engine(url)
    template_models.Base.metadata.create_all(engine)
    engine.dispose()
    ids = [uuid.uuid4() for _ in range(users)]
    accounts = [(i, email(n), UNUSED_HASH, True, False) for n, i in enumerate(ids)]
    columns = ("id", "email", "hashed_password", "is_active", "is_superuser")
    _copy_rows(_plain(url), "user", columns, accounts)
    items = [
        (uuid.uuid4(), f"note {n}", "a bench note body", owner)
        for owner in ids
        for n in range(ROWS_PER_USER)
    ]
    _copy_rows(_plain(url), "item", ("id", "title", "body", "owner_id"), items)
    expires = int(time.time()) + TOKEN_LIFETIME
    return [jwt.encode({"exp": expires, "sub": str(i)}, secret, algorithm="HS256") for i in ids]


def seed_fastapi_users(url: str, secret: str, users: int) -> list[str]:
    """fastapi-users' database; one token per account, as its JWT strategy writes them."""
    from fastapi_users.jwt import generate_jwt

    engine = create_engine(url)
    fu_models.Base.metadata.create_all(engine)
    engine.dispose()
    ids = [uuid.uuid4() for _ in range(users)]
    accounts = [(i, email(n), UNUSED_HASH, True, False, False) for n, i in enumerate(ids)]
    columns = ("id", "email", "hashed_password", "is_active", "is_superuser", "is_verified")
    _copy_rows(_plain(url), "user", columns, accounts)
    notes = [
        (owner, f"note {n}", "a bench note body") for owner in ids for n in range(ROWS_PER_USER)
    ]
    _copy_rows(_plain(url), "note", ("owner_id", "title", "body"), notes)
    audience = ["fastapi-users:auth"]
    return [generate_jwt({"sub": str(i), "aud": audience}, secret, TOKEN_LIFETIME) for i in ids]
