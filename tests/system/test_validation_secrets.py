"""A lone UTF-16 surrogate (``\\ud800``) in any JSON string is a 422 that leaks nothing.

Through the starter's real HTTP app (TestClient, SQLite migrated by the CLI):
register, forgot-password, refresh, verify, reset-password, password change
and notes each answer 422, never 500, and the secret sent in the body appears
neither in the response nor in anything logged (log records or the process's
output).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

BIN = Path(sys.executable).parent
SECRET_KEY = "surrogate-test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery staple 42"
#: what each request hides; must never come back or be logged
MARK = "S3CRETMARK"


@pytest.fixture(scope="module")
def starter_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    folder = tmp_path_factory.mktemp("surrogates")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DATABASE_URL", "CELERY_BROKER_URL", "RISO_DB_URL", "RISO_APP"):
            patch.delenv(name, raising=False)
        patch.setenv("RISO_AUTH_SECRET_KEY", SECRET_KEY)
        patch.chdir(folder)
        done = subprocess.run(
            [BIN / "riso", "--app", "starter.main:app", "db", "upgrade"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        sys.modules.pop("starter.main", None)  # built here, with this environment
        module = importlib.import_module("starter.main")
        yield module.app
        sys.modules.pop("starter.main", None)


@pytest.fixture(scope="module")
def client(starter_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(starter_app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def bearer(client: TestClient) -> dict[str, str]:
    email = f"s{uuid.uuid4().hex[:10]}@example.com"
    assert client.post("/auth/register", json={"email": email, "password": PASSWORD}).is_success
    token = client.post("/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


#: the escape as it travels in JSON text: the six characters \ud800
LONE = "\\ud800"
BODIES = {
    "register password": ("/auth/register", f'{{"email": "a@b.io", "password": "{MARK}{LONE}"}}'),
    "register email": ("/auth/register", f'{{"email": "a{LONE}@b.io", "password": "{MARK}"}}'),
    "register missing email": ("/auth/register", f'{{"emial": "a{LONE}", "password": "{MARK}"}}'),
    "forgot-password": ("/auth/forgot-password", f'{{"email": "a{LONE}@b.io"}}'),
    "refresh": ("/auth/refresh", f'{{"refresh_token": "{MARK}{LONE}"}}'),
    "verify": ("/auth/verify", f'{{"token": "{MARK}{LONE}"}}'),
    "reset-password": ("/auth/reset-password", f'{{"token": "{MARK}", "password": "x{LONE}"}}'),
    "password change": (
        "/auth/password",
        f'{{"current_password": "{MARK}{LONE}", "new_password": "{MARK}x"}}',
    ),
    "notes": ("/notes", f'{{"title": "t{LONE}", "body": "{MARK}{LONE}"}}'),
}  # fmt: skip


@pytest.mark.parametrize(("path", "body"), list(BODIES.values()), ids=list(BODIES))
def test_a_lone_surrogate_is_a_422_that_echoes_and_logs_no_secret(
    client: TestClient,
    bearer: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    path: str,
    body: str,
) -> None:
    caplog.set_level("DEBUG")
    headers = {"Content-Type": "application/json", **bearer}
    response = client.post(path, content=body.encode("ascii"), headers=headers)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    if path != "/notes":  # notes' body is no secret: it is echoed, made encodable
        assert MARK not in response.text
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert MARK not in logged
    assert "Traceback" not in logged


def test_secret_fields_are_redacted_and_other_inputs_kept(
    client: TestClient, bearer: dict[str, str]
) -> None:
    answer = client.post("/auth/register", json={"email": "not an email", "password": 7})
    assert answer.status_code == 422
    by_field = {tuple(e["loc"]): e for e in answer.json()["detail"]}
    assert by_field[("body", "email")]["input"] == "not an email"
    assert by_field[("body", "password")]["input"] == "[redacted]"
    missing = client.post("/auth/register", json={"password": MARK})
    (error,) = missing.json()["detail"]
    assert error["type"] == "missing"
    assert error["input"] == {"password": "[redacted]"}
