"""JWT issuing and checking with PyJWT.

Every token carries ``exp``, ``iat``, ``iss``, ``aud``, ``jti``, ``sub`` and a
type (``typ``: access, refresh, reset, verify), and decoding requires all of
them, checks the type, accepts only the configured algorithms (one family:
HMAC or RSA or EC, never mixed), refuses unknown ``crit`` extensions,
refuses oversized input before parsing it, and refuses a token that lives
longer than riso-auth issues its type for (``exp - iat`` and ``exp - now``
within the type's lifetime setting plus the leeway). Any failure is an
``InvalidTokenError``; nothing a client sends can make decoding raise anything
else.

An access token is sent with every request of its holder, for minutes: the
payload of one that passed every check is kept (``TokenService._verified``,
keyed by the exact token text, at most ``VERIFIED_MAX``), so the next request with it
skips PyJWT's parsing and signature check, which cost about a tenth of an
authenticated request. The checks that depend on the time (``exp``, ``nbf``,
with the leeway) and on the expected type run again on every decode; what the
signature covers cannot change for the same text.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from riso_auth._exceptions import AuthConfigError, InvalidTokenError
from riso_auth._settings import EC, RSA, AuthSettings

TokenType = Literal["access", "refresh", "reset", "verify"]
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "jti", "sub", "typ")
#: seconds beyond a type's lifetime still accepted (on top of the leeway setting):
#: an issuing instance's clock a little ahead of this one's
LIFETIME_SLACK = 5
#: verified access tokens kept at most (the store is emptied when it grows past this)
VERIFIED_MAX = 10_000


def generate_secret() -> str:
    return secrets.token_urlsafe(48)


class TokenService:
    """Signs and verifies the tokens of one application."""

    def __init__(self, settings: AuthSettings, secret: str | None) -> None:
        self.settings = settings
        self.algorithm = settings.algorithm
        self.algorithms = settings.algorithm_list
        self._jwt = jwt.PyJWT(options={"enforce_minimum_key_length": True})
        self._signing_key: Any
        self._verify_key: Any
        if settings.is_asymmetric:
            self._signing_key, self._verify_key = _load_key_pair(settings)
        else:
            if not secret:
                raise AuthConfigError("an HMAC algorithm needs RISO_AUTH_SECRET_KEY")
            self._signing_key = self._verify_key = secret.encode("utf-8")
        #: access tokens that passed every check: token text -> payload
        self._verified: dict[str, dict[str, Any]] = {}
        self._options: dict[str, Any] = {
            "require": list(REQUIRED_CLAIMS),
            "strict_aud": True,
            "enforce_minimum_key_length": True,
        }

    def issue(
        self,
        token_type: TokenType,
        subject: str,
        lifetime: int,
        claims: Mapping[str, Any] | None = None,
        *,
        jti: str | None = None,
        now: int | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Sign a new token; return it and its payload."""
        issued = int(time.time()) if now is None else now
        payload: dict[str, Any] = {
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "sub": subject,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "jti": jti or uuid.uuid4().hex,
            "typ": token_type,
        }
        if claims:
            payload.update(claims)
        token = self._jwt.encode(payload, self._signing_key, algorithm=self.algorithm)
        return token, payload

    def decode(self, token: object, expected: TokenType) -> dict[str, Any]:
        """The verified payload of ``token``; InvalidTokenError for anything wrong."""
        if not isinstance(token, str) or not token:
            raise InvalidTokenError("no token")
        if len(token) > self.settings.max_token_bytes:
            raise InvalidTokenError("token too large")
        if token.count(".") != 2:
            raise InvalidTokenError("malformed token")
        if expected == "access":
            known = self._verified.get(token)
            if known is not None and self._still_in_time(known):
                return dict(self._checked(known, expected))
        payload = self._checked(self._decode_signed(token), expected)
        if expected == "access":
            if len(self._verified) >= VERIFIED_MAX:
                self._verified.clear()
            self._verified[token] = dict(payload)
        return payload

    def _still_in_time(self, payload: Mapping[str, Any]) -> bool:
        """``exp`` and ``nbf`` against the clock now, as PyJWT checks them."""
        now = time.time()
        leeway = self.settings.leeway
        nbf = payload.get("nbf")
        return bool(
            now < payload["exp"] + leeway
            and (not isinstance(nbf, int | float) or nbf - leeway <= now)
        )

    def _decode_signed(self, token: str) -> dict[str, Any]:
        """The payload of a token whose signature and registered claims PyJWT accepts."""
        try:
            payload: dict[str, Any] = self._jwt.decode(
                token,
                self._verify_key,
                algorithms=self.algorithms,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway,
                options=self._options,  # type: ignore[arg-type]
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"{type(exc).__name__}: {exc}") from None
        except (ValueError, TypeError, KeyError, UnicodeError, OverflowError) as exc:
            raise InvalidTokenError(f"malformed token ({type(exc).__name__})") from None
        return payload

    def _checked(self, payload: dict[str, Any], expected: TokenType) -> dict[str, Any]:
        """``payload`` if riso-auth's own checks pass (type, claim types, lifetime)."""
        if payload.get("typ") != expected:
            raise InvalidTokenError(f"expected a {expected} token")
        if not isinstance(payload.get("sub"), str) or not isinstance(payload.get("jti"), str):
            raise InvalidTokenError("sub and jti must be strings")
        exp, iat = payload.get("exp"), payload.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise InvalidTokenError("exp and iat must be numbers")
        # a signed exp of 10**30 would pass PyJWT and overflow a datetime later
        longest = self.max_lifetime(expected) + self.settings.leeway + LIFETIME_SLACK
        if exp - iat > longest or exp - time.time() > longest:
            raise InvalidTokenError(f"the token lives longer than a {expected} token may")
        if exp < iat:
            raise InvalidTokenError("the token expires before it was issued")
        return payload

    def max_lifetime(self, token_type: TokenType) -> int:
        """The longest lifetime riso-auth issues a ``token_type`` token with, in seconds."""
        settings = self.settings
        return {
            "access": settings.access_token_lifetime,
            "refresh": settings.refresh_token_lifetime,
            "reset": settings.reset_token_lifetime,
            "verify": settings.verify_token_lifetime,
        }[token_type]


def _load_key_pair(settings: AuthSettings) -> tuple[Any, Any]:
    assert settings.private_key_file is not None
    assert settings.public_key_file is not None
    try:
        private = serialization.load_pem_private_key(
            settings.private_key_file.read_bytes(), password=None
        )
        public = serialization.load_pem_public_key(settings.public_key_file.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise AuthConfigError(
            f"cannot load the key files for {settings.algorithm}: {type(exc).__name__}; "
            "RISO_AUTH_PRIVATE_KEY_FILE and RISO_AUTH_PUBLIC_KEY_FILE must be unencrypted PEM"
        ) from None
    wanted: tuple[type, type]
    if settings.algorithm in RSA:
        wanted = (rsa.RSAPrivateKey, rsa.RSAPublicKey)
    elif settings.algorithm in EC:
        wanted = (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)
    else:  # pragma: no cover - the settings validator allows no other family
        raise AuthConfigError(f"unsupported algorithm {settings.algorithm}")
    if not (isinstance(private, wanted[0]) and isinstance(public, wanted[1])):
        raise AuthConfigError(
            f"the key files do not hold a key pair for {settings.algorithm} "
            f"(expected {'RSA' if settings.algorithm in RSA else 'EC'} keys)"
        )
    if private.public_key().public_numbers() != public.public_numbers():
        raise AuthConfigError("RISO_AUTH_PUBLIC_KEY_FILE does not match RISO_AUTH_PRIVATE_KEY_FILE")
    return private, public
