"""What full-stack-fastapi-template's backend does, on its own stack (the baseline).

As in the template's ``api/deps.py`` and routes: a module-level sync engine
(psycopg, SQLAlchemy's pool defaults: 5 + 10 overflow, no pre-ping), a sync
``Session`` per request from a ``yield`` dependency, ``get_current_user``
decoding the HS256 token with PyJWT and loading the row with
``session.get(User, id)``, and sync ``def`` endpoints: FastAPI runs the
dependencies and the endpoints in its threadpool. Lists take one query (the
template also counts the rows; riso's list does not, so neither does this).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from jwt.exceptions import InvalidTokenError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from auth_real_apps.template_models import Item, User

SECRET_KEY = os.environ["BENCH_SECRET"]
ALGORITHM = "HS256"
engine = create_engine(os.environ["BENCH_DB_URL"])
app = FastAPI()
reusable_oauth2 = OAuth2PasswordBearer(tokenUrl="/login/access-token")


def get_db() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]
TokenDep = Annotated[str, Depends(reusable_oauth2)]


class TokenPayload(BaseModel):
    sub: str | None = None


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    is_active: bool
    is_superuser: bool
    full_name: str | None


class ItemCreate(BaseModel):
    title: str = Field(min_length=1, max_length=255)
    body: str | None = Field(default=None, max_length=255)


class ItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    body: str | None
    owner_id: uuid.UUID


def get_current_user(session: SessionDep, token: TokenDep) -> User:
    try:
        payload = jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
        token_data = TokenPayload(**payload)
    except (InvalidTokenError, ValidationError):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail="Could not validate credentials"
        ) from None
    user = session.get(User, uuid.UUID(token_data.sub)) if token_data.sub else None
    if not user:
        raise HTTPException(status_code=404, detail="User not found")
    if not user.is_active:
        raise HTTPException(status_code=400, detail="Inactive user")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


@app.get("/users/me", response_model=UserPublic)
def read_user_me(current_user: CurrentUser) -> User:
    return current_user


@app.get("/items", response_model=list[ItemPublic])
def read_items(session: SessionDep, current_user: CurrentUser) -> list[Item]:
    statement = select(Item).where(Item.owner_id == current_user.id).order_by(Item.id).limit(20)
    return list(session.scalars(statement).all())


@app.post("/items", response_model=ItemPublic, status_code=status.HTTP_201_CREATED)
def create_item(session: SessionDep, current_user: CurrentUser, item_in: ItemCreate) -> Item:
    item = Item(**item_in.model_dump(), owner_id=current_user.id)
    session.add(item)
    session.commit()
    session.refresh(item)
    return item
