"""The per-application state of riso-auth and every operation on accounts and sessions.

``AuthRuntime`` is built by ``riso.include`` (``app.state.riso_auth``) and used
by the endpoints, the dependencies, the CLI and ``authenticate_request``.
All session state (refresh chains, spent tokens, the denylist, counters) is in
the database, so it holds across every instance sharing it; an instance caches
a validated access token for at most ``RISO_AUTH_REVOCATION_CACHE_SECONDS``.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError

from riso_auth._exceptions import (
    AccountExistsError,
    AuthConfigError,
    InvalidTokenError,
    RateLimitedError,
)
from riso_auth._mail import LogMailSender, MailMessage, MailSender, load_sender
from riso_auth._models import (
    AuthSession,
    DeniedToken,
    OneTimeToken,
    RefreshToken,
    User,
    new_stamp,
)
from riso_auth._passwords import PasswordService
from riso_auth._ratelimit import RateLimiter, RedisRateLimiter, account_key
from riso_auth._settings import AuthSettings
from riso_auth._tokens import TokenService, generate_secret

if TYPE_CHECKING:
    from fastapi import FastAPI

    from riso_db import Database

logger = logging.getLogger("riso.auth")

#: cached principals kept at most (the cache is emptied when it grows past this)
_CACHE_MAX = 10_000


def stamp_tag(stamp: str) -> str:
    """What tokens carry of the security stamp (the stamp itself stays in the database)."""
    return hashlib.sha256(stamp.encode()).hexdigest()[:16]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a snapshot of the account and the access token's claims.

    To change the account, load the row: ``await session.get(riso_auth.User, user.id)``.
    """

    id: int
    email: str
    is_active: bool
    is_verified: bool
    is_superuser: bool
    #: scopes granted to this token (the account's scopes the login asked for)
    scopes: frozenset[str]
    #: the access token's id, its session (refresh chain) id and its expiry (epoch)
    jti: str = field(repr=False)
    session_id: str = field(repr=False)
    expires_at: int = field(repr=False)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str


class AuthRuntime:
    """riso-auth for one app: settings, token and password services, database operations."""

    def __init__(self, app: FastAPI | None, settings: AuthSettings, *, production: bool) -> None:
        self.app = app
        self.settings = settings
        self.production = production
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        self.secret_generated = False
        if secret is None and not settings.is_asymmetric:
            secret = generate_secret()
            self.secret_generated = True
            if not production:
                warnings.warn(
                    "RISO_AUTH_SECRET_KEY is not set: riso-auth generated one for this process, "
                    "so tokens stop working when it restarts and are not shared between "
                    "processes; set RISO_AUTH_SECRET_KEY (at least 32 characters)",
                    stacklevel=2,
                )
        self.tokens = TokenService(settings, secret)
        self.passwords = PasswordService(settings)
        self._mail: MailSender = (
            load_sender(settings.mail_sender)
            if settings.mail_sender
            else LogMailSender(production=production)
        )
        #: False once the app set its own sender object (a worker could not rebuild it)
        self.mail_from_settings = True
        self._database: Database | None = None
        self._limiter: RateLimiter | RedisRateLimiter | None = None
        self._cache: dict[str, tuple[Principal, float]] = {}

    # --- wiring -------------------------------------------------------------
    @property
    def mail(self) -> MailSender:
        return self._mail

    @mail.setter
    def mail(self, sender: MailSender) -> None:
        self._mail = sender
        self.mail_from_settings = False

    @property
    def database(self) -> Database:
        if self._database is None:
            if self.app is None:
                raise AuthConfigError("riso-auth is not attached to an app")
            from riso_db import database

            self._database = database(self.app)
        return self._database

    @property
    def limiter(self) -> RateLimiter | RedisRateLimiter:
        if self._limiter is None:
            if self.settings.redis_url is not None:
                self._limiter = RedisRateLimiter(self.settings.redis_url.get_secret_value())
            else:
                self._limiter = RateLimiter(self.database.engine, self.database.dialect)
        return self._limiter

    def check_startable(self) -> None:
        if self.secret_generated and self.production:
            raise AuthConfigError(
                "RISO_AUTH_SECRET_KEY is required under RISO_ENV=production "
                "(riso check --deploy reports auth.E001)"
            )

    async def close(self) -> None:
        self.passwords.close()
        self._cache.clear()
        limiter, self._limiter = self._limiter, None
        if isinstance(limiter, RedisRateLimiter):
            await limiter.close()

    # --- rate limits ----------------------------------------------------------
    async def limit(self, bucket: str, rate_name: str) -> None:
        """Count one event in ``bucket``; raise RateLimitedError past the limit."""
        if not self.settings.rate_limit_enabled:
            return
        rate = self.settings.rate(rate_name)
        count = await self.limiter.hit(bucket, rate)
        if count > rate.limit:
            raise RateLimitedError(_retry_after(rate.period))

    async def check_login_allowed(self, email: str, address: str) -> None:
        """Refuse a login attempt before the password is even looked at.

        Three counters: every attempt per address (spraying), failures per
        (account, address), failures per account. Past the per-account limit
        only addresses that have not failed for this account may still try, so
        an attacker can lock out the addresses he uses, never the victim's.
        """
        settings = self.settings
        if not settings.rate_limit_enabled:
            return
        await self.limit(f"login:addr:{address}", "login_address")
        acct = account_key(email)
        pair_rate = settings.rate("login_account_address")
        acct_rate = settings.rate("login_account")
        pair, total = await self.limiter.counts(
            [(f"login:fail:{acct}:{address}", pair_rate), (f"login:fail:{acct}", acct_rate)]
        )
        if pair >= pair_rate.limit:
            raise RateLimitedError(_retry_after(pair_rate.period))
        if total >= acct_rate.limit and pair > 0:
            raise RateLimitedError(_retry_after(acct_rate.period))

    async def record_login_failure(self, email: str, address: str) -> None:
        if not self.settings.rate_limit_enabled:
            return
        acct = account_key(email)
        await self.limiter.hit(
            f"login:fail:{acct}:{address}", self.settings.rate("login_account_address")
        )
        await self.limiter.hit(f"login:fail:{acct}", self.settings.rate("login_account"))

    # --- accounts -------------------------------------------------------------
    async def create_user(
        self,
        email: str,
        password: str,
        *,
        is_superuser: bool = False,
        is_verified: bool = False,
        scopes: str = "",
    ) -> User:
        email = normalize_email(email)
        self.passwords.check_policy(password, email=email)
        hashed = await self.passwords.hash(password)
        user = User(
            email=email,
            hashed_password=hashed,
            is_active=True,
            is_superuser=is_superuser,
            is_verified=is_verified,
            scopes=scopes,
            security_stamp=new_stamp(),
        )
        async with self.database.sessionmaker() as session:
            session.add(user)
            try:
                await session.commit()
            except IntegrityError:
                raise AccountExistsError("an account with this email already exists") from None
        return user

    async def authenticate(self, email: str, password: str) -> User | None:
        """The account if the password matches; the hasher runs exactly once either way.

        No connection is held while hashing, and every write transaction starts
        with its write (SQLite cannot upgrade a read transaction under contention).
        """
        email = normalize_email(email)
        async with self.database.sessionmaker() as session:
            user = (
                await session.execute(select(User).where(User.email == email))
            ).scalar_one_or_none()
        ok, new_hash = await self.passwords.verify_and_update(
            password, user.hashed_password if user is not None else None
        )
        if not ok or user is None:
            return None
        if new_hash is not None:
            # the stored hash is not the current default: upgrade it now
            async with self.database.sessionmaker() as session:
                await session.execute(
                    update(User)
                    .where(User.id == user.id, User.hashed_password == user.hashed_password)
                    .values(hashed_password=new_hash)
                )
                await session.commit()
            user.hashed_password = new_hash
        return user

    async def set_password(self, user_id: int, new_password: str, email: str) -> None:
        """Change the password, rotate the security stamp and revoke every session."""
        self.passwords.check_policy(new_password, email=email)
        hashed = await self.passwords.hash(new_password)
        now = utcnow()
        async with self.database.sessionmaker() as session:
            await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(hashed_password=hashed, security_stamp=new_stamp(), password_changed_at=now)
            )
            await self._revoke_user_sessions(session, user_id, "password", now)
            await session.commit()
        self._forget_user(user_id)

    async def set_active(self, user_id: int, active: bool) -> None:
        """(De)activate an account; deactivation revokes every session."""
        now = utcnow()
        async with self.database.sessionmaker() as session:
            values: dict[str, Any] = {"is_active": active}
            if not active:
                values["security_stamp"] = new_stamp()
                await self._revoke_user_sessions(session, user_id, "deactivated", now)
            await session.execute(update(User).where(User.id == user_id).values(**values))
            await session.commit()
        self._forget_user(user_id)

    async def revoke_all_sessions(self, user_id: int) -> None:
        """Log the account out everywhere (its access tokens included)."""
        now = utcnow()
        async with self.database.sessionmaker() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(security_stamp=new_stamp())
            )
            await self._revoke_user_sessions(session, user_id, "revoked", now)
            await session.commit()
        self._forget_user(user_id)

    @staticmethod
    async def _revoke_user_sessions(session: Any, user_id: int, reason: str, now: datetime) -> None:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )

    # --- sessions ----------------------------------------------------------------
    async def login(self, user: User, requested_scopes: list[str] | None = None) -> TokenPair:
        """Start a refresh chain for ``user`` and issue its first token pair."""
        granted = sorted(
            set(user.scope_list)
            if not requested_scopes
            else set(requested_scopes) & set(user.scope_list)
        )
        now = utcnow()
        session_id = uuid.uuid4().hex
        absolute = now + timedelta(seconds=self.settings.session_absolute_lifetime)
        async with self.database.sessionmaker() as session:
            session.add(
                AuthSession(
                    id=session_id, user_id=user.id, created_at=now, absolute_expires_at=absolute
                )
            )
            await session.flush()
            pair = self._issue_pair(
                session, user.id, user.security_stamp, session_id, granted, None, now, absolute
            )
            await session.commit()
        return pair

    def _issue_pair(
        self,
        session: Any,
        user_id: int,
        stamp: str,
        session_id: str,
        scopes: list[str],
        parent_id: str | None,
        now: datetime,
        absolute: datetime,
    ) -> TokenPair:
        settings = self.settings
        tag = stamp_tag(stamp)
        issued = int(now.timestamp())
        access_lifetime = settings.access_token_lifetime
        access, _ = self.tokens.issue(
            "access",
            str(user_id),
            access_lifetime,
            {"sid": session_id, "scp": " ".join(scopes), "stm": tag},
            now=issued,
        )
        refresh_expires = min(now + timedelta(seconds=settings.refresh_token_lifetime), absolute)
        refresh_id = uuid.uuid4().hex
        refresh, _ = self.tokens.issue(
            "refresh",
            str(user_id),
            max(1, int((refresh_expires - now).total_seconds())),
            {"sid": session_id, "scp": " ".join(scopes), "stm": tag},
            jti=refresh_id,
            now=issued,
        )
        session.add(
            RefreshToken(
                id=refresh_id,
                session_id=session_id,
                parent_id=parent_id,
                token_hash=token_hash(refresh),
                issued_at=now,
                expires_at=refresh_expires,
            )
        )
        return TokenPair(access, refresh, access_lifetime, session_id)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair; it is spent, whatever happens next.

        The exchange is one conditional UPDATE (``used_at IS NULL``): of two
        requests racing with the same token, exactly one changes the row. The
        other, like any later use of a spent token, is treated as theft and
        revokes the whole chain.
        """
        claims = self.tokens.decode(refresh_token, "refresh")
        jti, session_id = claims["jti"], claims.get("sid")
        if not isinstance(session_id, str):
            raise InvalidTokenError("refresh token without a session")
        now = utcnow()
        async with self.database.sessionmaker() as session:
            spent = await session.execute(
                update(RefreshToken)
                .where(
                    RefreshToken.id == jti,
                    RefreshToken.session_id == session_id,
                    RefreshToken.token_hash == token_hash(refresh_token),
                    RefreshToken.used_at.is_(None),
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                await session.rollback()
                await self._on_reuse(jti, session_id, refresh_token, now)
                raise InvalidTokenError("refresh token already used or unknown")
            row = (
                await session.execute(
                    select(AuthSession, User)
                    .join(User, User.id == AuthSession.user_id)
                    .where(AuthSession.id == session_id)
                )
            ).one_or_none()
            if row is None:
                await session.commit()
                raise InvalidTokenError("unknown session")
            chain, user = row
            if (
                chain.revoked_at is not None
                or chain.absolute_expires_at <= now
                or not user.is_active
                or str(user.id) != claims["sub"]
                or stamp_tag(user.security_stamp) != claims.get("stm")
            ):
                await session.commit()  # the token stays spent
                raise InvalidTokenError("session revoked or expired")
            scopes = [s for s in str(claims.get("scp", "")).split() if s in user.scope_list]
            pair = self._issue_pair(
                session,
                user.id,
                user.security_stamp,
                session_id,
                scopes,
                jti,
                now,
                chain.absolute_expires_at,
            )
            await session.commit()
        return pair

    async def _on_reuse(self, jti: str, session_id: str, token: str, now: datetime) -> None:
        # one statement, write first: revoke the chain if this token was already spent
        spent = (
            select(RefreshToken.id)
            .where(
                RefreshToken.id == jti,
                RefreshToken.session_id == session_id,
                RefreshToken.token_hash == token_hash(token),
                RefreshToken.used_at.is_not(None),
            )
            .exists()
        )
        async with self.database.sessionmaker() as session:
            result = await session.execute(
                update(AuthSession)
                .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None), spent)
                .values(revoked_at=now, revoked_reason="reuse")
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        if result.rowcount:  # type: ignore[attr-defined]
            logger.warning("a spent refresh token was presented again: its chain is revoked")

    async def logout(self, principal: Principal) -> None:
        """Revoke the caller's refresh chain and deny its access token until it expires."""
        now = utcnow()
        expires = datetime.fromtimestamp(principal.expires_at, UTC)
        async with self.database.sessionmaker() as session:
            await session.execute(
                update(AuthSession)
                .where(AuthSession.id == principal.session_id, AuthSession.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason="logout")
            )
            exists_already = await session.get(DeniedToken, principal.jti)
            if exists_already is None:
                session.add(DeniedToken(jti=principal.jti, expires_at=expires))
            if random.randrange(20) == 0:  # noqa: S311 - housekeeping, not security
                await session.execute(delete(DeniedToken).where(DeniedToken.expires_at < now))
            try:
                await session.commit()
            except IntegrityError:  # a concurrent logout with the same token
                await session.rollback()
        self._forget(lambda p: p.jti == principal.jti)

    # --- access tokens ----------------------------------------------------------
    async def principal(self, token: str) -> Principal:
        """The caller behind an access token; InvalidTokenError when it is not valid now.

        A token this instance fully checked (signature, claims, revocation) less
        than ``revocation_cache_seconds`` ago is trusted without checking again:
        the cache key is the exact token text, and an entry never outlives the
        token's ``exp``.
        """
        now = time.monotonic()
        cached = self._cache.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        claims = self.tokens.decode(token, "access")
        jti = claims["jti"]
        try:
            user_id = int(claims["sub"])
        except ValueError:
            raise InvalidTokenError("sub is not an account id") from None
        session_id = claims.get("sid")
        if not isinstance(session_id, str):
            raise InvalidTokenError("access token without a session")
        stmt = (
            select(
                User.id,
                User.email,
                User.is_active,
                User.is_verified,
                User.is_superuser,
                User.security_stamp,
                AuthSession.revoked_at,
                exists().where(DeniedToken.jti == jti).label("denied"),
            )
            .select_from(User)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(User.id == user_id, AuthSession.id == session_id)
        )
        async with self.database.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise InvalidTokenError("unknown account or session")
        if row.revoked_at is not None or row.denied:
            raise InvalidTokenError("token revoked")
        if stamp_tag(row.security_stamp) != claims.get("stm"):
            raise InvalidTokenError("token issued before a password change")
        if not row.is_active:
            raise InvalidTokenError("account inactive")
        principal = Principal(
            id=row.id,
            email=row.email,
            is_active=row.is_active,
            is_verified=row.is_verified,
            is_superuser=row.is_superuser,
            scopes=frozenset(str(claims.get("scp", "")).split()),
            jti=jti,
            session_id=session_id,
            expires_at=int(claims["exp"]),
        )
        ttl = min(self.settings.revocation_cache_seconds, claims["exp"] - time.time())
        if ttl > 0:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[token] = (principal, now + ttl)
        return principal

    def _forget_user(self, user_id: int) -> None:
        self._forget(lambda p: p.id == user_id)

    def _forget(self, match: Callable[[Principal], bool]) -> None:
        for token in [t for t, (p, _) in self._cache.items() if match(p)]:
            self._cache.pop(token, None)

    # --- one-time tokens (reset, verify) ---------------------------------------
    async def request_token_mail(self, email: str, kind: str) -> MailMessage | None:
        """Prepare a reset or verification mail; None when there is nothing to send.

        The caller answers the same either way; sending happens after the response.
        """
        email = normalize_email(email)
        async with self.database.sessionmaker() as session:
            user = (
                await session.execute(select(User).where(User.email == email))
            ).scalar_one_or_none()
            if user is None or not user.is_active or (kind == "verify" and user.is_verified):
                return None
        lifetime = (
            self.settings.reset_token_lifetime
            if kind == "reset"
            else self.settings.verify_token_lifetime
        )
        token, claims = self.tokens.issue(
            "reset" if kind == "reset" else "verify",
            str(user.id),
            lifetime,
            {"stm": stamp_tag(user.security_stamp), "email": user.email},
        )
        async with self.database.sessionmaker() as session:
            session.add(
                OneTimeToken(
                    jti=claims["jti"],
                    purpose=kind,
                    user_id=user.id,
                    expires_at=datetime.fromtimestamp(claims["exp"], UTC),
                )
            )
            await session.commit()
        template = self.settings.reset_url if kind == "reset" else self.settings.verify_url
        link = template.replace("{token}", token)
        if kind == "reset":
            subject = "Reset your password"
            body = (
                f"Someone asked to reset the password of {email}.\n"
                f"Open {link}\nIgnore this mail if it was not you."
            )
        else:
            subject = "Verify your email address"
            body = f"Confirm that {email} is yours: open {link}"
        return MailMessage(to=email, subject=subject, body=body, kind=kind, link=link)  # type: ignore[arg-type]

    async def consume_token(self, token: str, kind: str) -> User:
        """Spend a reset or verify token once; the account must be as it was when issued."""
        claims = self.tokens.decode(token, "reset" if kind == "reset" else "verify")
        now = utcnow()
        if not claims["sub"].isdigit():
            raise InvalidTokenError("sub is not an account id")
        async with self.database.sessionmaker() as session:
            user = await session.get(User, int(claims["sub"]))
        if (
            user is None
            or not user.is_active
            or stamp_tag(user.security_stamp) != claims.get("stm")
            or user.email != claims.get("email")
        ):
            raise InvalidTokenError("token no longer matches the account")
        async with self.database.sessionmaker() as session:
            spent = await session.execute(
                update(OneTimeToken)
                .where(
                    OneTimeToken.jti == claims["jti"],
                    OneTimeToken.purpose == kind,
                    OneTimeToken.user_id == user.id,
                    OneTimeToken.used_at.is_(None),
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                raise InvalidTokenError("token already used")
            await session.commit()
        return user

    async def mark_verified(self, user_id: int) -> None:
        async with self.database.sessionmaker() as session:
            await session.execute(update(User).where(User.id == user_id).values(is_verified=True))
            await session.commit()
        self._forget_user(user_id)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _retry_after(period: int) -> int:
    return max(1, period - int(time.time()) % period)
