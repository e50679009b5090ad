"""One account per address as people read it (issue 19, defect 7).

Addresses equal after NFKC (fullwidth letters, mathematical bold, the ``ﬁ``
ligature, NFC vs NFD) made separate accounts, as did invisible characters
(zero-width space, soft hyphen); control characters such as ESC were
accepted.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from riso_test_support.auth import PASSWORD, AppFactory, migrate, serve
from sqlalchemy import func, select

import riso
import riso_auth
import riso_db
from riso._cli_support import CliState
from riso_auth._cli import cli
from riso_auth._emails import normalize_email

BASE = "fine.user@example.com"
#: each reads as BASE, or as "fine.user@example.com" with its letters decomposed
SAME = {
    "upper case": "Fine.User@Example.COM",
    "fullwidth local part": "\uff46\uff49\uff4e\uff45.user@example.com",
    "fullwidth domain": "fine.user@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
    "fullwidth at and dot": "fine.user\uff20example\uff0ecom",
    "mathematical bold": "\U0001d41f\U0001d422\U0001d427\U0001d41e.user@example.com",
    "fi ligature": "\ufb01ne.user@example.com",
    "ideographic full stop": "fine.user@example\u3002com",
}
INVISIBLE = {
    "zero-width space": ("fine.\u200buser@example.com", "U+200B"),
    "soft hyphen": ("fine.us\u00ader@example.com", "U+00AD"),
    "escape": ("fine.user\x1b[31m@example.com", "U+001B"),
    "right-to-left override": ("fine.user\u202e@example.com", "U+202E"),
    "zero-width joiner in domain": ("fine.user@exa\u200dmple.com", "U+200D"),
    "line separator": ("fine.user\u2028@example.com", "U+2028"),
}


@pytest.mark.parametrize("variant", sorted(SAME))
async def test_variants_are_one_account(
    app_factory: AppFactory, sqlite_url: str, variant: str
) -> None:
    app = app_factory(sqlite_url)
    async with serve(app) as client:
        r = await client.post("/auth/register", json={"email": BASE, "password": PASSWORD})
        assert r.status_code == 201, r.text
        r = await client.post("/auth/register", json={"email": SAME[variant], "password": PASSWORD})
        assert r.status_code == 400, r.text
        # the variant logs in to the one account and asks for its mails
        r = await client.post("/auth/token", data={"username": SAME[variant], "password": PASSWORD})
        assert r.status_code == 200, r.text
        r = await client.post("/auth/forgot-password", json={"email": SAME[variant]})
        assert r.status_code == 202
        async with riso_auth.runtime(app).database.sessionmaker() as session:
            users = await session.scalar(select(func.count()).select_from(riso_auth.User))
            tokens = await session.scalar(select(func.count()).select_from(riso_auth.OneTimeToken))
        assert users == 1
        assert tokens == 1


async def test_nfc_and_nfd_are_one_account(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url)
    nfc, nfd = "ren\u00e9e@example.com", "rene\u0301e@example.com"
    async with serve(app) as client:
        r = await client.post("/auth/register", json={"email": nfd, "password": PASSWORD})
        assert r.status_code == 201, r.text
        assert r.json()["email"] == nfc
        r = await client.post("/auth/register", json={"email": nfc, "password": PASSWORD})
        assert r.status_code == 400, r.text


async def test_idna_domain_forms_are_one_account(app_factory: AppFactory, sqlite_url: str) -> None:
    app = app_factory(sqlite_url)
    async with serve(app) as client:
        r = await client.post(
            "/auth/register", json={"email": "leser@xn--bcher-kva.de", "password": PASSWORD}
        )
        assert r.status_code == 201, r.text
        assert r.json()["email"] == "leser@b\u00fccher.de"
        r = await client.post(
            "/auth/register", json={"email": "leser@B\u00dcCHER.de", "password": PASSWORD}
        )
        assert r.status_code == 400, r.text


@pytest.mark.parametrize("case", sorted(INVISIBLE))
async def test_invisible_and_control_characters_are_refused(
    app_factory: AppFactory, sqlite_url: str, case: str
) -> None:
    email, code_point = INVISIBLE[case]
    app = app_factory(sqlite_url)
    async with serve(app) as client:
        for path in ("/auth/register", "/auth/forgot-password", "/auth/request-verify"):
            body = {"email": email, "password": PASSWORD}
            r = await client.post(path, json=body)
            assert r.status_code == 422, (path, r.text)
            assert code_point in r.text, r.text
            assert "remove it" in r.text
            assert "\x1b" not in r.text
        r = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
        assert r.status_code == 422, r.text
        assert code_point in r.json()["detail"]


def test_normalisation_is_idempotent() -> None:
    for email in [BASE, *SAME.values(), "rene\u0301e@example.com", "leser@xn--bcher-kva.de"]:
        once = normalize_email(email)
        assert normalize_email(once) == once
    assert {normalize_email(e) for e in SAME.values()} == {BASE}


def test_cli_create_user_normalises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISO_DB_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RISO_AUTH_SECRET_KEY", "cli-secret-" + "x" * 40)
    (tmp_path / "identityapp.py").write_text(
        textwrap.dedent(
            """
            import riso, riso_db, riso_auth
            from fastapi import FastAPI
            app = FastAPI()
            riso.include(app, features=[riso_db.feature, riso_auth.feature])
            """
        )
    )
    sys.modules.pop("identityapp", None)
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])
    migrate(app)
    riso_db.database(app).sync_engine.dispose()
    given = "a long admin secret\na long admin secret\n"
    state = CliState("identityapp:app", cwd=tmp_path)
    first = CliRunner().invoke(
        cli, ["create-user", SAME["fullwidth local part"]], input=given, obj=state
    )
    assert first.exit_code == 0, first.output
    assert f"created user {BASE}" in first.output
    again = CliRunner().invoke(cli, ["create-user", SAME["fi ligature"]], input=given, obj=state)
    assert again.exit_code == 1
    assert "already exists" in again.output
    bad = CliRunner().invoke(cli, ["create-user", INVISIBLE["escape"][0]], input=given, obj=state)
    assert bad.exit_code == 1
    assert "U+001B" in bad.output
