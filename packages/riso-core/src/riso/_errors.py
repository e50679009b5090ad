"""Error handlers that cannot themselves fail on bad client input.

- validation errors: FastAPI's 422, rendered so that it can neither fail nor
  leak: undecodable bytes and lone surrogates are replaced, and no submitted
  secret is echoed (see :func:`safe_errors` for the rule);
- a JSON body that is not UTF-8 (FastAPI: ``400 "There was an error parsing
  the body"``, a status the OpenAPI schema never declares): the same 422 as
  any other malformed JSON body.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

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


#: a field whose name contains one of these may hold a secret: its value is never echoed
SECRET_NAME = re.compile(
    r"pass|pwd|secret|token|key|credential|authorization|cookie|signature", re.IGNORECASE
)
#: what stands in for a value that is not echoed
REDACTED = "[redacted]"
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _decode(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _text(value: str) -> str:
    """``value`` with lone surrogates (which no encoder accepts) replaced by U+FFFD."""
    return _SURROGATE.sub("\N{REPLACEMENT CHARACTER}", value)


def is_secret_name(name: object) -> bool:
    return isinstance(name, str) and SECRET_NAME.search(name) is not None


def _scrub(value: Any) -> Any:
    """A JSON-safe copy of a rejected input: secrets redacted, text encodable."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bytes):
        return _text(_decode(value))
    if isinstance(value, dict):
        return {
            _text(str(k)): REDACTED if is_secret_name(k) else _scrub(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    return value


def safe_errors(errors: Sequence[Any]) -> list[Any]:
    """Validation errors as FastAPI renders them, safe to send and to log.

    The rule: an error whose location names a secret-looking field (its name
    contains pass, pwd, secret, token, key, credential, authorization, cookie
    or signature, in any case) has its ``input`` and ``ctx`` replaced by
    ``"[redacted]"``; in any other ``input`` (a whole body when a field is
    missing, say) the values of such keys are redacted. Every string has its
    lone surrogates replaced, so the response always encodes.
    """
    safe: list[Any] = []
    for error in errors:
        if not isinstance(error, dict):
            safe.append(_scrub(error))
            continue
        secret = any(is_secret_name(part) for part in error.get("loc", ()))
        item: dict[str, Any] = {}
        for key, value in error.items():
            if key in {"input", "ctx"} and secret:
                item[key] = REDACTED
            elif key == "ctx":
                item[key] = _scrub(jsonable_encoder(value, custom_encoder={bytes: _decode}))
            else:
                item[key] = _scrub(value)
        safe.append(item)
    return safe


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, except that no input it echoes can fail to encode or be a secret.

    FastAPI's own handler decodes raw bytes strictly, so a body that is not
    UTF-8 (sent without a JSON content type) turns a 422 into a 500, and a
    string with a lone surrogate (``"\\ud800"`` in JSON) fails to render, so
    the 500's log line carries the rejected input, passwords included.
    """
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(safe_errors(exc.errors()), custom_encoder={bytes: _decode})
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
