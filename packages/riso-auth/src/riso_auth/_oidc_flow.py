"""Sign-ins in progress: ``state``, ``nonce`` and the PKCE verifier, bound to one browser.

``start`` stores a row (``auth_oidc_flows``) keyed by the SHA-256 of the
state and returns a random binding for the browser's ``__Host-`` cookie; the
callback's ``finish`` deletes the row (only one concurrent callback can) and
accepts it only for the same provider, the same browser and before it expires.
So a state is usable once, on any instance, and a code injected into another
browser's callback fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from riso_auth._digests import token_hash
from riso_auth._models import OidcFlow

if TYPE_CHECKING:
    from riso_db import Database


class FlowError(Exception):
    """The callback's state cannot be used; the message says why (shown to the client)."""


@dataclass(frozen=True, slots=True)
class StartedFlow:
    state: str
    nonce: str
    code_verifier: str
    #: goes in the browser's flow cookie
    binding: str

    @property
    def code_challenge(self) -> str:
        """PKCE S256 (RFC 7636): base64url(SHA-256(verifier)) without padding."""
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class FinishedFlow:
    provider: str
    nonce: str
    code_verifier: str
    redirect_to: str | None
    link_user_id: int | None


class FlowStore:
    """The ``auth_oidc_flows`` rows: written by authorize, consumed by the callback."""

    def __init__(self, database: Database, lifetime: int) -> None:
        self._database = database
        self._lifetime = lifetime

    async def start(
        self, provider: str, redirect_to: str | None, link_user_id: int | None = None
    ) -> StartedFlow:
        flow = StartedFlow(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),  # 86 characters: RFC 7636 allows 43-128
            binding=secrets.token_urlsafe(32),
        )
        now = datetime.now(UTC)
        async with self._database.sessionmaker() as session:
            # abandoned sign-ins go here, a few at a time (indexed on expires_at)
            await session.execute(delete(OidcFlow).where(OidcFlow.expires_at < now))
            session.add(
                OidcFlow(
                    id=token_hash(flow.state),
                    provider=provider,
                    binding_hash=token_hash(flow.binding),
                    nonce=flow.nonce,
                    code_verifier=flow.code_verifier,
                    redirect_to=redirect_to,
                    link_user_id=link_user_id,
                    expires_at=now + timedelta(seconds=self._lifetime),
                )
            )
            await session.commit()
        return flow

    async def finish(self, provider: str, state: str, binding: str | None) -> FinishedFlow:
        """Consume the flow of ``state``; FlowError if it is unknown, spent, expired or
        belongs to another browser or provider."""
        if not state or len(state) > 256:
            raise FlowError("missing or malformed state")
        key = token_hash(state)
        async with self._database.sessionmaker() as session:
            row = (
                await session.execute(select(OidcFlow).where(OidcFlow.id == key))
            ).scalar_one_or_none()
            if row is None:
                raise FlowError("unknown or already used state")
            # the delete decides: of two callbacks racing with one state, one wins
            deleted = await session.execute(delete(OidcFlow).where(OidcFlow.id == key))
            await session.commit()
        if getattr(deleted, "rowcount", 0) != 1:
            raise FlowError("unknown or already used state")
        if row.provider != provider:
            raise FlowError("the state belongs to another provider")
        if not binding or not hmac.compare_digest(row.binding_hash, token_hash(binding)):
            raise FlowError("the sign-in was not started in this browser")
        if row.expires_at <= datetime.now(UTC):
            raise FlowError("the sign-in took too long; start again")
        return FinishedFlow(
            provider=row.provider,
            nonce=row.nonce,
            code_verifier=row.code_verifier,
            redirect_to=row.redirect_to,
            link_user_id=row.link_user_id,
        )
