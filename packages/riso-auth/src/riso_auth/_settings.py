"""riso-auth settings: every variable starts with ``RISO_AUTH_``."""

from __future__ import annotations

import importlib.util
import ipaddress
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

import riso
from riso_auth._oidc_settings import OidcProviderSettings, check_provider_names

#: shortest secret accepted for HMAC signing (256 bits of base64/hex text is longer)
MIN_SECRET_LENGTH = 32

SYMMETRIC = frozenset({"HS256", "HS384", "HS512"})
RSA = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC = frozenset({"ES256", "ES384"})
FAMILIES = (SYMMETRIC, RSA, EC)

#: OWASP's argon2id minimum configurations (memory in KiB, iterations); any
#: parameters at least as strong as one of them are accepted
OWASP_ARGON2 = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]*)\s*$")
_UNITS = {
    "": 1,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` events per ``period`` seconds (a fixed window)."""

    limit: int
    period: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE.match(text.lower())
        if not match or match.group(3) not in _UNITS:
            raise ValueError(
                f"rate {text!r} must look like '5/15m', '20/minute' or '100/3600' "
                "(count / optional number and unit s, m, h, d)"
            )
        count = int(match.group(1))
        period = int(match.group(2) or 1) * _UNITS[match.group(3)]
        if count < 1 or period < 1:
            raise ValueError(f"rate {text!r} needs a count and a period of at least 1")
        return cls(count, period)


class AuthSettings(riso.Settings):
    """Configuration of riso-auth; see the package README for the table."""

    # "__" reaches into the providers: RISO_AUTH_OIDC_PROVIDERS__KEYCLOAK__CLIENT_ID
    model_config = SettingsConfigDict(env_prefix="RISO_AUTH_", env_nested_delimiter="__")

    # --- signing -----------------------------------------------------------
    #: HMAC secret (HS* algorithms); generated per process, with a warning, when
    #: missing in development; required under RISO_ENV=production
    secret_key: SecretStr | None = None
    #: comma-separated allow-list; the first one signs. Never mixes families.
    algorithms: str = "HS256"
    #: PEM file of the private key that signs RS*/PS*/ES* tokens
    private_key_file: Path | None = None
    #: PEM file of the public key that verifies RS*/PS*/ES* tokens
    public_key_file: Path | None = None
    #: ``iss`` claim set on every token and required when decoding
    issuer: str = "riso"
    #: ``aud`` claim set on every token and required when decoding
    audience: str = "riso"
    #: seconds of clock skew tolerated on exp/nbf/iat
    leeway: int = Field(default=0, ge=0, le=300)
    #: tokens longer than this are rejected before any parsing
    max_token_bytes: int = Field(default=8192, ge=512, le=65536)

    # --- lifetimes (seconds) -----------------------------------------------
    #: seconds an access token is valid
    access_token_lifetime: int = Field(default=900, ge=30, le=86400)
    #: seconds a refresh token is valid (each refresh issues a new one)
    refresh_token_lifetime: int = Field(default=14 * 86400, ge=60)
    #: a refresh chain ends this long after login, however often it rotates
    session_absolute_lifetime: int = Field(default=30 * 86400, ge=60)
    #: seconds a password-reset link is valid
    reset_token_lifetime: int = Field(default=3600, ge=60, le=86400)
    #: seconds an email-verification link is valid
    verify_token_lifetime: int = Field(default=2 * 86400, ge=60)
    #: how long an instance may trust a validated access token before asking
    #: the database again (logout is honoured by every instance within this)
    revocation_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    # --- passwords -----------------------------------------------------------
    #: shortest password accepted, in characters
    password_min_length: int = Field(default=8, ge=8, le=128)
    #: characters; the body limit keeps a 1 MB "password" from reaching the hasher
    password_max_length: int = Field(default=1024, ge=64, le=4096)
    #: refuse passwords from the list shipped with riso-auth (and the file below)
    reject_common_passwords: bool = True
    #: extra refused passwords, one per line
    common_passwords_file: Path | None = None
    #: argon2id iterations (with the memory cost, at least one OWASP configuration)
    argon2_time_cost: int = Field(default=2, ge=1, le=100)
    #: argon2id memory in KiB
    argon2_memory_cost: int = Field(default=19456, ge=7168, le=4 * 1024 * 1024)
    #: argon2id lanes
    argon2_parallelism: int = Field(default=1, ge=1, le=64)
    #: concurrent hashes at most (default: CPUs this process may use)
    hash_concurrency: int | None = Field(default=None, ge=1, le=256)
    #: tests only: argon2id with the cheapest parameters it allows (riso-auth's pytest
    #: plugin sets it); refused unless pytest runs with that plugin loaded
    insecure_test_hashing: bool = False

    # --- accounts ------------------------------------------------------------
    #: ``POST /auth/register`` is open (false: accounts come from the CLI or an admin)
    allow_registration: bool = True
    #: refuse login until the email address is verified
    require_verified: bool = False
    #: import path ``module:attr`` of a mail sender (callable or object with send())
    mail_sender: str | None = None
    #: link template of the password-reset mail; ``{token}`` is replaced
    reset_url: str = "/reset-password?token={token}"
    #: link template of the email-verification mail; ``{token}`` is replaced
    verify_url: str = "/verify?token={token}"
    #: the link of the mail confirming a new address (``POST /auth/verify-email-change``)
    email_change_url: str = "/verify-email-change?token={token}"
    #: accounts without a password (provider sign-in) confirm a sensitive change
    #: (email, deletion) by having signed in at most this many seconds ago
    recent_sign_in_seconds: int = Field(default=300, ge=30, le=86400)

    # --- brute force -----------------------------------------------------------
    #: the brute-force limits below apply (refused off under production)
    rate_limit_enabled: bool = True
    #: every login attempt from one client address, whatever the account
    rate_login_address: str = "30/1m"
    #: failed logins for one account from one address
    rate_login_account_address: str = "5/15m"
    #: failed logins for one account from all addresses; past it only addresses
    #: that have not failed for this account may still try
    rate_login_account: str = "50/15m"
    #: tries from such fresh addresses per account once ``rate_login_account``
    #: is reached, all addresses together; past it the account refuses every
    #: login until the window ends (keep the period equal to the account limit's)
    rate_login_account_fresh_address: str = "20/15m"
    #: refreshes from one client address
    rate_refresh_address: str = "60/1m"
    #: registrations from one client address
    rate_register_address: str = "10/1h"
    #: forgot-password and request-verify requests from one client address
    rate_forgot_address: str = "10/1h"
    #: forgot-password and request-verify requests for one account
    rate_forgot_account: str = "3/1h"
    #: provider sign-ins started, and callbacks, from one client address (each counted apart)
    rate_oidc_callback_address: str = "30/1m"
    #: requests per API key (every instance together with Redis or the database limiter)
    rate_api_key: str = "1000/1m"
    #: keep the rate-limit counters in Redis instead of the database (riso-auth[redis])
    redis_url: SecretStr | None = None
    #: comma-separated IPs or CIDRs whose X-Forwarded-For is believed
    trusted_proxies: str = ""

    # --- cookie transport (off by default) ----------------------------------
    #: also set the tokens as ``__Host-`` cookies, with a CSRF double-submit check
    cookie_transport: bool = False
    #: cookie holding the access token
    cookie_name: str = "__Host-riso_access"
    #: cookie holding the refresh token
    refresh_cookie_name: str = "__Host-riso_refresh"
    #: readable cookie holding the CSRF token
    csrf_cookie_name: str = "__Host-riso_csrf"
    #: header a cookie-authenticated state-changing request repeats the CSRF token in
    csrf_header_name: str = "X-CSRF-Token"
    #: SameSite attribute of the cookies
    cookie_samesite: Literal["lax", "strict"] = "lax"

    # --- sign in with a provider (riso-auth[oidc]) -----------------------------
    #: providers by name (JSON object, or one variable per value with ``__``)
    oidc_providers: dict[str, OidcProviderSettings] = Field(default_factory=dict)
    #: the cookie binding a sign-in in progress to the browser that started it
    oidc_flow_cookie_name: str = "__Host-riso_oidc"
    #: seconds a sign-in may take between authorize and callback
    oidc_flow_lifetime: int = Field(default=600, ge=60, le=3600)

    @field_validator("secret_key")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"is shorter than {MIN_SECRET_LENGTH} characters; generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return value

    @field_validator("algorithms")
    @classmethod
    def _one_family(cls, value: str) -> str:
        names = [part.strip().upper() for part in value.split(",") if part.strip()]
        if not names:
            raise ValueError("needs at least one algorithm, e.g. HS256")
        known = set().union(*FAMILIES)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(
                f"unsupported algorithm {', '.join(unknown)}; use one of {', '.join(sorted(known))}"
            )
        if not any(set(names) <= family for family in FAMILIES):
            raise ValueError(
                "mixes algorithm families; symmetric (HS*) and asymmetric (RS*/PS*/ES*) "
                "algorithms are never allowed together"
            )
        return ",".join(names)

    @field_validator(
        "rate_login_address",
        "rate_login_account_address",
        "rate_login_account",
        "rate_login_account_fresh_address",
        "rate_refresh_address",
        "rate_register_address",
        "rate_forgot_address",
        "rate_forgot_account",
        "rate_oidc_callback_address",
        "rate_api_key",
    )
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        Rate.parse(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for part in _split(value):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or CIDR network") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_installed(cls, value: SecretStr | None) -> SecretStr | None:
        # at riso.include, not as an ImportError at the first login attempt
        if value is not None and not _installed("redis"):
            raise ValueError(
                "keeps the rate limits in Redis but redis-py is not installed: "
                "pip install 'riso-auth[redis]'"
            )
        return value

    @field_validator("oidc_providers")
    @classmethod
    def _provider_names(
        cls, value: dict[str, OidcProviderSettings]
    ) -> dict[str, OidcProviderSettings]:
        check_provider_names(value)
        return value

    @field_validator(
        "cookie_name", "refresh_cookie_name", "csrf_cookie_name", "oidc_flow_cookie_name"
    )
    @classmethod
    def _host_prefix(cls, value: str) -> str:
        if not value.startswith("__Host-"):
            raise ValueError("must start with '__Host-' so the cookie stays on this origin")
        return value

    @field_validator("insecure_test_hashing")
    @classmethod
    def _only_under_pytest(cls, value: bool) -> bool:
        if value and not under_pytest():
            raise ValueError(
                "is for test suites only: it is accepted while pytest runs with riso-auth's "
                "plugin, never in a server; unset RISO_AUTH_INSECURE_TEST_HASHING"
            )
        return value

    @model_validator(mode="after")
    def _coherent(self) -> AuthSettings:
        t, m = self.argon2_time_cost, self.argon2_memory_cost
        if not self.insecure_test_hashing and not any(
            m >= min_m and t >= min_t for min_m, min_t in OWASP_ARGON2
        ):
            raise ValueError(
                "RISO_AUTH_ARGON2_MEMORY_COST / RISO_AUTH_ARGON2_TIME_COST are below OWASP's "
                "argon2id minimum (e.g. 19456 KiB with 2 iterations, or 47104 KiB with 1)"
            )
        if self.is_asymmetric and (self.private_key_file is None or self.public_key_file is None):
            raise ValueError(
                f"{self.algorithm} needs RISO_AUTH_PRIVATE_KEY_FILE and RISO_AUTH_PUBLIC_KEY_FILE"
            )
        if self.session_absolute_lifetime < self.refresh_token_lifetime:
            raise ValueError(
                "RISO_AUTH_SESSION_ABSOLUTE_LIFETIME must be at least "
                "RISO_AUTH_REFRESH_TOKEN_LIFETIME"
            )
        return self

    # --- derived ---------------------------------------------------------
    @property
    def algorithm_list(self) -> list[str]:
        return self.algorithms.split(",")

    @property
    def algorithm(self) -> str:
        """The algorithm new tokens are signed with."""
        return self.algorithm_list[0]

    @property
    def is_asymmetric(self) -> bool:
        return self.algorithm not in SYMMETRIC

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(part, strict=False) for part in _split(self.trusted_proxies)]

    def rate(self, name: str) -> Rate:
        value: Any = getattr(self, f"rate_{name}")
        return Rate.parse(str(value))


def under_pytest() -> bool:
    """True inside a pytest run that loaded riso-auth's plugin (``riso_auth_pytest``)."""
    return "pytest" in sys.modules and "riso_auth_pytest" in sys.modules


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked with sys.modules[name] = None
        return False


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
