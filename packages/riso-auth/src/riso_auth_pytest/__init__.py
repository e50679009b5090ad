"""riso-auth's pytest plugin (``pytest11``): users, tokens, no rate limits, fast hashing.

- ``make_user(email=None, password=None, *, is_superuser=False, is_verified=False,
  scopes=())``: a plain callable (sync and async tests alike) that creates an
  account through riso-auth (normalisation, policy, hashing) and returns a
  ``TestUser`` with ``.id``, ``.email``, ``.password`` and ``.user`` (the row).
- ``auth_headers(user)``: bearer headers for ``user`` (a login of its own).
- ``auth_client``: ``client`` signed in as a fresh verified user (``auth_client.user``).
- Under the plugin rate limits do not trip (``RISO_AUTH_RATE_LIMIT_ENABLED=false``)
  unless a test is marked ``@pytest.mark.rate_limits`` or uses the ``rate_limits``
  fixture, and passwords are hashed with argon2id's cheapest parameters
  (``RISO_AUTH_INSECURE_TEST_HASHING``, which riso-auth refuses outside pytest).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from riso_auth_pytest._users import TestUser, UserFactory, bearer_headers

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.testclient import TestClient

__all__ = [
    "TestUser",
    "auth_client",
    "auth_headers",
    "make_user",
    "pytest_configure",
    "pytest_riso_test_environ",
    "rate_limits",
    "riso_auth_rate_limit_marker",
]

#: a signing secret for test runs that set none (riso-auth would warn and make one up)
TEST_SECRET_KEY = "riso-auth-pytest-secret-" + "x" * 24


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rate_limits: riso-auth's rate limits apply in this test (off otherwise)"
    )


def pytest_riso_test_environ(config: pytest.Config) -> dict[str, str]:
    # a value the user set for the run wins (RISO_AUTH_INSECURE_TEST_HASHING=false
    # measures the suite with the production parameters)
    defaults = {
        "RISO_AUTH_RATE_LIMIT_ENABLED": "false",
        "RISO_AUTH_INSECURE_TEST_HASHING": "true",
        "RISO_AUTH_SECRET_KEY": TEST_SECRET_KEY,
    }
    return {key: value for key, value in defaults.items() if not os.environ.get(key)}


@pytest.fixture
def make_user(riso_app: FastAPI) -> UserFactory:
    """Create accounts through riso-auth: ``make_user(email=..., password=..., ...)``."""
    return UserFactory(riso_app)


@pytest.fixture
def auth_headers(riso_app: FastAPI) -> Callable[[Any], dict[str, str]]:
    """``auth_headers(user)``: ``{"Authorization": "Bearer <access token>"}`` for ``user``."""
    return lambda user: bearer_headers(riso_app, user)


@pytest.fixture
def auth_client(
    client: TestClient, make_user: UserFactory, auth_headers: Callable[[Any], dict[str, str]]
) -> TestClient:
    """``client``, signed in as a fresh verified user (``auth_client.user``)."""
    user = make_user(is_verified=True)
    client.headers.update(auth_headers(user))
    client.user = user
    return client


@pytest.fixture
def rate_limits(riso_app: FastAPI) -> Iterator[None]:
    """riso-auth's rate limits apply to the app during this test."""
    import riso_auth

    runtime = riso_auth.runtime(riso_app)
    saved = runtime.settings
    runtime.settings = saved.model_copy(update={"rate_limit_enabled": True})
    try:
        yield
    finally:
        runtime.settings = saved


@pytest.fixture(autouse=True)
def riso_auth_rate_limit_marker(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.rate_limits`` turns the ``rate_limits`` fixture on."""
    if request.node.get_closest_marker("rate_limits") is not None:
        request.getfixturevalue("rate_limits")
