"""Error handlers that cannot themselves fail on bad client input.

- validation errors: FastAPI's 422, with undecodable bytes replaced;
- a JSON body that is not UTF-8 (FastAPI: ``400 "There was an error parsing
  the body"``, a status the OpenAPI schema never declares): the same 422 as
  any other malformed JSON body.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

#: FastAPI's detail when reading a JSON body fails with anything but a JSON syntax error
_BODY_PARSE_ERROR = "There was an error parsing the body"


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


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's handler, except that an unparsable body is a 422 like malformed JSON."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == _BODY_PARSE_ERROR:
        error = {
            "type": "json_invalid",
            "loc": ["body"],
            "msg": "the body is not valid JSON (it must be UTF-8)",
            "input": None,
        }
        return JSONResponse(status_code=422, content={"detail": [error]})
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    """Replace FastAPI's default handlers; an application's own handlers are kept."""
    current = app.exception_handlers.get(RequestValidationError)
    if current is None or current is request_validation_exception_handler:
        app.exception_handlers[RequestValidationError] = validation_error_handler
    current = app.exception_handlers.get(HTTPException)
    if current is None or current is http_exception_handler:
        app.exception_handlers[HTTPException] = http_error_handler
