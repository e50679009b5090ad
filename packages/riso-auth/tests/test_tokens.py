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


# -- verified access tokens: PyJWT once per token text, the time checks every time ------------


def _counting(service: TokenService, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = service._jwt.decode

    def decode(token: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(token)
        return original(token, *args, **kwargs)

    monkeypatch.setattr(service._jwt, "decode", decode)
    return calls


def test_an_access_token_is_verified_by_pyjwt_once(
    hs_service: TokenService, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(hs_service, monkeypatch)
    token, payload = hs_service.issue("access", "42", 60, {"sid": "abc"})
    first = hs_service.decode(token, "access")
    first["sub"] = "changed by the caller"  # a caller's change does not reach the store
    assert hs_service.decode(token, "access") == payload
    assert calls == [token]
    # other types are verified every time (each is used once)
    reset, _ = hs_service.issue("reset", "42", 60)
    hs_service.decode(reset, "reset")
    hs_service.decode(reset, "reset")
    assert calls == [token, reset, reset]


@pytest.mark.parametrize("wanted", ["refresh", "reset", "verify"])
def test_a_verified_access_token_is_still_only_an_access_token(
    hs_service: TokenService, wanted: Any
) -> None:
    token, _ = hs_service.issue("access", "42", 60)
    hs_service.decode(token, "access")
    with pytest.raises(InvalidTokenError):
        hs_service.decode(token, wanted)


def test_a_verified_access_token_expires_on_time() -> None:
    import time

    service = TokenService(AuthSettings(leeway=0), SECRET)
    token, payload = service.issue("access", "42", 1)
    service.decode(token, "access")  # verified and kept
    time.sleep(max(0.0, payload["exp"] - time.time()) + 0.05)
    with pytest.raises(InvalidTokenError, match="Expired"):
        service.decode(token, "access")


def test_a_forged_token_never_enters_the_store(hs_service: TokenService) -> None:
    token, _ = hs_service.issue("access", "42", 60)
    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{signature[:-2]}AA"
    for _ in range(2):
        with pytest.raises(InvalidTokenError):
            hs_service.decode(forged, "access")
    assert forged not in hs_service._verified


def test_the_store_is_bounded(hs_service: TokenService, monkeypatch: pytest.MonkeyPatch) -> None:
    from riso_auth import _tokens

    monkeypatch.setattr(_tokens, "VERIFIED_MAX", 3)
    for n in range(10):
        token, _ = hs_service.issue("access", str(n), 60)
        hs_service.decode(token, "access")
        assert len(hs_service._verified) <= 3
