"""System checks (``riso check [--deploy]``): ids ``auth.E0xx`` / ``auth.W0xx``."""

from __future__ import annotations

from collections.abc import Iterator

import riso
from riso_auth._settings import AuthSettings


def check_settings(ctx: riso.CheckContext) -> Iterator[riso.CheckMessage]:
    settings = ctx.settings.get("auth")
    if not isinstance(settings, AuthSettings):
        return
    strict = ctx.deploy or ctx.core.is_production
    if settings.secret_key is None and not settings.is_asymmetric:
        if strict:
            yield riso.CheckMessage(
                "auth.E001",
                "RISO_AUTH_SECRET_KEY is not set: every process would sign tokens with its "
                "own generated secret, lost at restart.",
                hint="set RISO_AUTH_SECRET_KEY to at least 32 random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')",
            )
        else:
            yield riso.CheckMessage(
                "auth.W001",
                "RISO_AUTH_SECRET_KEY is not set; a secret is generated for each process.",
                hint="set RISO_AUTH_SECRET_KEY before deploying",
            )
    if strict and not settings.rate_limit_enabled:
        yield riso.CheckMessage(
            "auth.E002",
            "RISO_AUTH_RATE_LIMIT_ENABLED is false: logins can be brute-forced.",
            hint="remove RISO_AUTH_RATE_LIMIT_ENABLED=false",
        )
    if settings.revocation_cache_seconds > 1:
        yield riso.CheckMessage(
            "auth.W002",
            f"RISO_AUTH_REVOCATION_CACHE_SECONDS is {settings.revocation_cache_seconds}: a "
            "logout takes that long to reach the other instances.",
            hint="keep it at 1 second or less",
        )
    if strict and settings.mail_sender is None:
        yield riso.CheckMessage(
            "auth.W003",
            "no mail sender configured: reset and verification mails are not sent.",
            hint="set RISO_AUTH_MAIL_SENDER=module:attr",
        )
