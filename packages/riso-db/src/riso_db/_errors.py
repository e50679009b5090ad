"""HTTP answers for database failures that reach the app unhandled.

- the database cannot be reached, dropped the connection, or the pool is
  exhausted (``OperationalError``, ``InterfaceError``, a connection the
  driver invalidated, ``sqlalchemy.exc.TimeoutError``): **503** with
  ``Retry-After``, JSON ``{"detail": "the database is unavailable; try again later"}``;
- the database refused a value the client sent (``DataError``: a NUL
  character in PostgreSQL text, a number out of the column's range, ...):
  **422** in FastAPI's validation-error shape, never a 500.

Anything else (``IntegrityError``, ``ProgrammingError``) is an application
bug and stays a 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import exc as sa_exc
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.requests import Request

UNAVAILABLE = "the database is unavailable; try again later"
RETRY_AFTER = "1"


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, sa_exc.DBAPIError) and not _is_unavailable(exc):
        raise exc
    return JSONResponse(
        {"detail": UNAVAILABLE}, status_code=503, headers={"Retry-After": RETRY_AFTER}
    )


def _is_unavailable(exc: sa_exc.DBAPIError) -> bool:
    return exc.connection_invalidated or isinstance(
        exc, sa_exc.OperationalError | sa_exc.InterfaceError
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    error = {
        "type": "invalid_data",
        "loc": ["body"],
        "msg": "a value cannot be stored by the database (e.g. a NUL character)",
    }
    return JSONResponse({"detail": [error]}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(sa_exc.OperationalError, _unavailable)
    app.add_exception_handler(sa_exc.InterfaceError, _unavailable)
    app.add_exception_handler(sa_exc.TimeoutError, _unavailable)
    app.add_exception_handler(sa_exc.DataError, _data_error)
