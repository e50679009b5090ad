"""fastapi-users: JWT strategy, bearer transport, its SQLAlchemy async user database.

``/users/me`` is fastapi-users' own; the notes endpoints take
``current_user(active=True)`` and the same per-request ``AsyncSession``
(FastAPI shares one dependency per request, so the user lookup and the
query use one session). Async psycopg 3, SQLAlchemy's pool defaults.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, status
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.db import SQLAlchemyUserDatabase
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from auth_real_apps.fu_models import Note, User
from auth_real_apps.note_schemas import NoteIn, NoteOut

SECRET = os.environ["BENCH_SECRET"]
LIFETIME = 86400
engine = create_async_engine(os.environ["BENCH_DB_URL"])
sessions = async_sessionmaker(engine, expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_user_db(
    session: SessionDep,
) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
    yield SQLAlchemyUserDatabase(session, User)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(
    user_db: Annotated[SQLAlchemyUserDatabase[User, uuid.UUID], Depends(get_user_db)],
) -> AsyncIterator[UserManager]:
    yield UserManager(user_db)


def get_jwt_strategy() -> JWTStrategy[User, uuid.UUID]:
    return JWTStrategy(secret=SECRET, lifetime_seconds=LIFETIME)


backend = AuthenticationBackend(
    name="jwt", transport=BearerTransport(tokenUrl="auth/jwt/login"), get_strategy=get_jwt_strategy
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])
current_active_user = fastapi_users.current_user(active=True)
ActiveUser = Annotated[User, Depends(current_active_user)]

app = FastAPI()
app.include_router(
    fastapi_users.get_users_router(schemas.BaseUser[uuid.UUID], schemas.BaseUserUpdate),
    prefix="/users",
)


@app.get("/notes")
async def list_notes(user: ActiveUser, session: SessionDep) -> list[NoteOut]:
    rows = await session.scalars(
        select(Note).where(Note.owner_id == user.id).order_by(Note.id).limit(20)
    )
    return [NoteOut(id=n.id, title=n.title, body=n.body) for n in rows]


@app.post("/notes", status_code=status.HTTP_201_CREATED)
async def create_note(payload: NoteIn, user: ActiveUser, session: SessionDep) -> NoteOut:
    note = Note(owner_id=user.id, title=payload.title, body=payload.body)
    session.add(note)
    await session.commit()
    return NoteOut(id=note.id, title=note.title, body=note.body)
