"""A validation error handler that cannot itself fail on bad client input."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def _decode(value: bytes) -> str:
    return value.decode("utf-8", "replace")


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, except that undecodable bytes in ``input`` are replaced.

    FastAPI's own handler decodes raw bytes strictly, so a body that is not
    UTF-8 (sent without a JSON content type) turns a 422 into a 500.
    """
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors(), custom_encoder={bytes: _decode})
    return JSONResponse(status_code=422, content={"detail": errors})


def install(app: FastAPI) -> None:
    """Replace FastAPI's default handler; an application's own handler is kept."""
    current = app.exception_handlers.get(RequestValidationError)
    if current is None or current is request_validation_exception_handler:
        app.exception_handlers[RequestValidationError] = validation_error_handler
