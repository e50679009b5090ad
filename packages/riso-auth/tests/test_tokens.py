"""TokenService: what it signs it accepts, and every forged token is an InvalidTokenError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from riso_test_support.forgery import HS_CASES, RS_CASES, Keys, claims, make_keys

from riso_auth._exceptions import AuthConfigError, InvalidTokenError
from riso_auth._settings import AuthSettings
from riso_auth._tokens import TokenService

SECRET = "s" * 40


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


@pytest.fixture
def hs_service() -> TokenService:
    return TokenService(AuthSettings(), SECRET)


@pytest.fixture
def rs_service(keys: Keys, tmp_path: Path) -> TokenService:
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    private.write_bytes(keys.rsa_private_pem)
    public.write_bytes(keys.rsa_public_pem)
    settings = AuthSettings(algorithms="RS256", private_key_file=private, public_key_file=public)
    return TokenService(settings, None)


@pytest.mark.parametrize("token_type", ["access", "refresh", "reset", "verify"])
def test_round_trip(hs_service: TokenService, token_type: Any) -> None:
    token, payload = hs_service.issue(token_type, "42", 60, {"sid": "abc"})
    decoded = hs_service.decode(token, token_type)
    assert decoded == payload
    assert set(decoded) >= {"exp", "iat", "iss", "aud", "jti", "sub", "typ"}


@pytest.mark.parametrize(
    ("source", "wanted"),
    [
        (a, b)
        for a in ("access", "refresh", "reset", "verify")
        for b in ("access", "refresh", "reset", "verify")
        if a != b
    ],
)
def test_every_type_swap_is_refused(hs_service: TokenService, source: Any, wanted: Any) -> None:
    token, _ = hs_service.issue(source, "42", 60)
    with pytest.raises(InvalidTokenError):
        hs_service.decode(token, wanted)


def test_rs256_round_trip(rs_service: TokenService) -> None:
    token, payload = rs_service.issue("access", "7", 60)
    assert rs_service.decode(token, "access") == payload


@pytest.mark.parametrize("case", sorted(HS_CASES))
def test_forged_hs256(hs_service: TokenService, keys: Keys, case: str) -> None:
    token = HS_CASES[case](hs_service, claims(hs_service), keys)
    with pytest.raises(InvalidTokenError):
        hs_service.decode(token, "access")


@pytest.mark.parametrize("case", sorted(RS_CASES))
def test_forged_rs256(rs_service: TokenService, keys: Keys, case: str) -> None:
    token = RS_CASES[case](rs_service, claims(rs_service), keys)
    with pytest.raises(InvalidTokenError):
        rs_service.decode(token, "access")


@pytest.mark.parametrize("value", [None, 5, b"abc", "", "a.b", "a.b.c.d"])
def test_non_tokens(hs_service: TokenService, value: object) -> None:
    with pytest.raises(InvalidTokenError):
        hs_service.decode(value, "access")


def test_mismatched_key_files(keys: Keys, tmp_path: Path) -> None:
    other = make_keys()
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    private.write_bytes(keys.rsa_private_pem)
    public.write_bytes(other.rsa_public_pem)
    settings = AuthSettings(algorithms="RS256", private_key_file=private, public_key_file=public)
    with pytest.raises(AuthConfigError, match="does not match"):
        TokenService(settings, None)


def test_ec_keys_for_rs256_refused(keys: Keys, tmp_path: Path) -> None:
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    private.write_bytes(keys.ec_private_pem)
    public.write_bytes(keys.ec_public_pem)
    settings = AuthSettings(algorithms="RS256", private_key_file=private, public_key_file=public)
    with pytest.raises(AuthConfigError, match="RSA"):
        TokenService(settings, None)


def test_es256_round_trip(keys: Keys, tmp_path: Path) -> None:
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    private.write_bytes(keys.ec_private_pem)
    public.write_bytes(keys.ec_public_pem)
    service = TokenService(
        AuthSettings(algorithms="ES256", private_key_file=private, public_key_file=public), None
    )
    token, payload = service.issue("access", "1", 60)
    assert service.decode(token, "access") == payload
