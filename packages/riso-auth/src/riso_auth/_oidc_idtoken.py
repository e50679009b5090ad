"""The ID token check: signature from the provider's JWKS, ``iss``, ``aud``, ``exp``,
``iat``, ``nonce``, with an algorithm allow-list.

PyJWT (riso-auth's JWT library already) does the cryptography; Authlib's own
JOSE module is deprecated in favour of a separate package. ``alg: none`` is
never accepted (PyJWT refuses it unless listed, and the settings cannot list
it); HS* is accepted only when the provider's ``algorithms`` name it, and then
the key is the client secret, never a key from the JWKS.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

import jwt

from riso_auth._oidc_settings import SECRET_ID_TOKEN_ALGORITHMS

#: ID tokens longer than this are refused before parsing
MAX_ID_TOKEN_CHARS = 16384
REQUIRED = ("iss", "aud", "exp", "iat", "sub")


class IdTokenError(Exception):
    """The ID token is refused; the message says which check failed (no token text)."""


class UnknownKeyError(IdTokenError):
    """The token names a ``kid`` the JWKS does not hold (a refresh may find it)."""


def parse_jwks(document: object) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document by ``kid`` (keys PyJWT cannot use are skipped)."""
    keys: dict[str, jwt.PyJWK] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise IdTokenError("the provider's JWKS is not a key set")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue  # an unsupported key type must not hide the others
        keys[str(entry.get("kid", f"#{index}"))] = key
    return keys


def unverified_header(token: str) -> dict[str, Any]:
    if not isinstance(token, str) or not token or len(token) > MAX_ID_TOKEN_CHARS:
        raise IdTokenError("the ID token is missing or too large")
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, json.JSONDecodeError):
        raise IdTokenError("the ID token is malformed") from None
    return header


class IdTokenVerifier:
    """Checks the ID tokens of one provider (its issuer, client id and allowed algorithms)."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        algorithms: list[str],
        client_secret: str,
        leeway: int = 0,
        max_age: int = 86400,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.algorithms = list(algorithms)
        self._secret = client_secret.encode("utf-8")
        self.leeway = leeway
        #: a token living longer than this (``exp - iat``, seconds) is refused: a
        #: day covers every provider's default (Auth0's is 10 hours)
        self.max_age = max_age
        self._jwt = jwt.PyJWT()

    def key_for(self, header: Mapping[str, Any], keys: Mapping[str, jwt.PyJWK]) -> Any:
        """The key to check the signature with; UnknownKeyError if the JWKS lacks it."""
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise IdTokenError(f"the ID token's algorithm {str(alg)[:16]!r} is not allowed")
        if alg in SECRET_ID_TOKEN_ALGORITHMS:
            return self._secret
        kid = header.get("kid")
        if kid is None:
            if len(keys) == 1:  # a provider with one key may leave kid out
                return next(iter(keys.values())).key
            raise UnknownKeyError("the ID token names no key (kid) and the JWKS has several")
        found = keys.get(str(kid))
        if found is None:
            raise UnknownKeyError("the ID token is signed with a key the provider does not list")
        return found.key

    def verify(self, token: str, key: Any, nonce: str | None) -> dict[str, Any]:
        """The claims of ``token`` if every check passes; IdTokenError saying which failed."""
        try:
            claims: dict[str, Any] = self._jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.client_id,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED), "verify_iat": True},
            )
        except jwt.ExpiredSignatureError:
            raise IdTokenError("the ID token has expired") from None
        except jwt.ImmatureSignatureError:
            raise IdTokenError("the ID token is not valid yet (iat or nbf in the future)") from None
        except jwt.InvalidAudienceError:
            raise IdTokenError("the ID token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise IdTokenError("the ID token comes from another issuer") from None
        except jwt.InvalidSignatureError:
            raise IdTokenError("the ID token's signature does not verify") from None
        except jwt.InvalidAlgorithmError:
            raise IdTokenError("the ID token's algorithm is not allowed") from None
        except jwt.MissingRequiredClaimError as exc:
            raise IdTokenError(f"the ID token has no {exc.claim} claim") from None
        except jwt.PyJWTError as exc:
            raise IdTokenError(f"the ID token is invalid ({type(exc).__name__})") from None
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise IdTokenError(f"the ID token is malformed ({type(exc).__name__})") from None
        iat = claims.get("iat")
        exp = claims.get("exp")
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise IdTokenError("the ID token's iat and exp must be numbers")
        if exp - iat > self.max_age + self.leeway:
            raise IdTokenError("the ID token lives longer than accepted")
        audience = claims.get("aud")
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.client_id:
            raise IdTokenError("the ID token has several audiences and azp is not this client")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise IdTokenError("the ID token's sub must be a non-empty string")
        if nonce is not None:
            got = claims.get("nonce")
            if not isinstance(got, str) or not hmac.compare_digest(got, nonce):
                raise IdTokenError("the ID token's nonce does not match this sign-in")
        return claims
