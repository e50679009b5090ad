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

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + "k" * 40
USE_WRK = shutil.which("wrk") is not None
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


@dataclass
class Result:
    count: int
    errors: int
    seconds: float
    latencies: list[float]
    #: (p50, p99) in ms when measured by wrk
    fixed: tuple[float, float] | None = None

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if self.fixed is not None:
            return self.fixed[0] if p == 0.5 else self.fixed[1]
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(len(data) * p))] * 1000


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _worker(port: int, request: bytes, stop: float, out: Result, expect: int = 200) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            out.latencies.append(time.perf_counter() - t0)
            out.count += 1
            if status != expect:
                out.errors += 1
    finally:
        writer.close()


def _wrk_ms(text: str) -> float:
    value = float(re.sub(r"[a-z]+$", "", text))
    unit = re.sub(r"^[0-9.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(port: int, path: str, token: str | None, seconds: float, connections: int) -> Result:
    """GET with wrk (faster than any Python client) pinned to CPU 1; percentiles from --latency."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "1", *cmd]
    subprocess.run([*cmd[:-1], cmd[-1]], capture_output=True, check=True)  # warm-up run
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    pcts = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result = Result(int(rps * seconds), int(non2xx.group(1)) if non2xx else 0, seconds, [])
    result.fixed = (_wrk_ms(pcts["50"]), _wrk_ms(pcts["99"]))
    return result


async def get_load(
    port: int, path: str, token: str | None, seconds: float, connections: int
) -> Result:
    if USE_WRK:
        return await asyncio.to_thread(wrk, port, path, token, seconds, connections)
    return await load(port, get(path, token), seconds, connections)


async def load(port: int, request: bytes, seconds: float, connections: int) -> Result:
    # short warm-up, then the measured run
    warm = Result(0, 0, 0, [])
    stop = time.perf_counter() + min(1.0, seconds / 4)
    await asyncio.gather(*(_worker(port, request, stop, warm) for _ in range(connections)))
    result = Result(0, 0, seconds, [])
    stop = time.perf_counter() + seconds
    await asyncio.gather(*(_worker(port, request, stop, result) for _ in range(connections)))
    return result


def get(path: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()


def post_form(path: str, body: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def post_json(path: str, body: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


async def once(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    writer.close()
    return int(head[9:12]), body


async def plain_during_logins(port: int, login: bytes, seconds: float) -> tuple[Result, Result]:
    """p99 of /plain (one sequential client) idle, then while 16 clients log in."""
    idle = Result(0, 0, seconds, [])
    await _worker(port, get("/plain"), time.perf_counter() + seconds, idle)
    busy = Result(0, 0, seconds, [])
    logins = Result(0, 0, seconds, [])
    stop = time.perf_counter() + seconds
    await asyncio.gather(
        _worker(port, get("/plain"), stop, busy),
        *(_worker(port, login, stop, logins) for _ in range(16)),
    )
    return idle, busy


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, name: str, folder: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            f"{name}:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", "0", *cmd]
        self.proc = subprocess.Popen(
            cmd, cwd=folder, env={**os.environ, **env, "PYTHONPATH": str(folder)}
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{name} did not start")

    def peak_rss_mb(self) -> float:
        # uvicorn runs in the taskset child's process (exec), so the pid is the server's
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def line(name: str, r: Result, base: Result | None = None) -> str:
    ratio = f"{r.rps / base.rps:6.2f}x bare" if base and base.rps else ""
    errors = f"  errors={r.errors}" if r.errors else ""
    return (
        f"  {name:<16} {r.rps:9.0f} req/s   p50 {r.pct(0.5):7.2f} ms   "
        f"p99 {r.pct(0.99):7.2f} ms  {ratio}{errors}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})

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

    results: dict[str, Result] = {}
    server = Server("bare_app", folder, {})
    try:
        results["bare"] = await get_load(server.port, "/me", None, secs, conns)
    finally:
        server.stop()

    server = Server("pyjwt_app", folder, {"BENCH_SECRET": SECRET})
    try:
        now = int(time.time())
        import jwt

        payload = {"sub": "1", "iss": "riso", "aud": "riso", "iat": now, "exp": now + 900}
        token = jwt.encode(payload, SECRET, algorithm="HS256")
        results["pyjwt"] = await get_load(server.port, "/me", token, secs, conns)
    finally:
        server.stop()

    extra: dict[str, object] = {}
    for name, module, env, register, login_path, me_path in (
        ("riso", "riso_app", riso_env, "/auth/register", "/auth/token", "/me"),
        ("fastapi_users", "fu_app", fu_env, "/auth/register", "/auth/jwt/login", "/users/me"),
    ):
        server = Server(module, folder, env)
        try:
            status, _ = await once(
                server.port,
                post_json(register, f'{{"email": "{EMAIL}", "password": "{PASSWORD}"}}'),
            )
            assert status == 201, (name, status)
            status, body = await once(server.port, post_form(login_path, creds))
            assert status == 200, (name, status, body)
            import json

            token = json.loads(body)["access_token"]
            results[name] = await get_load(server.port, me_path, token, secs, conns)
            rss_before = server.rss_mb()
            results[f"{name} login"] = await load(
                server.port, post_form(login_path, creds), secs, 16
            )
            idle, busy = await plain_during_logins(server.port, post_form(login_path, creds), secs)
            extra[name] = (idle, busy, rss_before, server.peak_rss_mb())
            if name == "riso":
                # revocation: log out, then the same token must fail within one second
                status, _ = await once(
                    server.port,
                    post_form("/auth/logout", "").replace(
                        b"\r\n\r\n", f"\r\nAuthorization: Bearer {token}\r\n\r\n".encode(), 1
                    ),
                )
                t0 = time.perf_counter()
                while (await once(server.port, get(me_path, token)))[0] != 401:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                extra["revoked_after"] = (status, time.perf_counter() - t0)
        finally:
            server.stop()

    bare = results["bare"]
    tool = "wrk" if USE_WRK else "the asyncio client (install wrk for higher ceilings)"
    print(f"GET the caller's id and email ({conns} connections, {tool}):")
    print(line("bare FastAPI", bare, bare))
    print(line("PyJWT only", results["pyjwt"], bare))
    print(line("riso CurrentUser", results["riso"], bare))
    print(line("fastapi-users", results["fastapi_users"], bare))
    fu = results["fastapi_users"]
    print(f"  riso / fastapi-users: {results['riso'].rps / fu.rps:.2f}x req/s\n")
    print("login under load (16 connections, POST password form):")
    print(line("riso", results["riso login"]))
    print(line("fastapi-users", results["fastapi_users login"]))
    print("\nGET /plain p99, idle vs during 16 concurrent logins (same server):")
    for name in ("riso", "fastapi_users"):
        idle, busy, rss_before, peak = extra[name]  # type: ignore[misc]
        print(
            f"  {name:<14} idle p50 {idle.pct(0.5):6.2f} ms p99 {idle.pct(0.99):6.2f} ms | "
            f"during logins p50 {busy.pct(0.5):6.2f} ms p99 {busy.pct(0.99):7.2f} ms "
            f"({busy.count} answers) | RSS before logins {rss_before:.0f} MB, peak {peak:.0f} MB"
        )
    status, seconds = extra["revoked_after"]  # type: ignore[misc]
    print(f"\nriso logout -> {status}; the access token was refused {seconds * 1000:.0f} ms later")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
