"""riso-auth: an authenticated endpoint and login under load.

Servers (one uvicorn worker each, uvloop + httptools, no access log, pinned to
CPU 0 with taskset; this script, the load generator, pins itself to CPU 1;
loopback only; SQLite through aiosqlite for both auth variants):

* ``bare``           FastAPI, ``GET /me`` returns a constant id and email (no auth)
* ``pyjwt``          ``GET /me`` with a PyJWT-only dependency (decode, no database,
                     no revocation): the floor for any JWT check
* ``riso``           ``GET /me`` through ``riso_auth.CurrentUser`` (signature, claims,
                     revocation: denylist + session + security stamp, cached by each
                     instance for at most RISO_AUTH_REVOCATION_CACHE_SECONDS=1)
* ``riso API key``   the same ``GET /me`` with an API key (``riso_pat_...``) as the
                     bearer: its keyed hash, owner and revocation, cached the same way
* ``fastapi_users``  fastapi-users ``GET /users/me`` (JWT strategy, bearer transport,
                     SQLAlchemy async user database on the same engine kind)

Then login under load (16 concurrent connections posting the password form) for
riso and fastapi-users, and the p99 of a plain endpoint on the same server
while 16 logins run, against its p99 when idle; the server's peak RSS tells
whether concurrent hashes are bounded.

The password hashers differ: riso-auth uses OWASP's argon2id minimum
(19 MiB, t=2, p=1), fastapi-users pwdlib's recommended (64 MiB, t=3, p=4), so
login throughput is not like for like; the plain-endpoint latency during
logins is the point of that part.

    .tools/bin/uv run --no-sync python bench/auth_me.py [--duration 5] [--connections 32]

The GET measurements use wrk when it is installed (a Python client on one core
saturates before a FastAPI server does), else a small asyncio HTTP/1.1
keep-alive client; logins and the plain-endpoint probe always use the asyncio
client, which records every request's latency.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import textwrap
import time
from pathlib import Path

from benchkit import (
    HOST,
    LOAD_CPU,
    SERVER_CPU,
    LoadResult,
    Throughput,
    argument_parser,
    bearer,
    has_wrk,
    http_request,
    keepalive_client,
    peak_rss_mib,
    pin_this_process,
    pinned,
    request_once,
    rss_mib,
    run_load,
    run_wrk,
    uvicorn_argv,
)

from riso.testing import ServerProcess, clean_environ

SECRET = "bench-secret-" + "k" * 40
USE_WRK = has_wrk()
EMAIL = "bench@example.com"
PASSWORD = "a bench password that is long"

BARE = textwrap.dedent(
    """
    from fastapi import FastAPI
    app = FastAPI()

    @app.get("/me")
    async def me():
        return {"id": 1, "email": "bench@example.com"}

    @app.get("/plain")
    async def plain():
        return {"ok": True}
    """
)

PYJWT_ONLY = textwrap.dedent(
    """
    import os
    from typing import Annotated
    import jwt
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.security import OAuth2PasswordBearer

    SECRET = os.environ["BENCH_SECRET"]
    scheme = OAuth2PasswordBearer(tokenUrl="/token")
    app = FastAPI()

    def claims(token: Annotated[str, Depends(scheme)]) -> dict:
        try:
            return jwt.decode(token, SECRET, algorithms=["HS256"], audience="riso", issuer="riso")
        except jwt.PyJWTError:
            raise HTTPException(401) from None

    @app.get("/me")
    async def me(c: Annotated[dict, Depends(claims)]):
        return {"id": int(c["sub"]), "email": "bench@example.com"}
    """
)

RISO = textwrap.dedent(
    """
    import riso, riso_db, riso_auth
    from fastapi import FastAPI
    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])

    @app.get("/me")
    async def me(user: riso_auth.CurrentUser):
        return {"id": user.id, "email": user.email}

    @app.get("/plain")
    async def plain():
        return {"ok": True}
    """
)

FASTAPI_USERS = textwrap.dedent(
    """
    import os, uuid
    from contextlib import asynccontextmanager
    from fastapi import Depends, FastAPI
    from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
    from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
    from fastapi_users.db import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
    from sqlalchemy.orm import DeclarativeBase

    SECRET = os.environ["BENCH_SECRET"]
    engine = create_async_engine(os.environ["BENCH_DB"])
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    class Base(DeclarativeBase):
        pass

    class User(SQLAlchemyBaseUserTableUUID, Base):
        pass

    class UserRead(schemas.BaseUser[uuid.UUID]):
        pass

    class UserCreate(schemas.BaseUserCreate):
        pass

    async def get_session():
        async with sessions() as session:
            yield session

    async def get_user_db(session: AsyncSession = Depends(get_session)):
        yield SQLAlchemyUserDatabase(session, User)

    class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
        reset_password_token_secret = SECRET
        verification_token_secret = SECRET

    async def get_user_manager(user_db=Depends(get_user_db)):
        yield UserManager(user_db)

    def get_jwt_strategy():
        return JWTStrategy(secret=SECRET, lifetime_seconds=900)

    backend = AuthenticationBackend(
        name="jwt",
        transport=BearerTransport(tokenUrl="auth/jwt/login"),
        get_strategy=get_jwt_strategy,
    )
    fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])

    @asynccontextmanager
    async def lifespan(app):
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(fastapi_users.get_auth_router(backend), prefix="/auth/jwt")
    app.include_router(fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth")
    users_router = fastapi_users.get_users_router(UserRead, schemas.BaseUserUpdate)
    app.include_router(users_router, prefix="/users")

    @app.get("/plain")
    async def plain():
        return {"ok": True}
    """
)

# --------------------------------------------------------------------------- load


async def get_load(
    port: int, path: str, token: str | None, seconds: float, connections: int
) -> Throughput:
    """GET with wrk when installed (after a warm-up run of the same length), else asyncio."""
    if not USE_WRK:
        return await run_load(port, get(path, token), seconds, connections)
    url = f"http://{HOST}:{port}{path}"
    for _ in range(2):  # the first run warms up
        result = await asyncio.to_thread(
            run_wrk, url, connections=connections, duration=seconds, headers=bearer(token)
        )
    return result


def get(path: str, token: str | None = None) -> bytes:
    return http_request("GET", path, headers=bearer(token))


def post_form(path: str, body: str, token: str | None = None) -> bytes:
    form = "application/x-www-form-urlencoded"
    return http_request("POST", path, headers=bearer(token), body=body, content_type=form)


def post_json(path: str, body: str) -> bytes:
    return http_request("POST", path, body=body, content_type="application/json")


def post_json_as(path: str, body: str, token: str) -> bytes:
    return http_request(
        "POST", path, headers=bearer(token), body=body, content_type="application/json"
    )


async def plain_during_logins(
    port: int, login: bytes, seconds: float
) -> tuple[LoadResult, LoadResult]:
    """p99 of /plain (one sequential client) idle, then while 16 clients log in."""
    idle = LoadResult(seconds)
    await keepalive_client(port, get("/plain"), time.perf_counter() + seconds, idle)
    busy = LoadResult(seconds)
    logins = LoadResult(seconds)
    stop = time.perf_counter() + seconds
    await asyncio.gather(
        keepalive_client(port, get("/plain"), stop, busy),
        *(keepalive_client(port, login, stop, logins) for _ in range(16)),
    )
    return idle, busy


# --------------------------------------------------------------------------- servers


def server_process(module: str, folder: Path, env: dict[str, str]) -> ServerProcess:
    """uvicorn serving ``module:app`` from ``folder`` on CPU 0; ``with`` starts and stops it."""
    return ServerProcess(
        pinned(uvicorn_argv(f"{module}:app"), SERVER_CPU),
        cwd=folder,
        env=clean_environ(os.environ, **env, PYTHONPATH=str(folder)),
        log_path=folder / f"{module}.log",
    )


def line(name: str, r: Throughput, base: Throughput | None = None) -> str:
    ratio = f"{r.rps / base.rps:6.2f}x bare" if base and base.rps else ""
    errors = f"  errors={r.errors}" if r.errors else ""
    return (
        f"  {name:<16} {r.rps:9.0f} req/s   p50 {r.percentile_ms(50):7.2f} ms   "
        f"p99 {r.percentile_ms(99):7.2f} ms  {ratio}{errors}"
    )


async def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    pin_this_process(LOAD_CPU)

    folder = Path(tempfile.mkdtemp(prefix="riso-bench-auth-"))
    (folder / "bare_app.py").write_text(BARE)
    (folder / "riso_app.py").write_text(RISO)
    (folder / "pyjwt_app.py").write_text(PYJWT_ONLY)
    (folder / "fu_app.py").write_text(FASTAPI_USERS)
    riso_env = {
        "RISO_DB_URL": f"sqlite:///{folder / 'riso.db'}",
        "RISO_AUTH_SECRET_KEY": SECRET,
        "RISO_AUTH_RATE_LIMIT_ENABLED": "false",
        "RISO_AUTH_REVOCATION_CACHE_SECONDS": "1",
    }
    fu_env = {"BENCH_DB": f"sqlite+aiosqlite:///{folder / 'fu.db'}", "BENCH_SECRET": SECRET}

    # riso's tables through its migrations
    os.environ.update(riso_env)
    from fastapi import FastAPI

    import riso
    import riso_auth
    import riso_db

    app = FastAPI()
    riso.include(app, features=[riso_db.feature, riso_auth.feature])
    riso_db.upgrade(app) if hasattr(riso_db, "upgrade") else __import__(
        "riso_db._migrations._runner", fromlist=["upgrade"]
    ).upgrade(app)
    riso_db.database(app).sync_engine.dispose()

    secs, conns = args.duration, args.connections
    creds = f"username={EMAIL.replace('@', '%40')}&password={PASSWORD.replace(' ', '+')}"
    print(
        f"riso-auth bench: {secs:.0f} s per measurement, {conns} connections, "
        "server on CPU 0, load on CPU 1\n"
    )

    results: dict[str, Throughput] = {}
    with server_process("bare_app", folder, {}) as server:
        results["bare"] = await get_load(server.port, "/me", None, secs, conns)

    with server_process("pyjwt_app", folder, {"BENCH_SECRET": SECRET}) as server:
        now = int(time.time())
        import jwt

        payload = {"sub": "1", "iss": "riso", "aud": "riso", "iat": now, "exp": now + 900}
        token = jwt.encode(payload, SECRET, algorithm="HS256")
        results["pyjwt"] = await get_load(server.port, "/me", token, secs, conns)

    extra: dict[str, object] = {}
    for name, module, env, register, login_path, me_path in (
        ("riso", "riso_app", riso_env, "/auth/register", "/auth/token", "/me"),
        ("fastapi_users", "fu_app", fu_env, "/auth/register", "/auth/jwt/login", "/users/me"),
    ):
        with server_process(module, folder, env) as server:
            status, _ = await request_once(
                server.port,
                post_json(register, f'{{"email": "{EMAIL}", "password": "{PASSWORD}"}}'),
            )
            assert status == 201, (name, status)
            status, body = await request_once(server.port, post_form(login_path, creds))
            assert status == 200, (name, status, body)
            import json

            token = json.loads(body)["access_token"]
            results[name] = await get_load(server.port, me_path, token, secs, conns)
            if name == "riso":
                status, body = await request_once(
                    server.port, post_json_as("/auth/api-keys", '{"name": "bench"}', token)
                )
                assert status == 201, (status, body)
                key = json.loads(body)["key"]
                results["riso key"] = await get_load(server.port, me_path, key, secs, conns)
                # and the JWT again: the ratio compares neighbours in time
                results["riso again"] = await get_load(server.port, me_path, token, secs, conns)
            rss_before = rss_mib(server.proc.pid)
            results[f"{name} login"] = await run_load(
                server.port, post_form(login_path, creds), secs, 16
            )
            idle, busy = await plain_during_logins(server.port, post_form(login_path, creds), secs)
            extra[name] = (idle, busy, rss_before, peak_rss_mib(server.proc.pid))
            if name == "riso":
                # revocation: log out, then the same token must fail within one second
                logout = post_form("/auth/logout", "", token)
                status, _ = await request_once(server.port, logout)
                t0 = time.perf_counter()
                while (await request_once(server.port, get(me_path, token)))[0] != 401:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                extra["revoked_after"] = (status, time.perf_counter() - t0)

    bare = results["bare"]
    tool = "wrk" if USE_WRK else "the asyncio client (install wrk for higher ceilings)"
    print(f"GET the caller's id and email ({conns} connections, {tool}):")
    print(line("bare FastAPI", bare, bare))
    print(line("PyJWT only", results["pyjwt"], bare))
    print(line("riso CurrentUser", results["riso"], bare))
    print(line("riso API key", results["riso key"], bare))
    print(line("fastapi-users", results["fastapi_users"], bare))
    fu = results["fastapi_users"]
    print(f"  riso / fastapi-users: {results['riso'].rps / fu.rps:.2f}x req/s")
    jwt_rps = (results["riso"].rps + results["riso again"].rps) / 2
    print(
        f"  riso API key / riso JWT: {results['riso key'].rps / jwt_rps:.2f}x req/s "
        "(JWT: the mean of the runs before and after the key's; goal >= 0.9x)\n"
    )
    print("login under load (16 connections, POST password form):")
    print(line("riso", results["riso login"]))
    print(line("fastapi-users", results["fastapi_users login"]))
    print("\nGET /plain p99, idle vs during 16 concurrent logins (same server):")
    for name in ("riso", "fastapi_users"):
        idle, busy, rss_before, peak = extra[name]  # type: ignore[misc]
        idle_p50, idle_p99 = idle.percentile_ms(50), idle.percentile_ms(99)
        busy_p50, busy_p99 = busy.percentile_ms(50), busy.percentile_ms(99)
        print(
            f"  {name:<14} idle p50 {idle_p50:6.2f} ms p99 {idle_p99:6.2f} ms | "
            f"during logins p50 {busy_p50:6.2f} ms p99 {busy_p99:7.2f} ms "
            f"({busy.count} answers) | RSS before logins {rss_before:.0f} MB, peak {peak:.0f} MB"
        )
    status, seconds = extra["revoked_after"]  # type: ignore[misc]
    print(f"\nriso logout -> {status}; the access token was refused {seconds * 1000:.0f} ms later")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
