"""Private APIs of riso-auth's dependencies, in one place (tests/test_oidc_compat.py
fails when upstream changes them).

* ``authlib_http()``: the HTTP client module Authlib's httpx integration runs on.
  Authlib 1.9 prefers ``httpx2`` and falls back, with a deprecation warning, to
  ``httpx``, which the rest of riso (and Starlette's TestClient here) uses; older
  Authlib uses ``httpx``. riso-auth catches that module's timeouts and errors and
  builds its ``Timeout``, whichever it is.
* ``authlib_oauth2_client()``: Authlib's ``AsyncOAuth2Client``, imported without
  that warning (riso-auth chose httpx knowingly; the range in pyproject stops
  before Authlib could drop the fallback).
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import Any


def authlib_http() -> ModuleType:
    try:
        shim = importlib.import_module("authlib.integrations.httpx_client._compat")
    except ModuleNotFoundError as exc:  # Authlib before 1.9: plain httpx
        if exc.name != "authlib.integrations.httpx_client._compat":
            raise
        return importlib.import_module("httpx")
    found: ModuleType = shim.httpx2
    return found


def authlib_oauth2_client() -> Any:
    """``authlib.integrations.httpx_client.AsyncOAuth2Client`` (ImportError without Authlib)."""
    # authlib.deprecate installs an "always" filter when imported: import it first,
    # so the filter below comes before it
    importlib.import_module("authlib.deprecate")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The httpx module is deprecated")
        module = importlib.import_module("authlib.integrations.httpx_client")
    return module.AsyncOAuth2Client
