"""``DbSession``: one AsyncSession per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from riso_db._database import database


async def get_session(connection: HTTPConnection) -> AsyncIterator[AsyncSession]:
    """Yield a session for one request; roll back on any exception; close it when used.

    Nothing is committed unless the endpoint awaits ``session.commit()``.
    Closing is shielded from cancellation, so a client that disconnects
    mid-request cannot leave a connection checked out.
    """
    session = database(connection.app).sessionmaker()
    try:
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):
            await session.rollback()
        raise
    finally:
        if _holds_anything(session):
            with anyio.CancelScope(shield=True):
                await session.close()


def _holds_anything(session: AsyncSession) -> bool:
    """Whether closing ``session`` does anything: a transaction (a connection) or objects.

    An endpoint that never used the session (riso-auth's lookup asks for it
    only to share it) then costs no close: that was a greenlet switch per request.
    """
    return bool(session.in_transaction() or session.identity_map or session.new)


#: An endpoint parameter: ``async def endpoint(session: DbSession): ...``
DbSession = Annotated[AsyncSession, Depends(get_session)]
