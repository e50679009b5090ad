"""``/profile``: the app's own data about the caller, read in one query with riso-auth's row."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from riso_auth import CurrentUser, User
from riso_db import DbSession
from starter.models import Profile

router = APIRouter(tags=["profile"])


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str = Field(default="", max_length=100)
    bio: str = Field(default="", max_length=2000)


class ProfileOut(BaseModel):
    id: int
    email: str
    member_since: datetime
    display_name: str
    bio: str


async def _read(session: DbSession, user_id: int) -> ProfileOut:
    # riso-auth's columns and the app's, one round trip; no profile yet reads as empty
    row = (
        await session.execute(
            select(User.id, User.email, User.created_at, Profile.display_name, Profile.bio)
            .outerjoin(Profile, Profile.user_id == User.id)
            .where(User.id == user_id)
        )
    ).one()
    return ProfileOut(
        id=row.id,
        email=row.email,
        member_since=row.created_at,
        display_name=row.display_name or "",
        bio=row.bio or "",
    )


@router.get("/profile")
async def read_profile(user: CurrentUser, session: DbSession) -> ProfileOut:
    """The caller's account and profile."""
    return await _read(session, user.id)


@router.put("/profile")
async def write_profile(payload: ProfileIn, user: CurrentUser, session: DbSession) -> ProfileOut:
    """Create or replace the caller's profile."""
    profile = await session.get(Profile, user.id)
    if profile is None:
        profile = Profile(user_id=user.id)
        session.add(profile)
    profile.display_name = payload.display_name
    profile.bio = payload.bio
    await session.commit()
    return await _read(session, user.id)
