"""Old and new side by side (N-1): a rolling deploy of riso-auth on PostgreSQL.

The previous release (the newest earlier one with another schema, from ``scripts/releases.py``)
serves a realistic mix through its own ``riso serve``: sign-ins, refreshes,
authenticated reads, registrations (and the rate-limit counters all of them
write). Meanwhile the tree's ``riso db upgrade`` runs, a tree instance starts
on the same database and takes half the traffic, then the old instance is
drained and stopped. The old instance answers no 5xx at any point, no request
fails, and everything either instance acknowledged is stored: every session
and refresh token it handed out, every account it registered; the newest
refresh token of every chain still refreshes. The error count and p99 are
printed (no timed assertion).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from riso_test_support import install as helpers
from riso_test_support import upgrade

from riso.testing import ServerProcess, fresh_database

RELEASES = helpers.script("releases")
#: the newest earlier release the tree migrates from (one made before the tree's
#: last code-only changes has the tree's schema: nothing would run beside it)
PREVIOUS = [
    r
    for r in RELEASES.releases("riso-auth")
    if RELEASES.revisions_at("riso-auth", r.commit) != RELEASES.revisions_at("riso-auth")
][-1]
WORKERS = 4
#: rate limits high enough for one client address making all the traffic (still counted)
LIMITS = {
    f"RISO_AUTH_RATE_{name}": "100000/1m"
    for name in ("LOGIN_ADDRESS", "LOGIN_ACCOUNT_ADDRESS", "LOGIN_ACCOUNT", "REFRESH_ADDRESS")
} | {"RISO_AUTH_RATE_REGISTER_ADDRESS": "100000/1h"}


def claims(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified (the test only reads the ids it names)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@dataclass
class Ledger:
    """Every request's outcome, and what the servers acknowledged."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"old": [], "new": []})
    statuses: dict[str, list[int]] = field(default_factory=lambda: {"old": [], "new": []})
    failures: list[str] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    refresh_ids: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    chains: dict[str, str] = field(default_factory=dict)  # email -> newest refresh token

    def record(self, name: str, status: int, seconds: float) -> None:
        with self.lock:
            self.statuses[name].append(status)
            self.latencies[name].append(seconds)


@dataclass
class Router:
    """Which instances take traffic now, and the requests in flight per instance."""

    targets: dict[str, httpx.Client]
    active: list[str]
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: dict[str, int] = field(default_factory=lambda: {"old": 0, "new": 0})
    turn: int = 0

    def pick(self) -> str:
        with self.lock:
            self.turn += 1
            name = self.active[self.turn % len(self.active)]
            self.in_flight[name] += 1
            return name

    def done(self, name: str) -> None:
        with self.lock:
            self.in_flight[name] -= 1

    def drain(self, name: str) -> None:
        with self.lock:
            self.active = [n for n in self.active if n != name]
        while True:
            with self.lock:
                if self.in_flight[name] == 0:
                    return
            time.sleep(0.01)


def call(
    router: Router, ledger: Ledger, method: str, path: str, **kw: Any
) -> httpx.Response | None:
    name = router.pick()
    started = time.perf_counter()
    try:
        response = router.targets[name].request(method, path, **kw)
    except httpx.HTTPError as exc:
        with ledger.lock:
            ledger.failures.append(f"{name} {method} {path}: {type(exc).__name__}: {exc}")
        return None
    finally:
        router.done(name)
    ledger.record(name, response.status_code, time.perf_counter() - started)
    if response.status_code >= 500:
        with ledger.lock:
            ledger.failures.append(
                f"{name} {method} {path}: {response.status_code} {response.text[:200]}"
            )
    return response


def worker(index: int, router: Router, ledger: Ledger, stop: threading.Event) -> None:
    """One client: its own account and chain (no two threads share a refresh chain)."""
    email, password = f"load-{index}@example.com", f"side by side passphrase {index}!"
    refresh = ledger.chains[email]
    round_ = 0
    while not stop.is_set():
        round_ += 1
        if round_ % 4 == 0:  # a fresh sign-in: a new session
            signed = call(
                router,
                ledger,
                "POST",
                "/auth/token",
                data={"username": email, "password": password},
            )
            if signed is not None and signed.status_code == 200:
                pair = signed.json()
                with ledger.lock:
                    ledger.sessions.add(claims(pair["access_token"])["sid"])
                    ledger.refresh_ids.add(claims(pair["refresh_token"])["jti"])
        refreshed = call(router, ledger, "POST", "/auth/refresh", json={"refresh_token": refresh})
        if refreshed is None or refreshed.status_code != 200:
            with ledger.lock:
                ledger.failures.append(
                    f"refresh of {email} answered {getattr(refreshed, 'status_code', None)}"
                )
            return
        pair = refreshed.json()
        refresh = pair["refresh_token"]
        with ledger.lock:
            ledger.refresh_ids.add(claims(refresh)["jti"])
            ledger.chains[email] = refresh
        me = call(
            router,
            ledger,
            "GET",
            "/auth/me",
            headers={"Authorization": f"Bearer {pair['access_token']}"},
        )
        if me is not None and me.status_code != 200:
            with ledger.lock:
                ledger.failures.append(f"/auth/me of {email} answered {me.status_code}")
        if round_ % 10 == 0:  # a registration now and then
            new = f"new-{index}-{round_}@example.com"
            made = call(
                router, ledger, "POST", "/auth/register", json={"email": new, "password": password}
            )
            if made is not None and made.status_code == 201:
                with ledger.lock:
                    ledger.accounts.add(new)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url) as url:
        yield url


def serve(venv: helpers.Venv, name: str) -> ServerProcess:
    process = ServerProcess(
        [str(venv.bin("riso")), "serve", "--host", "{host}", "--port", "{port}"],
        env=venv.environ(),
        cwd=venv.app_dir,
        ready_path="/hello",
        timeout=60,
        log_path=venv.app_dir / f"serve-{name}.log",
    )
    try:
        process.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    return process


def test_previous_release_serves_without_5xx_through_the_upgrade(
    database: str,
    releases: ModuleType,
    tree_wheels: dict[str, Path],
    tree_constraints: Path,
    tmp_path: Path,
) -> None:
    env = {"RISO_DB_URL": database, "RISO_AUTH_SECRET_KEY": upgrade.SECRET, **LIMITS}
    index = releases.build_release(PREVIOUS)
    old = helpers.make_venv(tmp_path / "old", [index])
    old.env.update(env)
    core = upgrade.wheel_pins(index)["riso-core"]
    upgrade.install_release(old, index, "riso-auth", "postgresql", f"riso-core[server]=={core}")
    new = helpers.make_venv(tmp_path / "new", [helpers.ROOT / ".cache" / "wheels-upgrade"])
    new.env.update(env)
    new.install("riso-auth", "riso-db[postgres]", "riso-core[server]", "-c", str(tree_constraints))
    assert new.distributions()["riso-auth"]["record"]  # the tree's wheel is installed
    assert set(new.distributions()["riso-auth"]["record"]) == helpers.wheel_records(
        tree_wheels["riso-auth"]
    )

    old.riso("db", "upgrade")
    old_head = upgrade.tree_heads(old)["auth"]
    old_server = serve(old, "old")
    ledger, stop = Ledger(), threading.Event()
    new_server: ServerProcess | None = None
    clients = {"old": httpx.Client(base_url=old_server.base_url, timeout=30)}
    try:
        for i in range(WORKERS):
            email = f"load-{i}@example.com"
            password = f"side by side passphrase {i}!"
            helpers.register_and_login(clients["old"], email, password)
            signed = clients["old"].post(
                "/auth/token", data={"username": email, "password": password}
            )
            assert signed.status_code == 200, signed.text
            ledger.chains[email] = signed.json()["refresh_token"]
            ledger.accounts.add(email)
        router = Router(clients, ["old"])
        threads = [
            threading.Thread(target=worker, args=(i, router, ledger, stop), daemon=True)
            for i in range(WORKERS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.5)  # load before the upgrade, not a timing assertion
        migrated = new.riso("db", "upgrade")
        assert f"auth: {old_head} -> auth_" in migrated.stdout, migrated.stdout
        new_server = serve(new, "new")
        clients["new"] = httpx.Client(base_url=new_server.base_url, timeout=30)
        router.active = ["old", "new"]
        time.sleep(1.5)  # both instances serve
        router.drain("old")
        old_server.stop(timeout=15)
        time.sleep(1.0)  # the new one alone
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        stop.set()
        old_server.stop(timeout=15)
        if new_server is not None:
            new_server.stop(timeout=15)
        for client in clients.values():
            client.close()

    old_statuses, new_statuses = ledger.statuses["old"], ledger.statuses["new"]
    old_5xx = sum(1 for s in old_statuses if s >= 500)
    print(
        f"\nside-by-side {PREVIOUS} -> tree: old instance {len(old_statuses)} requests, "
        f"{old_5xx} 5xx, p99 {p99(ledger.latencies['old']) * 1000:.1f} ms; new instance "
        f"{len(new_statuses)} requests, {sum(1 for s in new_statuses if s >= 500)} 5xx, "
        f"p99 {p99(ledger.latencies['new']) * 1000:.1f} ms; failures {len(ledger.failures)}"
    )
    assert ledger.failures == []
    assert old_5xx == 0
    assert old_statuses, "the old instance served nothing"
    assert new_statuses, "the new instance served nothing"

    # everything acknowledged is stored, and every chain's newest token still refreshes
    engine = sa.create_engine(upgrade.sqlalchemy_url(database))
    try:
        with engine.connect() as connection:
            sessions = set(connection.execute(sa.text("SELECT id FROM auth_sessions")).scalars())
            tokens = set(
                connection.execute(sa.text("SELECT id FROM auth_refresh_tokens")).scalars()
            )
            emails = set(connection.execute(sa.text("SELECT email FROM auth_users")).scalars())
    finally:
        engine.dispose()
    assert ledger.sessions <= sessions
    assert ledger.refresh_ids <= tokens
    assert ledger.accounts <= emails
    with helpers.serve(new) as server, server.client() as client:
        for email, token in ledger.chains.items():
            refreshed = client.post("/auth/refresh", json={"refresh_token": token})
            assert refreshed.status_code == 200, f"{email}: {refreshed.text}"
