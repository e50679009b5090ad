"""The starter's profile: the app's own table, keyed by riso-auth's account id."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from starter.models import Profile

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from starlette.testclient import TestClient

Headers = Callable[[Any], dict[str, str]]

pytestmark = pytest.mark.integration


def test_a_profile_reads_the_account_and_the_apps_row(
    client: TestClient, make_user: Callable[..., Any], auth_headers: Headers
) -> None:
    user = make_user()
    headers = auth_headers(user)
    empty = client.get("/profile", headers=headers)
    assert empty.status_code == 200, empty.text
    assert empty.json()["email"] == user.email
    assert empty.json()["display_name"] == ""
    written = client.put(
        "/profile", json={"display_name": "Ada", "bio": "engines"}, headers=headers
    )
    assert written.status_code == 200, written.text
    body = client.get("/profile", headers=headers).json()
    assert body["id"] == user.id
    assert (body["display_name"], body["bio"]) == ("Ada", "engines")
    assert body["member_since"]
    # another account sees its own, empty profile
    other = client.get("/profile", headers=auth_headers(make_user())).json()
    assert other["display_name"] == ""


@pytest.mark.parametrize(
    "payload",
    [{"display_name": "x" * 101}, {"bio": "x" * 2001}, {"user_id": 1}, {"display_name": 5}],
)
def test_bad_profiles_are_422_and_store_nothing(
    auth_client: TestClient, sync_db_session: Session, payload: dict[str, object]
) -> None:
    r = auth_client.put("/profile", json=payload)
    assert r.status_code == 422
    assert sync_db_session.scalar(select(func.count()).select_from(Profile)) == 0


def test_profiles_need_a_valid_token(client: TestClient) -> None:
    assert client.get("/profile").status_code == 401
    assert client.put("/profile", json={}).status_code == 401


def test_deleting_the_account_deletes_its_profile(
    client: TestClient,
    sync_db_session: Session,
    make_user: Callable[..., Any],
    auth_headers: Headers,
) -> None:
    user = make_user()
    headers = auth_headers(user)
    assert client.put("/profile", json={"display_name": "gone soon"}, headers=headers).is_success
    assert sync_db_session.get(Profile, user.id) is not None
    r = client.request(
        "DELETE", "/auth/me", json={"current_password": user.password}, headers=headers
    )
    assert r.status_code == 204, r.text
    sync_db_session.expire_all()
    assert sync_db_session.get(Profile, user.id) is None
    assert client.get("/profile", headers=headers).status_code == 401
