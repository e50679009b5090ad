"""The starter tests itself as any app built on riso does: with the fixtures its packages bring.

No conftest: ``client``, ``make_user``, ``auth_headers``, ``db_session``,
``captured_tasks``... come from the installed riso packages' pytest plugins,
and the app is ``[tool.riso] app`` of the workspace's pyproject.toml. Every
test runs in a transaction rolled back at its end, so they pass in any order.
(test_starter.py serves the same app with real uvicorn, for what only a server shows.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from starter.models import Note

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session
    from starlette.testclient import TestClient

Headers = Callable[[Any], dict[str, str]]

pytestmark = pytest.mark.integration


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.unit
def test_hello(client: TestClient) -> None:
    assert client.get("/hello", params={"name": "riso"}).json() == {"message": "Hello, riso!"}
    assert client.get("/hello").headers["x-request-id"]


def test_notes_belong_to_their_owner(
    client: TestClient, make_user: Callable[..., Any], auth_headers: Headers
) -> None:
    alice, bob = auth_headers(make_user()), auth_headers(make_user())
    created = client.post("/notes", json={"title": "first", "body": "hello"}, headers=alice)
    assert created.status_code == 201, created.text
    note_id = created.json()["id"]
    assert [n["title"] for n in client.get("/notes", headers=alice).json()] == ["first"]
    assert client.get("/notes", headers=bob).json() == []
    assert client.get(f"/notes/{note_id}", headers=bob).status_code == 404
    assert client.delete(f"/notes/{note_id}", headers=bob).status_code == 404
    assert client.get(f"/notes/{note_id}", headers=alice).status_code == 200
    assert client.delete(f"/notes/{note_id}", headers=alice).status_code == 204
    assert client.get(f"/notes/{note_id}", headers=alice).status_code == 404


def test_registration_then_login(client: TestClient) -> None:
    email, password = "alice@example.com", "correct horse battery"
    registered = client.post("/auth/register", json={"email": email, "password": password})
    assert registered.status_code == 201, registered.text
    token = client.post("/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json()["email"] == email


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", "/notes", {"json": {"title": ""}}, 422),
        ("post", "/notes", {"json": {"title": "x" * 201}}, 422),
        ("post", "/notes", {"json": {"title": "ok", "owner_id": 1}}, 422),
        (
            "post",
            "/notes",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
        ),
        (
            "post",
            "/notes",
            {"content": b"\xff\xfe", "headers": {"content-type": "application/json"}},
            422,
        ),
        ("get", "/notes/0", {}, 422),
        ("get", "/notes/99999999999", {}, 422),
        ("get", "/notes/abc", {}, 422),
        ("post", "/notes", {"content": b"\xff\xfe"}, 422),
        ("post", "/tasks/add", {"params": {"x": "one", "y": 2}}, 422),
        ("post", "/tasks/add", {"params": {"x": 10**12, "y": 2}}, 422),
    ],
)
def test_bad_input_is_a_4xx_with_json_and_stores_nothing(
    auth_client: TestClient,
    sync_db_session: Session,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    options = dict(kwargs)  # the table is shared between parameters: never mutate it
    headers = options.pop("headers", {})
    response = auth_client.request(method, path, headers=headers, **options)
    assert response.status_code == status, response.text
    assert "detail" in response.json()
    assert auth_client.get("/notes").json() == []
    assert sync_db_session.scalar(select(func.count()).select_from(Note)) == 0


def test_notes_need_a_valid_token(client: TestClient) -> None:
    assert client.get("/notes").status_code == 401
    assert client.get("/notes", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.anyio
async def test_a_note_written_over_http_is_in_the_database(
    auth_client: TestClient, db_session: AsyncSession
) -> None:
    created = auth_client.post("/notes", json={"title": "stored"})
    note = await db_session.get(Note, created.json()["id"])
    assert note is not None
    assert (note.title, note.owner_id) == ("stored", auth_client.user.id)  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_note_seeded_in_the_database_is_served(
    client: TestClient,
    db_session: AsyncSession,
    make_user: Callable[..., Any],
    auth_headers: Headers,
) -> None:
    owner = make_user()
    db_session.add(Note(owner_id=owner.id, title="seeded", body=""))
    await db_session.commit()  # a savepoint: undone when the test ends
    assert [n["title"] for n in client.get("/notes", headers=auth_headers(owner)).json()] == [
        "seeded"
    ]


def test_adding_enqueues_a_task_that_adds(
    client: TestClient, captured_tasks: list[Any], run_tasks: Callable[[], list[object]]
) -> None:
    queued = client.post("/tasks/add", params={"x": 2, "y": 40})
    assert queued.status_code == 202, queued.text
    assert [(t.name, t.args) for t in captured_tasks] == [("starter.tasks.add", (2, 40))]
    assert captured_tasks[0].request_id == queued.headers["x-request-id"]
    assert run_tasks() == [42]


def test_the_access_line_has_the_request_id_and_no_password(
    client: TestClient, captured_logs: Any
) -> None:
    password = "a-password-never-logged"
    answer = client.post("/auth/register", json={"email": "a@example.com", "password": password})
    (line,) = captured_logs.where(event="request", path="/auth/register")
    assert line["request_id"] == answer.headers["x-request-id"]
    assert line["status"] == 201
    assert password not in captured_logs.text


def test_requests_are_counted(client: TestClient, metrics: Callable[..., float | None]) -> None:
    labels = {"method": "GET", "endpoint": "/hello", "status": "200"}
    before = metrics("http_requests_total", **labels) or 0.0
    client.get("/hello")
    assert metrics("http_requests_total", **labels) == before + 1


@pytest.mark.rate_limits
def test_registration_is_rate_limited_when_asked(client: TestClient) -> None:
    codes = [
        client.post(
            "/auth/register", json={"email": f"u{n}@example.com", "password": "a long password"}
        ).status_code
        for n in range(11)
    ]
    assert codes == [201] * 10 + [429]
