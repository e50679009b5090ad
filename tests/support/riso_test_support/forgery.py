"""Forged and malformed tokens, shared by the service-level and HTTP tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from riso_auth._tokens import TokenService


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def hs256(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    signing_input = f"{segment(header)}.{segment(payload)}"
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


@dataclass
class Keys:
    rsa_private_pem: bytes
    rsa_public_pem: bytes
    rsa_public_jwk: str
    ec_private_pem: bytes
    ec_public_pem: bytes


def make_keys() -> Keys:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    none = serialization.NoEncryption()
    return Keys(
        rsa_private_pem=rsa_key.private_bytes(pem, pkcs8, none),
        rsa_public_pem=rsa_key.public_key().public_bytes(pem, spki),
        rsa_public_jwk=json.dumps(
            jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
        ),
        ec_private_pem=ec_key.private_bytes(pem, pkcs8, none),
        ec_public_pem=ec_key.public_key().public_bytes(pem, spki),
    )


Forge = Callable[[TokenService, dict[str, Any], Keys], str]


def claims(service: TokenService, subject: str = "1", typ: str = "access") -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": service.settings.issuer,
        "aud": service.settings.audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "forged-" + str(now),
        "typ": typ,
    }


def _sign(
    service: TokenService, payload: dict[str, Any], headers: dict[str, Any] | None = None
) -> str:
    return service._jwt.encode(
        payload, service._signing_key, algorithm=service.algorithm, headers=headers
    )


def _without(name: str) -> Forge:
    def forge(s: TokenService, good: dict[str, Any], k: Keys) -> str:
        return _sign(s, {key: v for key, v in good.items() if key != name})

    return forge


def _with(**changes: Any) -> Forge:
    def forge(s: TokenService, good: dict[str, Any], k: Keys) -> str:
        return _sign(s, {**good, **changes})

    return forge


def _alg_none(alg: str) -> Forge:
    def forge(s: TokenService, good: dict[str, Any], k: Keys) -> str:
        return f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(good)}."

    return forge


def _tamper_payload(s: TokenService, good: dict[str, Any], k: Keys) -> str:
    header, _, sig = _sign(s, good).split(".")
    return f"{header}.{segment({**good, 'sub': '2'})}.{sig}"


def _tamper_signature(s: TokenService, good: dict[str, Any], k: Keys) -> str:
    token = _sign(s, good)
    head, sig = token.rsplit(".", 1)
    flipped = "A" if sig[5] != "A" else "B"
    return f"{head}.{sig[:5]}{flipped}{sig[6:]}"


#: name -> how to forge; every one must be refused. These assume an HS256 app.
HS_CASES: dict[str, Forge] = {
    "alg none": _alg_none("none"),
    "alg None": _alg_none("None"),
    "alg NONE": _alg_none("NONE"),
    "alg nOnE": _alg_none("nOnE"),
    "alg outside the list (HS512)": lambda s, g, k: jwt.encode(g, b"k" * 64, algorithm="HS512"),
    "alg outside the list (RS256 own key)": lambda s, g, k: jwt.encode(
        g, k.rsa_private_pem, algorithm="RS256"
    ),
    "tampered payload": _tamper_payload,
    "tampered signature": _tamper_signature,
    "signed with another secret": lambda s, g, k: jwt.encode(g, "x" * 40, algorithm="HS256"),
    "truncated": lambda s, g, k: _sign(s, g)[:-10],
    "no signature segment": lambda s, g, k: _sign(s, g).rsplit(".", 1)[0],
    "extra segment": lambda s, g, k: _sign(s, g) + ".AAAA",
    "oversized": lambda s, g, k: _sign(s, {**g, "pad": "x" * 20000}),
    "garbage": lambda s, g, k: "not-a-token",
    "empty": lambda s, g, k: "..",
    "non-json segments": lambda s, g, k: "e30.%%%%.AAAA",
    "payload not an object": lambda s, g, k: hs256({"alg": "HS256"}, [1, 2], s._signing_key),  # type: ignore[arg-type]
    "expired": _with(exp=int(time.time()) - 10),
    "missing exp": _without("exp"),
    "missing iat": _without("iat"),
    "missing jti": _without("jti"),
    "missing sub": _without("sub"),
    "missing typ": _without("typ"),
    "future nbf": _with(nbf=int(time.time()) + 3600),
    "future iat": _with(iat=int(time.time()) + 3600),
    "wrong aud": _with(aud="someone-else"),
    "aud list": lambda s, g, k: _sign(s, {**g, "aud": [g["aud"], "other"]}),
    "missing aud": _without("aud"),
    "wrong iss": _with(iss="https://evil.example"),
    "missing iss": _without("iss"),
    "exp not a number": _with(exp="tomorrow"),
    "sub not a string": _with(sub=1),
    "unknown crit": lambda s, g, k: _sign(s, g, headers={"crit": ["exp-ext"], "exp-ext": 1}),
    "crit not a list": lambda s, g, k: _sign(s, g, headers={"crit": "b64"}),
    "refresh used as access": _with(typ="refresh"),
    "reset used as access": _with(typ="reset"),
    "verify used as access": _with(typ="verify"),
    "unknown type": _with(typ="admin"),
}

#: forged tokens against an RS256 app
RS_CASES: dict[str, Forge] = {
    "HS256 signed with the RS256 public key (PEM)": lambda s, g, k: hs256(
        {"alg": "HS256", "typ": "JWT"}, g, k.rsa_public_pem
    ),
    "HS256 signed with the RS256 public key (PEM, stripped)": lambda s, g, k: hs256(
        {"alg": "HS256", "typ": "JWT"}, g, k.rsa_public_pem.strip()
    ),
    "HS256 signed with the RS256 public key (JWK)": lambda s, g, k: hs256(
        {"alg": "HS256", "typ": "JWT"}, g, k.rsa_public_jwk.encode()
    ),
    "alg none": _alg_none("none"),
    "alg NoNe": _alg_none("NoNe"),
    "ES256 own key": lambda s, g, k: jwt.encode(g, k.ec_private_pem, algorithm="ES256"),
    "RS256 another key": lambda s, g, k: jwt.encode(
        g,
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
    ),
    "tampered payload": _tamper_payload,
    "refresh used as access": _with(typ="refresh"),
}
