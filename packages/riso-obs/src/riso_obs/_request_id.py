"""Request ids: the one way a fresh id is made, and the check an incoming id must pass."""

from __future__ import annotations

import re
from random import getrandbits

#: a request id we accept from a client: short, and nothing that could forge a
#: log line (matches the raw header value, bytes)
VALID_ID = re.compile(rb"[A-Za-z0-9._:+/=@-]{1,128}").fullmatch


def new_request_id() -> str:
    """A fresh request id: 32 lowercase hex characters (``random`` reseeds after fork)."""
    return f"{getrandbits(128):032x}"


def is_valid_request_id(value: str) -> bool:
    """Whether an incoming id is kept (at most 128 characters of a safe alphabet)."""
    try:
        return VALID_ID(value.encode("ascii")) is not None
    except UnicodeEncodeError:
        return False
