"""Password hashing: pwdlib (argon2id, bcrypt for imported hashes) off the event loop.

Every hash and verify runs in a private thread pool whose size bounds how many
run at once (default: the CPUs this process may use), so a flood of logins
queues instead of multiplying memory (each argon2id hash holds its memory cost
while it runs) and never blocks the event loop. The pool threads run at a
lower scheduling priority than the event loop where the OS allows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from riso_auth._exceptions import PasswordPolicyError
from riso_auth._settings import AuthSettings

logger = logging.getLogger("riso.auth")

T = TypeVar("T")

#: bcrypt only looks at the first 72 bytes of a password
BCRYPT_MAX_BYTES = 72
#: how much nicer (lower priority) hashing threads run than the event loop
HASH_THREAD_NICENESS = 5
#: argon2id's cheapest parameters (time cost, memory cost in KiB, parallelism), for
#: RISO_AUTH_INSECURE_TEST_HASHING (accepted under pytest only)
TEST_ARGON2 = (1, 8, 1)


#: the stored hash of an account without a password (created through a provider):
#: no hasher identifies it, so no password matches it; a reset sets a real one
UNUSABLE_PASSWORD = "!"  # noqa: S105 (a marker no hash equals, not a secret)


def has_usable_password(hashed: str) -> bool:
    """Whether the account has a password one can sign in with."""
    return not hashed.startswith(UNUSABLE_PASSWORD)


def usable_cpus() -> int:
    """CPUs this process may run on (honours taskset / cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def normalize(password: str) -> str:
    """NFKC, as NIST SP 800-63B recommends, so the same text always hashes alike."""
    return unicodedata.normalize("NFKC", password)


@cache
def _shipped_common_passwords() -> frozenset[str]:
    text = resources.files("riso_auth").joinpath("common_passwords.txt").read_text("utf-8")
    return _parse_list(text)


def _parse_list(text: str) -> frozenset[str]:
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def _lower_priority() -> None:
    # On Linux setpriority(PRIO_PROCESS, tid) changes one thread only.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)


class PasswordService:
    """Hash, verify and police passwords for one application."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        time_cost, memory_cost, parallelism = (
            TEST_ARGON2
            if settings.insecure_test_hashing
            else (
                settings.argon2_time_cost,
                settings.argon2_memory_cost,
                settings.argon2_parallelism,
            )
        )
        #: the pwdlib context; the first hasher is the current default
        self.context = PasswordHash(
            (
                Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism),
                BcryptHasher(),
            )
        )
        self.concurrency = settings.hash_concurrency or usable_cpus()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._dummy_hash: str | None = None
        self._common: frozenset[str] | None = None

    # --- thread pool -----------------------------------------------------
    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.concurrency,
                        thread_name_prefix="riso-auth-hash",
                        initializer=_lower_priority,
                    )
        return self._executor

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool(), func, *args)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    # --- hashing -----------------------------------------------------------
    async def hash(self, password: str) -> str:
        return await self._run(self.context.hash, normalize(password))

    async def warm_up(self) -> None:
        """Prepare the dummy hash so the first unknown-user login costs one verify."""
        if self._dummy_hash is None:
            self._dummy_hash = await self._run(self.context.hash, secrets.token_urlsafe(16))

    async def verify_and_update(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """Check ``password``; return whether it matches and a new hash when one is due.

        An unknown account (``hashed`` None), a hash of an unknown format and a
        bcrypt hash with a password bcrypt would truncate all cost exactly one
        verification against a dummy hash and fail, so they look alike.
        """
        password = normalize(password)
        if hashed is None or not self._usable(password, hashed):
            await self.warm_up()
            assert self._dummy_hash is not None
            await self._run(self.context.verify, password, self._dummy_hash)
            return False, None
        return await self._run(self.context.verify_and_update, password, hashed)

    def _usable(self, password: str, hashed: str) -> bool:
        if not has_usable_password(hashed):
            return False
        if not any(h.identify(hashed) for h in self.context.hashers):
            logger.warning("a stored password hash has an unknown format; login refused")
            return False
        # bcrypt silently ignores everything after 72 bytes (bcrypt>=5 raises):
        # a longer password must never match its truncation.
        return not (
            BcryptHasher.identify(hashed) and len(password.encode("utf-8")) > BCRYPT_MAX_BYTES
        )

    def needs_rehash(self, hashed: str) -> bool:
        current = self.context.current_hasher
        return not current.identify(hashed) or current.check_needs_rehash(hashed)

    # --- policy ------------------------------------------------------------
    def common_passwords(self) -> frozenset[str]:
        if self._common is None:
            common = _shipped_common_passwords()
            extra = self.settings.common_passwords_file
            if extra is not None:
                common = common | _parse_list(Path(extra).read_text("utf-8"))
            self._common = common
        return self._common

    def check_policy(self, password: str, *, email: str | None = None) -> None:
        """Raise PasswordPolicyError with a message for the user when ``password`` is refused."""
        settings = self.settings
        text = normalize(password)
        if len(text) < settings.password_min_length:
            raise PasswordPolicyError(
                f"password must be at least {settings.password_min_length} characters"
            )
        if len(text) > settings.password_max_length:
            raise PasswordPolicyError(
                f"password must be at most {settings.password_max_length} characters"
            )
        if settings.reject_common_passwords:
            lowered = text.lower()
            if lowered in self.common_passwords():
                raise PasswordPolicyError("password is too common; choose another one")
            if email and lowered in {email.lower(), email.split("@", 1)[0].lower()}:
                raise PasswordPolicyError("password must not be your email address")
